"""The model contract: everything needed to use an exported model rides in its ONNX metadata.

The ONNX graph takes ``input`` (float32, N×3×H×W, preprocessed by :mod:`detector.preprocess`) and
returns ``score`` (float32, N): the probability that the image shows graffiti. ``metadata_props``
holds the keys below, each a string (JSON for structured values). The edge runner reads them and
keeps no copy of these constants; a model without them is refused.

Reading from an ONNX file is :func:`detector.onnxmodel.read_meta` (onnxruntime only, as the edge reads
it); writing uses the ``onnx`` package (training/export).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detector.errors import ModelContractError

if TYPE_CHECKING:
    from detector.preprocess import PreprocessSpec

CONTRACT_VERSION = "1"
CONTRACT_KEY = "graffiti.contract"
INPUT_NAME = "input"
OUTPUT_NAME = "score"
LABELS = ("clean", "graffiti")


@dataclass(frozen=True)
class ModelMeta:
    """The contract carried in an ONNX model's metadata_props."""

    name: str
    version: str
    arch: str
    input_size: tuple[int, int]  # (height, width) in pixels
    mean: tuple[float, float, float]  # per channel, in channel_order, for pixels scaled to [0, 1]
    std: tuple[float, float, float]
    threshold: float  # score at/above which a tile counts as graffiti
    clean_threshold: float  # score below which an open detection may close as cleaned
    channel_order: str = "RGB"
    resize: str = "area"  # cv2 interpolation used to bring an image/tile to input_size
    labels: tuple[str, ...] = LABELS
    output: str = "sigmoid probability of 'graffiti'"
    quantization: str = "none"  # "none" or "int8-static"
    training_data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    git_rev: str = "unknown"
    created_utc: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. guard overrides, threshold policy

    def preprocess_spec(self) -> PreprocessSpec:
        from detector.preprocess import PreprocessSpec

        return PreprocessSpec(
            input_size=self.input_size,
            mean=self.mean,
            std=self.std,
            channel_order=self.channel_order,
            resize=self.resize,
        )

    def to_props(self) -> dict[str, str]:
        """Encode as ONNX metadata_props (string → string)."""
        props = {CONTRACT_KEY: CONTRACT_VERSION}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            props[f"graffiti.{f.name}"] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        return props

    @classmethod
    def from_props(cls, props: dict[str, str], source: str = "model") -> ModelMeta:
        """Decode metadata_props; a missing or malformed key raises ModelContractError naming it."""
        if props.get(CONTRACT_KEY) is None:
            raise ModelContractError(
                f"{source}: ONNX model has no graffiti metadata contract (key '{CONTRACT_KEY}'); "
                "export it with 'graffiti export' so it carries input size, normalisation and thresholds"
            )
        if props[CONTRACT_KEY] != CONTRACT_VERSION:
            raise ModelContractError(
                f"{source}: metadata contract version {props[CONTRACT_KEY]!r} is not supported "
                f"(expected {CONTRACT_VERSION!r})"
            )
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            key = f"graffiti.{f.name}"
            raw = props.get(key)
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if raw is None:
                if required:
                    raise ModelContractError(f"{source}: metadata key '{key}' is missing")
                continue
            if f.type in ("str", str):
                kwargs[f.name] = raw
                continue
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                raise ModelContractError(f"{source}: metadata key '{key}' is not valid JSON: {raw[:60]!r}") from None
            kwargs[f.name] = tuple(value) if isinstance(value, list) else value
        meta = cls(**kwargs)
        meta._check(source)
        return meta

    def _check(self, source: str) -> None:
        def bad(key: str, expected: str, found: Any) -> ModelContractError:
            return ModelContractError(f"{source}: metadata key 'graffiti.{key}': expected {expected}, found {found!r}")

        if len(self.input_size) != 2 or not all(isinstance(v, int) and 8 <= v <= 4096 for v in self.input_size):
            raise bad("input_size", "[height, width] of integers in 8..4096", self.input_size)
        for key in ("mean", "std"):
            vals = getattr(self, key)
            if len(vals) != 3 or not all(isinstance(v, int | float) for v in vals):
                raise bad(key, "3 numbers", vals)
        if any(v <= 0 for v in self.std):
            raise bad("std", "3 positive numbers", self.std)
        if self.channel_order not in ("RGB", "BGR"):
            raise bad("channel_order", "'RGB' or 'BGR'", self.channel_order)
        if self.resize not in ("area", "linear", "cubic", "nearest"):
            raise bad("resize", "one of area, linear, cubic, nearest", self.resize)
        for key in ("threshold", "clean_threshold"):
            v = getattr(self, key)
            if not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
                raise bad(key, "a number in [0, 1]", v)
        if self.clean_threshold > self.threshold:
            raise bad("clean_threshold", f"a number <= threshold ({self.threshold})", self.clean_threshold)
        if tuple(self.labels) != LABELS:
            raise bad("labels", str(list(LABELS)), self.labels)


def write_meta(model: Any, meta: ModelMeta) -> None:
    """Store the contract in an ``onnx.ModelProto``'s metadata_props (replacing earlier graffiti.* keys)."""
    props = meta.to_props()
    keep = [p for p in model.metadata_props if not p.key.startswith("graffiti.")]
    del model.metadata_props[:]
    for p in keep:
        model.metadata_props.add(key=p.key, value=p.value)
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, hex; identifies the exact model in events and model cards."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
