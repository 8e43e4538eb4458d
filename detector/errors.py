"""The project's exception types.

Every error a user can cause (bad config, bad dataset, bad model file) is a ``DetectorError``
subclass with a one-line, actionable message. The CLI prints such errors as a single line and
exits with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class DetectorError(Exception):
    """Base class for user-facing errors: the message alone must tell the user what to fix."""


class ConfigError(DetectorError):
    """A config file or value is wrong. The message names the key path, expected and found value."""


class DatasetError(DetectorError):
    """A dataset cannot be read: the message names the file (and line) and what was expected."""


class ModelContractError(DetectorError):
    """An ONNX model lacks the metadata contract or carries invalid values in it."""


class CheckpointError(DetectorError):
    """A training checkpoint or weights file is missing, corrupt or of the wrong kind."""


class MissingExtraError(DetectorError):
    """An optional dependency is missing; the message says which extra to install."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"this command needs the Python package '{module}', which is not installed; "
            f"install it with: pip install '.[{extra}]'"
        )
        self.module = module
        self.extra = extra


def require(module: str, extra: str) -> object:
    """Import an optional heavy module, or raise MissingExtraError naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == module.split(".")[0]:
            raise MissingExtraError(module, extra) from None
        raise
