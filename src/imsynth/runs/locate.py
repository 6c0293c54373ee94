"""Finding a run's parts from any one of them: one resolver for every direction.

Commands take ``--checkpoint`` as a run folder, its ``checkpoints/`` folder, one checkpoint folder,
a ``state.pt`` or a single ``.safetensors`` file (possibly copied out of its run); reports go back
from a checkpoint to its run folder for the config and the logged curves. :func:`locate` answers both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from imsynth.runs.files import CHECKPOINTS_DIR, CONFIG_FILE, LATEST_FILE, STATE_FILE, WEIGHTS_SUFFIX, checkpoint_step

__all__ = ["CheckpointError", "RunPaths", "locate", "find_latest", "complete_checkpoints"]

_RUN_DIR_SEARCH_DEPTH = 4  # a weights file sits at RUN/checkpoints/step_N/file: three folders up


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete or unreadable."""


@dataclass(frozen=True)
class RunPaths:
    """Where the parts of one run are, as far as they exist.

    ``run_dir`` holds ``config.yaml`` (``None`` for weights copied out of their run); ``checkpoint``
    is the checkpoint folder to read (a run's latest, or a folder of exported weights; ``None`` when
    there is none); ``weights`` are the ``.safetensors`` files to read, sorted.
    """

    given: Path
    run_dir: Path | None
    checkpoint: Path | None
    weights: tuple[Path, ...]

    @property
    def has_state(self) -> bool:
        """True when the checkpoint folder has its training state (a resumable checkpoint)."""
        return self.checkpoint is not None and (self.checkpoint / STATE_FILE).is_file()

    def require_weights(self) -> tuple[Path, ...]:
        """The weights files, or a :class:`CheckpointError` telling how to get some."""
        if not self.weights:
            raise CheckpointError(f"no checkpoint found in {self.given}: train first or pass --checkpoint")
        return self.weights


def locate(path: str | Path) -> RunPaths:
    """The run folder, checkpoint folder and weights files of any path inside a run (or a lone weights file)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_file():
        if path.name == STATE_FILE:
            checkpoint: Path | None = path.parent
        elif path.suffix == WEIGHTS_SUFFIX:
            return RunPaths(path, _run_dir_above(path), path.parent, (path,))
        else:
            raise CheckpointError(f"{path} is not a checkpoint: expected a folder or a {WEIGHTS_SUFFIX} file")
    else:
        checkpoint = _checkpoint_in(path)
    weights = tuple(sorted(checkpoint.glob(f"*{WEIGHTS_SUFFIX}"))) if checkpoint is not None else ()
    return RunPaths(path, _run_dir_above(path), checkpoint, weights)


def _checkpoint_in(folder: Path) -> Path | None:
    """A checkpoint folder itself, the latest one of a run or ``checkpoints/`` folder, or a weights folder."""
    if (folder / STATE_FILE).is_file():
        return folder
    for root in (folder, folder / CHECKPOINTS_DIR):
        latest = find_latest(root)
        if latest is not None:
            return latest
    if any(folder.glob(f"*{WEIGHTS_SUFFIX}")):  # a folder of exported weights
        return folder
    return None


def _run_dir_above(path: Path) -> Path | None:
    """The nearest folder at or above ``path`` that holds ``config.yaml`` (a few levels at most)."""
    path = path.resolve()
    for folder in [path, *path.parents][:_RUN_DIR_SEARCH_DEPTH]:
        if folder.is_dir() and (folder / CONFIG_FILE).is_file():
            return folder
    return None


def complete_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every complete checkpoint (one with its ``state.pt``) in ``root``."""
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        step = checkpoint_step(folder.name)
        if step is not None and folder.is_dir() and (folder / STATE_FILE).is_file():
            found.append((step, folder))
    return found


def find_latest(root: str | Path) -> Path | None:
    """The checkpoint folder ``root/latest`` names (or the newest complete one); ``None`` if none."""
    root = Path(root)
    pointer = root / LATEST_FILE
    if pointer.is_file():
        try:
            target = root / json.loads(pointer.read_text())["checkpoint"]
        except (ValueError, KeyError, TypeError) as error:
            raise CheckpointError(
                f"{pointer} is corrupt ({error}); delete it to use the newest complete checkpoint"
            ) from error
        if (target / STATE_FILE).is_file():
            return target
    complete = complete_checkpoints(root)
    return max(complete, key=lambda item: item[0])[1] if complete else None
