"""What imsynth says on the terminal: informational lines and progress bars, both silenced by ``--quiet``.

One switch for the whole process, set once by the command line (``imsynth --quiet ...``) or by a
library user (:func:`set_quiet`); errors and the one-line results of commands are not affected.
Every command that loops over work shows its progress with :func:`progress`, so ``--quiet`` silences
all of them at once::

    for path in progress(paths, desc="synthesizing", unit="image"):
        ...
    say(f"wrote {count} images")  # an informational line (not shown with --quiet)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

__all__ = ["set_quiet", "is_quiet", "say", "progress", "QUIET_ENV_VAR"]

T = TypeVar("T")

#: Also read at start-up, so processes launched by a quiet command (torchrun workers) stay quiet.
QUIET_ENV_VAR = "IMSYNTH_QUIET"

_quiet = os.environ.get(QUIET_ENV_VAR, "") not in ("", "0")


def set_quiet(quiet: bool = True) -> None:
    """Silence (or restore) informational lines and progress bars for this process and its children."""
    global _quiet
    _quiet = quiet
    if quiet:
        os.environ[QUIET_ENV_VAR] = "1"
    else:
        os.environ.pop(QUIET_ENV_VAR, None)


def is_quiet() -> bool:
    return _quiet


def say(message: str) -> None:
    """Print an informational line (stdout, flushed) unless quiet."""
    if not _quiet:
        print(message, flush=True)


def progress(
    iterable: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    unit: str = "it",
    enabled: bool = True,
    **options: Any,
) -> Any:
    """A tqdm progress bar on stderr over ``iterable`` (or driven by ``.update(n)``); silent when quiet.

    The bar also stays away when ``enabled`` is false. It is always a ``tqdm`` object (a disabled one
    when silent), so callers use one code path: iterate it, ``update`` it, ``set_postfix`` it.
    """
    from tqdm.auto import tqdm

    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        disable=_quiet or not enabled,
        dynamic_ncols=True,
        file=sys.stderr,
        **options,
    )
