"""One camera's thread loop: read the source at the sampling interval, pace a recording in real time,
notice when the camera goes quiet and when it comes back, and hand each frame on.

A live camera is sampled every ``interval_s`` of the monotonic clock; a clocked source (a file, a
folder, a simulated stream) is asked for its frame ``interval_s`` after the previous one, as fast as
it can be read, or at the recording's own pace in real-time mode. A live camera that sends nothing
for ``offline_after_s`` is reported offline once (and online again with its first frame); a gap of
more than ``offline_after_s`` in a recording gives the same pair, at the recording's times. A frame
whose processing fails, or a source that raises, is logged and skipped: nothing a camera does stops
the other cameras or the runner.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from detector.edge.emitter import EventEmitter
from detector.edge.sources import Frame, Source

log = logging.getLogger("detector.edge.camera")


class CameraLoop:
    """Runs ``on_frame`` for each sampled frame until ``stop`` is set or the source has finished, then
    ``on_finish`` and closes the source; camera offline/online events go to ``events``."""

    def __init__(self, name: str, source: Source, interval_s: float, offline_after_s: float, realtime: bool,
                 stop: threading.Event, events: EventEmitter, on_frame: Callable[[Frame], None],
                 on_finish: Callable[[], None] | None = None, retry_s: float = 5.0) -> None:
        self.name = name
        self.source = source
        self.interval_s = interval_s
        self.offline_after_s = offline_after_s
        self.realtime = realtime
        self.stop = stop
        self.events = events
        self.on_frame = on_frame
        self.on_finish = on_finish
        self.retry_s = retry_s  # pause after the source raised
        self.offline = False
        self.last_frame_mono: float | None = None  # monotonic time the latest frame arrived
        self.first_t_s: float | None = None  # the first frame's source time in this run
        self.last_t_s: float | None = None  # the latest frame's source time and wall time (kept across a restart)
        self.last_wall: float | None = None
        self.started_mono = time.monotonic()
        self._pace: tuple[float, float] | None = None

    def frame_age_s(self) -> float | None:
        """Seconds since the latest frame arrived (None before the first)."""
        return None if self.last_frame_mono is None else time.monotonic() - self.last_frame_mono

    def run(self) -> None:
        interval = self.interval_s
        due: float | None = None
        next_tick = time.monotonic()
        try:
            while not self.stop.is_set():
                if self.source.live:
                    wait = next_tick - time.monotonic()
                    if wait > 0 and self.stop.wait(wait):
                        break
                    next_tick = time.monotonic() + interval
                try:
                    frame = self.source.next_sample(due)
                except Exception:  # a source bug must not end the camera: log, pause, try again
                    log.exception("camera %s: reading the source failed; retrying in %g s", self.name, self.retry_s)
                    if self.stop.wait(self.retry_s):
                        break
                    continue
                if frame is None:
                    if self.source.finished:
                        break
                    self.check_offline_live()
                    if not self.source.live:
                        self.stop.wait(0.2)
                    continue
                if self.realtime and not self.source.live and self._pace_wait(frame):
                    break
                self.take(frame)
                due = frame.t_s + interval
        finally:
            if self.on_finish is not None:
                self.on_finish()
            try:
                self.source.close()
            except Exception as exc:  # closing must never block shutdown
                log.warning("camera %s: closing source failed: %s", self.name, exc)

    def _pace_wait(self, frame: Frame) -> bool:
        """Real-time playback of a clocked source: sleep until the frame's time; True if stopped."""
        now = time.monotonic()
        if self._pace is None:
            self._pace = (frame.t_s, now)
        delay = (frame.t_s - self._pace[0]) - (now - self._pace[1])
        return delay > 0 and self.stop.wait(delay)

    def check_offline_live(self) -> None:
        """A live camera without frames for ``offline_after_s``: offline, reported once."""
        if not self.source.live or self.offline:
            return
        ref = self.last_frame_mono if self.last_frame_mono is not None else self.started_mono
        silent_s = time.monotonic() - ref
        if silent_s >= self.offline_after_s:
            self.offline = True
            log.warning("camera %s: offline (no frames for %.0f s)", self.name, silent_s)
            self.events.offline_live(silent_s)

    def take(self, frame: Frame) -> None:
        """One sampled frame: the offline/online bookkeeping, then ``on_frame`` (its failure is logged)."""
        if self.source.live:
            if self.offline:
                offline_s = time.monotonic() - (self.last_frame_mono or self.started_mono)
                self._back_online(frame, offline_s)
        elif self.last_t_s is not None and frame.t_s - self.last_t_s > self.offline_after_s:
            # A gap in a recording/folder: the same offline/online pair a live run would have sent.
            gap = frame.t_s - self.last_t_s
            self.events.offline_gap((self.last_wall or frame.wall_time) + self.offline_after_s, self.last_t_s)
            self.offline = True
            self._back_online(frame, gap)
        self.last_frame_mono = time.monotonic()
        if self.first_t_s is None:
            self.first_t_s = frame.t_s
        self.last_t_s, self.last_wall = frame.t_s, frame.wall_time
        try:
            self.on_frame(frame)
        except Exception:  # a bad frame or a bug must not take the camera down
            log.exception("camera %s: frame %s failed and was skipped", self.name, frame.label)

    def _back_online(self, frame: Frame, offline_s: float) -> None:
        self.offline = False
        log.info("camera %s: online again after %.0f s", self.name, offline_s)
        self.events.online(frame, offline_s)
