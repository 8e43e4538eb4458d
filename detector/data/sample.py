"""One in-memory representation of a labelled image, whatever format it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# The label names belong to the model contract; index = integer label used everywhere (0 clean, 1 graffiti).
from detector.modelmeta import LABELS

CLEAN = 0
GRAFFITI = 1


@dataclass(frozen=True)
class Region:
    """An annotated area of an image: what was drawn/marked there and its label.

    ``xyxy`` is in pixels of the original image. ``kind`` is free text from the source
    (synthetic: 'tag', 'throwup', 'piece', 'etch', 'sticker', 'poster', 'stain', 'crack', 'person',
    'mural', ...; facades-spb: 'signboard', 'win_ad', ...). ``label`` is 1 where it is graffiti.
    """

    kind: str
    xyxy: tuple[float, float, float, float]
    label: int


@dataclass(frozen=True)
class Sample:
    """A labelled image. ``group`` ties together images that must stay on one side of a split
    (augmented copies of one photo, frames of one camera). ``source`` names the dataset it came from.
    ``kind`` is the sample-level sub-kind when known (e.g. 'tags', 'mural', 'tunnel-clean')."""

    path: Path
    label: int
    group: str
    source: str
    split: str | None = None  # 'train' | 'val' | 'test' | None (not yet split)
    kind: str | None = None
    regions: tuple[Region, ...] = field(default_factory=tuple)

    @property
    def label_name(self) -> str:
        return LABELS[self.label]
