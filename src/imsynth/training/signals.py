"""Stop signals: SIGTERM and SIGUSR1 end training cleanly at the next step boundary.

Schedulers send them before they stop a job: Kubernetes and most batch systems send SIGTERM (then
SIGKILL after a grace period); SLURM sends the signal chosen with ``--signal`` (``USR1`` by
convention) some time before the time limit. While :class:`StopSignals` is active, such a signal
only sets :attr:`StopSignals.received`; the trainer then finishes the step it is in, writes a
checkpoint exactly like a periodic one (so the resumed run continues bitwise as if never stopped)
and returns normally, and the process exits with status 0.

Handlers can only be installed from the main thread; elsewhere (a trainer run in a worker thread)
the signals keep their previous behaviour.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

__all__ = ["StopSignals", "STOP_SIGNALS"]

#: The signals that stop training with a checkpoint.
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGUSR1") if hasattr(signal, name)
)


class StopSignals:
    """Context manager: while active, :data:`STOP_SIGNALS` set :attr:`received` (a signal name)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.received: str | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(signum).name

    def __enter__(self) -> StopSignals:
        if self.enabled:
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
