"""The simulated stream as a camera source (``detector/data/sim/source.py``): the frames the edge's
camera loop gets from it, the window, resuming after a restart, and the ``sim://`` form."""

from __future__ import annotations

import pytest

from detector.data.sim.source import SimSource
from detector.data.sim.stream import TunnelStream
from detector.frames import Frame, SourceError

SIZE = (320, 180)


@pytest.fixture(scope="module")
def stream() -> TunnelStream:
    return TunnelStream(3, 60.0, fps=2.0, size=SIZE)


def _take(src: SimSource, dues: list[float | None]) -> list[Frame]:
    frames = []
    for due in dues:
        frame = src.next_sample(due)
        if frame is None:
            break
        frames.append(frame)
    return frames


def test_frames_are_the_streams_frames_on_its_grid_within_the_window(stream: TunnelStream) -> None:
    src = SimSource("c", stream, start_s=10.2, end_s=20.0, epoch0_s=1000.0)
    frames = _take(src, [None, None, 13.1, 19.4, 25.0])
    # 10.2 s rounds up to the 0.5 s grid; a due time between frames waits for the next one.
    assert [f.t_s for f in frames] == [10.5, 11.0, 13.5, 19.5]
    assert [f.wall_time for f in frames] == [1010.5, 1011.0, 1013.5, 1019.5]
    assert frames[2].image.tobytes() == stream.frame_at(13.5).tobytes()
    assert src.last_t_s == 19.5 and src.render_s > 0
    assert src.next_sample(None) is None and src.finished  # 20.0 is the window's end


def test_position_resumes_a_restarted_source_at_the_same_frame(stream: TunnelStream) -> None:
    first = SimSource("c", stream)
    first.start()
    _take(first, [0.0, 5.0, 9.9])
    pos = first.position()
    assert pos is not None
    again = SimSource("c", stream)
    again.start()
    assert again.seek(pos)
    a, b = first.next_sample(None), again.next_sample(None)
    assert a is not None and b is not None
    assert (a.t_s, a.wall_time, a.seq) == (b.t_s, b.wall_time, b.seq) == (10.5, pos["wall0"] + 10.5, 22)
    other = SimSource("c", TunnelStream(4, 60.0, fps=2.0, size=SIZE))
    assert not other.seek(pos)  # another seed: another stream


def test_sim_url_builds_the_stream_on_start() -> None:
    src = SimSource.from_url("north", "sim://5?minutes=0.5&fps=1&size=320x180&script=default")
    assert src.stream is None  # nothing rendered before the runner starts the cameras
    src.start()
    assert (src.stream.seed, src.stream.duration_s, src.stream.fps, src.stream.size) == (5, 30.0, 1.0, SIZE)
    assert len(_take(src, [None] * 40)) == 30 and src.finished


@pytest.mark.parametrize(("url", "match"), [
    ("sim://x", "camera north: expected sim://SEED"),
    ("sim://1?size=big", "camera north: expected sim://SEED"),
    ("sim://1?minutes=1&colour=red", "camera north: unknown sim:// option.s. colour"),
])
def test_bad_sim_urls_are_one_line_errors_naming_the_camera(url: str, match: str) -> None:
    with pytest.raises(SourceError, match=match):
        SimSource.from_url("north", url)
