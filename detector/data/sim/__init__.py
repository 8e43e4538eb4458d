"""A simulated fixed tunnel camera: ``TunnelStream`` (frames on demand + ground-truth ``Timeline``),
``graffiti sim video`` (encode to a video file). Built on the layers of ``detector.data.synth``.

Attributes are imported lazily so the CLI can import ``detector.data.sim.cli`` with typer only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detector.data.sim.script import Incident, LightStretch, Passerby, Timeline
    from detector.data.sim.stream import TunnelStream

__all__ = ["Incident", "LightStretch", "Passerby", "Timeline", "TunnelStream"]


def __getattr__(name: str) -> Any:
    if name == "TunnelStream":
        from detector.data.sim.stream import TunnelStream

        return TunnelStream
    if name in ("Incident", "LightStretch", "Passerby", "Timeline"):
        from detector.data.sim import script

        return getattr(script, name)
    raise AttributeError(name)
