"""Synthetic CCTV views of pedestrian tunnels, clean or with graffiti (see ``render_scene``).

Reusable layers: ``geometry`` (tunnel + camera rays), ``wall`` (materials), ``paint``/``pieces``
(graffiti painters), ``negatives`` (posters, stains, murals...), ``fixtures`` (pipes, cables, tile
panels, plaster), ``bikes`` (parked bicycles), ``closeup`` (people close to the camera in lettered
clothes), ``infrared`` (the IR look), ``people`` (passers-by),
``lighting`` (lamps, daylight, IR, exposure), ``camera`` (noise, blur, JPEG), ``decal`` (perspective
placement), ``scene`` (composition) and ``dataset`` (ImageFolder + manifest writer).

Attributes are imported lazily so that importing the package (``graffiti data synth`` in ``data/cli.py``)
does not load numpy/OpenCV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detector.data.synth.paint import GRAFFITI_KINDS, paint_graffiti
    from detector.data.synth.scene import SynthScene, render_scene

__all__ = ["GRAFFITI_KINDS", "SynthScene", "paint_graffiti", "render_scene"]


def __getattr__(name: str) -> Any:
    if name in ("GRAFFITI_KINDS", "paint_graffiti"):
        from detector.data.synth import paint

        return getattr(paint, name)
    if name in ("SynthScene", "render_scene"):
        from detector.data.synth import scene

        return getattr(scene, name)
    raise AttributeError(name)
