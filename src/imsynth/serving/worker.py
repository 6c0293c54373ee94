"""The model's queue: one thread runs every model call, callers wait in arrival order.

At most ``max_waiting`` requests wait at once (one more gets 503 with ``Retry-After``). While a
request waits, its connection is watched: when the client has gone (closed the tab, timed out),
its queued work is dropped before it reaches the model, so abandoned requests never delay the
next one. A call already running on the model finishes (a forward pass cannot be interrupted);
its result is discarded.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from imsynth.inference.synthesizer import LayoutSynthesizer

try:
    from fastapi import HTTPException
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("the painter needs the 'serve' extra: pip install 'imsynth[serve]'") from exc

__all__ = ["ClientGone", "ModelWorker"]

POLL_SECONDS = 0.05
"""How often a waiting request checks whether its client is still connected."""


class ClientGone(Exception):
    """The client disconnected while its request waited; nothing is left to answer."""


class ModelWorker:
    """Runs every model call on one dedicated thread; callers wait their turn in arrival order."""

    def __init__(self, synthesizer: LayoutSynthesizer, max_waiting: int) -> None:
        self.synthesizer = synthesizer
        self.max_waiting = max_waiting
        self.dropped = 0
        """Queued calls dropped because their client disconnected."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imsynth-model")
        self._waiting = 0
        self._lock = threading.Lock()  # guards the counters: a test client may run several event loops

    @property
    def waiting(self) -> int:
        """Requests admitted and not yet answered (the one on the model included)."""
        return self._waiting

    async def synthesize(
        self,
        ids: np.ndarray,
        variants: int | None,
        is_disconnected: Callable[[], Awaitable[bool]] | None = None,
    ) -> np.ndarray:
        """The model's photographs for ``ids``; 503 when the queue is full, :class:`ClientGone` if dropped."""
        with self._lock:
            if self._waiting >= self.max_waiting:
                raise HTTPException(
                    503,
                    f"the model is busy ({self._waiting} requests waiting); retry shortly",
                    headers={"Retry-After": "2"},
                )
            self._waiting += 1
        try:
            future = self._executor.submit(self.synthesizer.synthesize, ids, variants)
            result = asyncio.wrap_future(future)
            while True:
                done, _ = await asyncio.wait({result}, timeout=POLL_SECONDS)
                if done:
                    return result.result()
                if is_disconnected is not None and await is_disconnected():
                    if future.cancel():  # still queued: it never reaches the model
                        with self._lock:
                            self.dropped += 1
                        raise ClientGone()
                    is_disconnected = None  # already on the model: let it finish, the caller discards it
        finally:
            with self._lock:
                self._waiting -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
