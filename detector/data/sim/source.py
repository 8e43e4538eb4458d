"""A simulated tunnel stream as a camera source (``detector.frames.Source``): the one wrapper of it.

The edge runner opens it for a ``sim://SEED?minutes=M&fps=F&script=S&size=WxH`` camera (the
``graffiti`` CLI registers ``SimSource.from_url`` for the ``sim`` scheme, so the edge never imports the
simulator); the demo, the benchmarks and the tests hand an already built stream (whose timeline they
need for the ground truth) straight to the edge's camera loop, from any start time, e.g. 08:00 of a
simulated day.

A clocked source: ``next_sample(due_t_s)`` renders only the frame that is due, on the stream's frame
grid, so a day sampled every few seconds costs thousands of renders, not millions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from detector.frames import Frame, Source, SourceError

URL_FORM = "sim://SEED?minutes=M&fps=F&script=S&size=WxH"


class SimSource(Source):
    """Frames of a simulated stream from ``start_s`` to ``end_s`` (default: its end) on its own clock.

    ``stream`` is anything with ``fps``, ``duration_s`` and ``frame_at(t_s)`` (``TunnelStream``,
    ``PhotoWallStream``); or ``build``, a function that builds one on ``start()``. Event times are
    ``epoch0_s + t_s``; ``epoch0_s`` None: the wall clock when the source starts (the first sample,
    if nobody called ``start()``).
    """

    def __init__(self, name: str, stream: Any = None, start_s: float = 0.0, end_s: float | None = None,
                 epoch0_s: float | None = None, *, build: Callable[[], Any] | None = None,
                 seed: int | None = None) -> None:
        super().__init__(name)
        if (stream is None) == (build is None):
            raise TypeError("SimSource: give a stream or a function that builds one (build=), not both")
        self.stream: Any = stream
        self._build = build
        self.seed = seed if seed is not None else getattr(stream, "seed", None)
        self.start_s = float(start_s)
        self._end_s = end_s
        self.end_s = math.inf  # set from the stream once there is one
        self._epoch0_s = epoch0_s
        self._wall0 = 0.0 if epoch0_s is None else float(epoch0_s)
        self._k: int | None = None  # index of the next frame on the stream's frame grid
        self._started = False
        self.render_s = 0.0  # time spent rendering frames (to tell it apart from the edge's own work)
        self.last_t_s = self.start_s  # stream time of the frame handed out last (the one being processed)
        if stream is not None:
            self._attach()

    @classmethod
    def from_url(cls, name: str, url: str) -> SimSource:
        """``sim://SEED?minutes=M&fps=F&script=S&size=WxH`` (defaults: seed 0, 10 minutes, 10 fps); the
        stream is built on ``start()``. A malformed URL is a one-line SourceError naming the camera."""
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        kwargs: dict[str, Any] = {}
        try:
            seed = int(parts.netloc or parts.path.strip("/") or 0)
            duration_s = float(query.pop("minutes", "10")) * 60.0
            fps = float(query.pop("fps", "10"))
            if "script" in query:
                kwargs["script"] = query.pop("script")
            if "size" in query:
                w, h = query.pop("size").lower().split("x")
                kwargs["size"] = (int(w), int(h))
        except ValueError:
            raise SourceError(f"camera {name}: expected {URL_FORM}, found {url!r}") from None
        if query:
            raise SourceError(f"camera {name}: unknown sim:// option(s) {', '.join(sorted(query))} "
                              "(expected minutes, fps, script, size)")

        def build() -> Any:
            from detector.data.sim.stream import TunnelStream

            return TunnelStream(seed, duration_s, fps=fps, **kwargs)

        return cls(name, build=build, seed=seed)

    def _attach(self) -> None:
        fps = float(self.stream.fps)
        end = float(self.stream.duration_s)
        self.end_s = end if self._end_s is None else min(float(self._end_s), end)
        if self._k is None:
            self._k = math.ceil(self.start_s * fps - 1e-6)

    def start(self) -> None:
        self._started = True
        if self.stream is None and self._build is not None:
            try:
                self.stream = self._build()
            except ImportError as exc:
                raise SourceError(f"camera {self.name}: the simulated tunnel camera needs {exc.name}, which is "
                                  "not installed") from None
            self._attach()
        if self._epoch0_s is None:
            self._wall0 = time.time()

    def next_sample(self, due_t_s: float | None) -> Frame | None:
        import numpy as np

        if not self._started:
            self.start()
        fps = float(self.stream.fps)
        assert self._k is not None
        if due_t_s is not None:
            self._k = max(self._k, math.ceil(due_t_s * fps - 1e-6))
        t = self._k / fps
        if t >= self.end_s:
            self.finished = True
            return None
        t0 = time.perf_counter()
        img = self.stream.frame_at(t)
        self.render_s += time.perf_counter() - t0
        self._k += 1
        self.last_t_s = t
        return Frame(np.ascontiguousarray(img), t, self._wall0 + t, self._k, f"t={t:.1f}s")

    def position(self) -> dict[str, Any] | None:
        return {"kind": "sim", "seed": self.seed, "k": self._k, "wall0": self._wall0}

    def seek(self, position: dict[str, Any]) -> bool:
        if position.get("kind") != "sim" or position.get("seed") != self.seed:
            return False
        self._k = int(position.get("k", 0))
        self._wall0 = float(position.get("wall0", self._wall0))
        return True
