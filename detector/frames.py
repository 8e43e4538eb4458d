"""Frame sources: the contract between what produces frames and the edge camera loop that samples them.

The edge implements the sources a device needs (live cameras, video files, folders of images,
``detector/edge/sources.py``). Other kinds are handed to it rather than imported by it: whoever
assembles the program (the ``graffiti`` CLI) registers a factory per URL scheme with
``register_source_kind``, e.g. the simulated tunnel camera (``sim://``, ``detector/data/sim/source.py``),
and the edge's ``open_source`` asks this registry before its own kinds. So the edge runtime never
imports the simulator, and the simulator never imports the edge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from detector.errors import DetectorError

if TYPE_CHECKING:
    import numpy as np


class SourceError(DetectorError):
    """A camera source is unusable as configured (e.g. a video file that does not exist)."""


@dataclass
class Frame:
    image: np.ndarray  # uint8 BGR
    t_s: float  # the source's clock, seconds (monotonic for live cameras, media time for files)
    wall_time: float  # epoch seconds, for event timestamps
    seq: int  # increases with every frame the source produced
    label: str = ""  # file name or frame number, for logs


class Source:
    """A camera's frames. Two kinds, told apart by ``live``:

    - live sources (cameras, a watched folder) are sampled on the wall clock: the newest frame, so a
      slow model never works through a queue of stale frames;
    - clocked sources (a video file, a folder processed once, a simulated stream) are read on their own
      clock: ``next_sample(due_t_s)`` returns the first frame at or after ``due_t_s``, so ``--fast``
      reaches the same decisions as real time.
    """

    live = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.finished = False

    def start(self) -> None:
        """Begin reading (opens files, starts grab threads)."""

    def next_sample(self, due_t_s: float | None) -> Frame | None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device/file; safe to call twice."""

    def position(self) -> dict[str, Any] | None:
        """Where a clocked source has got to (JSON), for resuming after a restart; None: nothing to resume."""
        return None

    def seek(self, position: dict[str, Any]) -> bool:
        """Resume from ``position()`` of an earlier run (after ``start()``); False when it does not apply."""
        return False


SourceFactory = Callable[[str, str], Source]  # (camera name, the config's source string) → a source

SOURCE_KINDS: dict[str, SourceFactory] = {}  # URL scheme ('sim') → factory; see register_source_kind


def register_source_kind(scheme: str, factory: SourceFactory) -> None:
    """Let cameras whose source is ``SCHEME://...`` be opened by ``factory(camera name, source string)``."""
    SOURCE_KINDS[scheme] = factory


def registered_factory(spec: str) -> SourceFactory | None:
    """The registered factory for ``spec``'s URL scheme, or None."""
    scheme, sep, _ = spec.partition("://")
    return SOURCE_KINDS.get(scheme) if sep else None
