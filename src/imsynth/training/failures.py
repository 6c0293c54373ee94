"""Why a run stops before its end, and what the trainer then tells: what happened, what is kept, what to do.

A diverged loss (:class:`TrainingDivergedError`) saves nothing of the diverged state; a run folder that
cannot be written (:class:`RunWriteError`: full disk, read-only, no permission) loses nothing either,
since every checkpoint is written atomically (:mod:`imsynth.runs.checkpoint`): the last complete one
stays ``latest``, and ``--resume`` continues from it.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from pathlib import Path

import torch

from imsynth.runs import find_latest
from imsynth.runs.files import checkpoint_step
from imsynth.utils.io import describe_os_error

__all__ = [
    "WRITE_ERRNOS",
    "RunExistsError",
    "RunWriteError",
    "TrainingDivergedError",
    "divergence_message",
    "write_failure_message",
]

WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO})
"""``OSError`` numbers that mean the run folder cannot be written (full disk, read-only, ...)."""


class TrainingDivergedError(RuntimeError):
    """A reported loss became NaN or infinite; nothing was saved from the diverged state."""


class RunExistsError(RuntimeError):
    """A fresh run was started in an ``out_dir`` that already holds checkpoints."""


class RunWriteError(RuntimeError):
    """The run folder could not be written (full disk...); the message names the last complete checkpoint."""


def divergence_message(
    checkpoint_dir: Path, step: int, name: str, value: float, optimizers: Mapping[str, torch.optim.Optimizer]
) -> str:
    """Which scalar diverged at which step, which checkpoint is still good, what to try."""
    latest = find_latest(checkpoint_dir)
    kept = f"the last good checkpoint {latest} is still 'latest'" if latest else "no checkpoint had been written yet"
    lrs = ", ".join(f"{n}={opt.param_groups[0]['lr']:.3g}" for n, opt in optimizers.items())
    return (
        f"training diverged at step {step + 1}: {name!r} is {value}. Nothing was saved "
        f"from this state; {kept}. Try a lower learning rate (now {lrs}), set grad_clip, "
        "or check the data for NaN/inf values."
    )


def write_failure_message(error: OSError, out_dir: Path, checkpoint_dir: Path, step: int, method: str) -> str:
    """What failed, that nothing is lost, which checkpoint is the last complete one, how to resume."""
    latest = find_latest(checkpoint_dir)
    where = f" ({error.filename})" if error.filename else ""
    if latest is None:
        kept = "No checkpoint had been written yet; free some space (or fix the folder) and start the run again"
    else:
        kept = (
            f"Nothing is lost: the last complete checkpoint is {latest} (step {checkpoint_step(latest.name)}). Free "
            f"some space (or fix the folder), then resume: imsynth train {method} --resume {out_dir}"
        )
    return f"{describe_os_error(error)} while writing the run folder {out_dir}{where} at step {step}. {kept}."
