"""Ctrl-C and SIGTERM during training: finish the current step, save, say how to resume.

While data is prepared (decoding, caching features) a signal stops at once (KeyboardInterrupt) —
there is nothing to save yet, and the feature cache makes the next start cheap. Once the epochs
run, the first signal only sets a flag: the loop ends the current step, writes ``last.pt`` with
its position inside the epoch, writes ``summary.json`` (``stopped: interrupted``) and prints the
resume command. A second Ctrl-C stops at once, as a user pressing it twice expects.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_CODE = 130  # the shell's code for "ended by Ctrl-C"


class StopOnSignal:
    """Installs SIGINT/SIGTERM handlers for the duration of a run (main thread only; else inert)."""

    def __init__(self) -> None:
        self.requested = False
        self.signal_name = ""
        self.deferred = False  # False: raise KeyboardInterrupt at once; True: set the flag only
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignal:
        global _ACTIVE
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        _ACTIVE = self
        return self

    def __exit__(self, *exc: object) -> None:
        global _ACTIVE
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        _ACTIVE = None

    def defer(self) -> None:
        """From now on a signal asks the loop to stop after the current step."""
        self.deferred = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = not self.requested
        self.requested = True
        self.signal_name = self.signal_name or signal.Signals(signum).name
        if not self.deferred or not first:
            raise KeyboardInterrupt


class _Never:
    requested = False
    signal_name = ""

    def defer(self) -> None:
        pass


_ACTIVE: StopOnSignal | None = None


def active() -> StopOnSignal | _Never:
    """The handler of the run in progress (a never-stopping stand-in outside ``StopOnSignal``)."""
    return _ACTIVE if _ACTIVE is not None else _Never()


def resume_hint(run_dir: Path) -> str:
    return f"graffiti train --resume {run_dir}"
