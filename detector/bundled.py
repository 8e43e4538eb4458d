"""Where the bundled model is found, from any working directory.

The repository ships ``models/graffiti-effnetlite0.onnx`` (and its int8 copy). A command run from the
repository root finds it at ``./models/``; run anywhere else it is looked for beside the package (a
clone or an editable install: ``<repo>/models/``) and where a wheel install puts it
(``<prefix>/share/graffiti/models/``, the ``data-files`` of ``pyproject.toml``). When it is in none of
them the error lists every place looked at. Standard library only: the edge imports this.
"""

from __future__ import annotations

import sys
from pathlib import Path

from detector.errors import ConfigError

BUNDLED_MODEL = Path("models/graffiti-effnetlite0.onnx")


def model_dirs() -> list[Path]:
    """The folders searched for a bundled model, in order."""
    dirs = [
        Path.cwd() / "models",
        Path(__file__).resolve().parents[1] / "models",  # a clone / editable install: <repo>/models
        Path(sys.prefix) / "share" / "graffiti" / "models",  # a wheel install (data-files)
    ]
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def find_bundled_model(name: str = BUNDLED_MODEL.name, *, what: str = "model") -> Path:
    """The first ``<dir>/name`` of ``model_dirs()`` that is a file; else a ConfigError listing them."""
    tried = [d / name for d in model_dirs()]
    for path in tried:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in tried)
    raise ConfigError(f"{what}: the bundled model {name} was not found (looked in: {looked}); "
                      "give the path of an exported model")


def model_or_bundled(path: Path | None, *, what: str = "--model") -> Path:
    """``path`` when given (a missing file is the caller's error to report); else the bundled model.

    ``path`` equal to the default relative name (``models/graffiti-effnetlite0.onnx``) and missing in
    the working directory also means the bundled model, so an old default written out still works.
    """
    if path is None:
        return find_bundled_model(what=what)
    if Path(path) == BUNDLED_MODEL and not Path(path).is_file():
        return find_bundled_model(what=what)
    return Path(path)
