"""One entry point for every dataset: ``load_dataset("PATH[::key=value,...]") -> list[Sample]``.

The format is detected from what is on disk, so the user can point the CLI or a training mix at
a folder without saying what it is; ``::format=...`` overrides the guess when it is wrong.
Formats: ``manifest`` (our CSV, also the review-service export), ``roboflow`` (multi-class CSV
export), ``imagefolder`` (``<root>/<class>/*.jpg``), ``folder`` (one label for every image, given
by ``label=``; YOLO boxes in ``labels/`` become regions).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from detector.data.manifest import read_manifest, write_manifest
from detector.data.names import SPLIT_NAMES, absolute, is_image, parse_label
from detector.data.sample import Sample
from detector.errors import DatasetError

__all__ = [
    "FORMATS", "DatasetSpec", "detect_format", "load_dataset", "parse_dataset_spec", "read_manifest",
    "write_manifest",
]

FORMATS = ("imagefolder", "manifest", "roboflow", "folder")
SPEC_KEYS = ("format", "label", "weight", "name", "classes", "groups", "exclude")
MANIFEST_NAMES = ("manifest.csv",)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset reference as written on the command line or in a training mix.

    ``weight`` is the sampling weight in a training mix; ``name`` becomes the samples' ``source``
    (default: the dataset folder's name). ``classes`` maps ImageFolder folders or Roboflow columns
    to labels (``a:graffiti;b:clean`` or a JSON file); ``groups`` names a ``path,group`` CSV;
    ``exclude`` names a text file of images to leave out (one file name or path per line).
    """

    path: Path
    format: str | None = None
    label: str | None = None
    weight: float = 1.0
    name: str | None = None
    classes: str | None = None
    groups: str | None = None
    exclude: str | None = None

    def __str__(self) -> str:
        opts = [f"{k}={getattr(self, k)}" for k in SPEC_KEYS
                if getattr(self, k) is not None and not (k == "weight" and self.weight == 1.0)]
        return f"{self.path}::{','.join(opts)}" if opts else str(self.path)

    @property
    def source_name(self) -> str:
        """The name samples carry as ``source``: ``name=`` or the dataset folder's name."""
        if self.name:
            return self.name
        p = absolute(self.path)
        if p.is_file():
            p = p.parent
        if p.name.lower() in SPLIT_NAMES and (p / "_classes.csv").is_file():
            p = p.parent  # a Roboflow split folder: name the dataset, not "train"
        return p.name or "dataset"


def parse_dataset_spec(text: str) -> DatasetSpec:
    """``PATH[::key=value,key=value]`` → DatasetSpec; unknown keys and bad values are DatasetErrors."""
    path_text, sep, opts = text.partition("::")
    if not path_text.strip():
        raise DatasetError(f"dataset spec {text!r}: the path before '::' is empty")
    values: dict[str, str] = {}
    if sep:
        for item in opts.split(","):
            if not item.strip():
                continue
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq:
                raise DatasetError(f"dataset spec {text!r}: option {item!r} must look like key=value")
            if key not in SPEC_KEYS:
                raise DatasetError(f"dataset spec {text!r}: unknown key {key!r}; expected one of {', '.join(SPEC_KEYS)}")
            values[key] = value.strip()
    weight = 1.0
    if "weight" in values:
        try:
            weight = float(values["weight"])
        except ValueError:
            weight = -1.0
        if not weight > 0 or weight != weight or weight == float("inf"):
            raise DatasetError(f"dataset spec {text!r}: weight must be a positive number, found {values['weight']!r}")
    spec = DatasetSpec(path=Path(path_text.strip()), format=values.get("format"), label=values.get("label"),
                       weight=weight, name=values.get("name"), classes=values.get("classes"),
                       groups=values.get("groups"), exclude=values.get("exclude"))
    _check_spec(spec, f"dataset spec {text!r}")
    return spec


def _check_spec(spec: DatasetSpec, where: str) -> None:
    if spec.format is not None and spec.format not in FORMATS:
        raise DatasetError(f"{where}: unknown format {spec.format!r}; expected one of {', '.join(FORMATS)}")
    if spec.label is not None and parse_label(spec.label) is None:
        raise DatasetError(f"{where}: label must be graffiti or clean (or 1/0), found {spec.label!r}")


def _has_images(folder: Path) -> bool:
    return any(p.is_file() and is_image(p) for p in folder.iterdir())


def detect_format(path: Path, *, label: str | None = None) -> str:
    """Guess the format of ``path`` from its contents (see module docstring); DatasetError if unsure."""
    from detector.data.readers import ROBOFLOW_CSV, roboflow_split_dirs

    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise DatasetError(f"{path}: a dataset file must be a manifest .csv; give a folder for images")
        if path.name == ROBOFLOW_CSV:
            return "roboflow"
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            first = fh.readline().split(",")[0].strip().lower()
        return "roboflow" if first == "filename" else "manifest"
    if roboflow_split_dirs(path):
        return "roboflow"
    if any((path / name).is_file() for name in MANIFEST_NAMES):
        return "manifest"
    if label is not None:
        return "folder"
    subdirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if (path / "images").is_dir() or (_has_images(path) and not subdirs):
        raise DatasetError(
            f"{path}: a plain folder of images has no labels; say which with --label clean|graffiti "
            "(or ::label=clean in a dataset spec)"
        )
    if subdirs:
        return "imagefolder"
    if not any(p for p in path.iterdir() if not p.name.startswith(".")):
        raise DatasetError(f"{path}: the folder is empty; expected images, class folders, a manifest.csv "
                           "or a Roboflow export")
    raise DatasetError(f"{path}: no images, class folders, manifest.csv or Roboflow _classes.csv here; "
                       f"give ::format={'|'.join(FORMATS)} if the layout is one of those")


def load_dataset(spec: str | Path | DatasetSpec, *, label: str | None = None,
                 fmt: str | None = None) -> list[Sample]:
    """Read any supported dataset into samples (absolute paths, deterministic order).

    ``label``/``fmt`` override the spec's ``label=``/``format=`` keys (they come from CLI flags).
    Images are not decoded here; ``graffiti data inspect`` decodes every file and reports the bad ones.
    """

    if isinstance(spec, DatasetSpec):
        ds = spec
    elif isinstance(spec, Path):
        ds = DatasetSpec(path=spec)
    else:
        ds = parse_dataset_spec(spec)
    samples = _load(ds, label=label, fmt=fmt)
    if ds.exclude:
        samples = _apply_exclude(samples, Path(ds.exclude))
    return samples


def _apply_exclude(samples: list[Sample], list_path: Path) -> list[Sample]:
    """Drop the images named in ``list_path`` (file names or path suffixes; '#' starts a comment).

    How a known-bad image (e.g. a "clean" facade that shows a tag) leaves a training mix without
    editing the dataset itself. A name that matches nothing is an error: the list is out of date.
    """
    from detector.data.names import read_text

    names = []
    for n, line in enumerate(read_text(list_path, "exclude list").splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if entry:
            names.append((n, Path(entry).as_posix()))
    kept = []
    used: set[str] = set()
    for s in samples:
        posix = Path(s.path).as_posix()
        hit = next((e for _, e in names if posix == e or posix.endswith("/" + e)), None)
        if hit is None:
            kept.append(s)
        else:
            used.add(hit)
    for n, entry in names:
        if entry not in used:
            raise DatasetError(f"{list_path}:{n}: {entry!r} matches no image of the dataset")
    return kept


def _load(ds: DatasetSpec, *, label: str | None, fmt: str | None) -> list[Sample]:
    from detector.data import readers

    ds = replace(ds, label=label if label is not None else ds.label, format=fmt if fmt is not None else ds.format)
    _check_spec(ds, f"dataset {ds.path}")
    path = ds.path
    kind = ds.format or detect_format(path, label=ds.label)
    source = ds.source_name
    classes = readers.parse_class_mapping(ds.classes, f"dataset {path}") if ds.classes else None
    groups = readers.read_group_file(Path(ds.groups)) if ds.groups else None
    if path.is_file() and kind not in ("manifest", "roboflow"):
        raise DatasetError(f"{path}: format {kind} needs a folder, not a file")
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if kind != "folder" and ds.label is not None:
        raise DatasetError(f"dataset {path}: label={ds.label} only applies to a plain folder (format folder), not {kind}")

    if kind == "manifest":
        if path.is_dir():
            found = [path / n for n in MANIFEST_NAMES if (path / n).is_file()]
            if not found:
                raise DatasetError(f"{path}: no manifest.csv in this folder")
            path = found[0]
        samples = read_manifest(path, source=ds.name or absolute(path.parent).name)
        # ::name= names the whole dataset: it wins over the manifest's own source column, so two
        # manifests written by one tool (both 'synth') can be mixed.
        return [replace(s, source=ds.name) for s in samples] if ds.name else samples
    if kind == "roboflow":
        return readers.read_roboflow(path.parent if path.is_file() else path, source=source, classes=classes)
    if kind == "imagefolder":
        return readers.read_imagefolder(path, source=source, classes=classes, groups=groups)
    if ds.label is None:
        raise DatasetError(f"{path}: format folder needs a label: --label clean|graffiti or ::label=clean")
    return readers.read_folder(path, label=int(parse_label(ds.label) or 0), source=source, groups=groups)
