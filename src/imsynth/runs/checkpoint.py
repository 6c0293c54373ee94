"""The checkpoint format: crash-safe folders of safetensors weights plus the training state.

A checkpoint is written into ``step_001000.tmp/`` (every file fsync'ed), renamed to
``step_001000/`` in one atomic step, and only then does ``latest`` (itself written atomically)
point at it. A crash at any moment leaves ``latest`` naming a complete checkpoint. The folder
layout is in :mod:`imsynth.runs.files`.

Each ``.safetensors`` file embeds the run config under the ``imsynth_config`` metadata key, so a
single ``generator.safetensors`` is enough to rebuild the model for inference
(:func:`read_model_config`).
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from imsynth.runs.files import CONFIG_METADATA_KEY, LATEST_FILE, STATE_FILE, WEIGHTS_SUFFIX, checkpoint_name
from imsynth.runs.locate import CheckpointError, complete_checkpoints, find_latest, locate
from imsynth.utils.io import fsync_dir, write_bytes, write_json

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "load_latest_complete",
    "find_latest",
    "read_model_config",
    "read_checkpoint_config",
    "prune_checkpoints",
    "load_weights_into",
]


@dataclass
class Checkpoint:
    """A loaded checkpoint. ``state`` is ``None`` for weights without a training state."""

    path: Path
    step: int
    config: dict[str, Any]
    weights: dict[str, dict[str, torch.Tensor]]
    state: dict[str, Any] | None


# --------------------------------------------------------------------------- writing


def save_checkpoint(
    root: str | Path,
    step: int,
    models: Mapping[str, nn.Module],
    state: Mapping[str, Any],
    config: Mapping[str, Any],
    keep_last: int | None = None,
) -> Path:
    """Atomically write checkpoint ``root/step_XXXXXX``, point ``latest`` at it, prune old ones.

    ``state`` holds the training state (optimizers, RNGs...) and must be ``torch.save``-able with
    ``weights_only`` loading (tensors, numbers, strings, lists, dicts). Returns the folder.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = checkpoint_name(step)
    final, temp = root / name, root / f"{name}.tmp"
    if temp.exists():  # left over from an interrupted save
        shutil.rmtree(temp)
    temp.mkdir()
    try:
        _write_files(temp, step, models, state, config)
    except BaseException:  # a full disk, say: the partial folder goes (it is never 'latest'), the error stays
        shutil.rmtree(temp, ignore_errors=True)
        raise

    _replace_dir(temp, final)
    fsync_dir(root)
    write_json(root / LATEST_FILE, {"checkpoint": name, "step": step})
    prune_checkpoints(root, keep_last)
    return final


def _write_files(
    folder: Path, step: int, models: Mapping[str, nn.Module], state: Mapping[str, Any], config: Mapping[str, Any]
) -> None:
    """Every file of a checkpoint into ``folder``, each written atomically, then the folder synced.

    The state is serialized in memory first, so a failing write (full disk) is one plain ``OSError``
    rather than an error inside torch's zip writer.
    """
    config_json = json.dumps(dict(config))
    for model_name, model in models.items():
        write_bytes(folder / f"{model_name}{WEIGHTS_SUFFIX}", _weights_bytes(model, config_json, model_name, step))
    buffer = io.BytesIO()
    torch.save({**state, "step": step, "config": dict(config), "models": list(models)}, buffer)
    write_bytes(folder / STATE_FILE, buffer.getvalue())
    fsync_dir(folder)


def _weights_bytes(model: nn.Module, config_json: str, model_name: str, step: int) -> bytes:
    """Serialize a model's state dict (copied to contiguous CPU tensors) with the run config."""
    tensors = {
        key: value.detach().to("cpu").clone(memory_format=torch.contiguous_format)
        for key, value in model.state_dict().items()
    }
    metadata = {
        CONFIG_METADATA_KEY: config_json,
        "imsynth_model": model_name,
        "imsynth_step": str(step),
        "format": "pt",
    }
    return safetensors_bytes(tensors, metadata=metadata)


def _replace_dir(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``; an existing ``target`` (same step saved again) is swapped out."""
    if not target.exists():
        os.rename(source, target)
        return
    old = target.with_name(f"{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    os.rename(target, old)
    os.rename(source, target)
    shutil.rmtree(old)


def prune_checkpoints(root: str | Path, keep_last: int | None) -> list[Path]:
    """Delete all but the ``keep_last`` newest checkpoints (never the ``latest`` one) and stale temps."""
    root = Path(root)
    removed = []
    for stale in list(root.glob("step_*.tmp")) + list(root.glob("step_*.old")):
        shutil.rmtree(stale, ignore_errors=True)
        removed.append(stale)
    if keep_last is None:
        return removed
    newest_first = sorted(complete_checkpoints(root), key=lambda item: item[0], reverse=True)
    latest = find_latest(root)
    for _, folder in newest_first[keep_last:]:
        if latest is None or folder.resolve() != latest.resolve():
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


# --------------------------------------------------------------------------- reading


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint from a run folder (its latest), a checkpoint folder or a ``.safetensors`` file."""
    found = locate(path)
    if found.given.is_file() and found.given.suffix == WEIGHTS_SUFFIX:
        file = found.given
        name = _read_metadata(file).get("imsynth_model") or file.stem  # survives renaming the file
        weights = {name: _load_weights(file, map_location)}
        return Checkpoint(file, _metadata_step(file), read_model_config(file), weights, None)
    if found.has_state:
        assert found.checkpoint is not None
        return _load_training_checkpoint(found.checkpoint, map_location)
    files = found.require_weights()  # weights only, e.g. an exported model folder
    weights = {f.stem: _load_weights(f, map_location) for f in files}
    return Checkpoint(files[0].parent, _metadata_step(files[0]), read_model_config(files[0]), weights, None)


def _load_training_checkpoint(folder: Path, map_location: str | torch.device) -> Checkpoint:
    state_path = folder / STATE_FILE
    try:
        state = torch.load(state_path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for truncated/corrupt pickles
        raise CheckpointError(f"{state_path} is corrupt or truncated ({_load_failure(error)}){_OLDER_HINT}") from error
    if not isinstance(state, dict) or not {"step", "config", "models"} <= set(state):
        raise CheckpointError(f"{state_path} is not an imsynth training state")
    weights = {}
    for name in state["models"]:
        file = folder / f"{name}{WEIGHTS_SUFFIX}"
        if not file.is_file():
            raise CheckpointError(f"checkpoint {folder} is incomplete: {file.name} is missing")
        weights[name] = _load_weights(file, map_location)
    return Checkpoint(folder, int(state["step"]), state["config"], weights, state)


_OLDER_HINT = "; delete this checkpoint folder to use an older one (--resume does so by itself)"


def _load_failure(error: BaseException) -> str:
    """Why ``torch.load`` failed, in one sentence and without torch's advice to load unsafely."""
    text = str(error)
    if "WeightsUnpickler error:" in text:  # a pickle holding more than tensors and plain data
        detail = text.split("WeightsUnpickler error:", 1)[1].strip().split(". ")[0]
        return f"it holds objects a training state never holds: {detail}"
    first = text.strip().split(". ")[0].splitlines()[0] if text.strip() else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def load_latest_complete(
    root: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[Checkpoint | None, list[str]]:
    """The newest checkpoint under ``root`` that loads, and one note per newer one that did not.

    Tries the one ``latest`` names, then the others newest first: a truncated or corrupt latest
    checkpoint (a crash while copying, a bad disk) falls back to the previous complete one.
    ``(None, [])`` when there is no checkpoint; :class:`CheckpointError` listing every failure when
    none loads.
    """
    root = Path(root)
    try:
        latest = find_latest(root)
    except CheckpointError:  # a corrupt 'latest' pointer: the folders themselves decide
        latest = None
    newest_first = [folder for _, folder in sorted(complete_checkpoints(root), key=lambda item: -item[0])]
    candidates = ([latest] if latest is not None else []) + [f for f in newest_first if f != latest]
    failures = []
    for folder in candidates:
        try:
            checkpoint = _load_training_checkpoint(folder, map_location)
        except CheckpointError as error:
            failures.append(f"{folder.name} is unusable ({str(error).removesuffix(_OLDER_HINT)})")
            continue
        return checkpoint, [f"{failure}; resumed from {folder.name} instead" for failure in failures]
    if failures:
        listing = "\n  ".join(failures)
        raise CheckpointError(f"no complete checkpoint in {root} can be loaded:\n  {listing}")
    return None, []


def _load_weights(file: Path, map_location: str | torch.device) -> dict[str, torch.Tensor]:
    try:
        return load_file(file, device=str(map_location))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{file} is corrupt or not a safetensors file: {error}") from error


def _read_metadata(file: Path) -> dict[str, str]:
    if not file.is_file():
        raise CheckpointError(f"weights file not found: {file}")
    try:
        with safe_open(file, framework="pt") as handle:
            return handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{file} is corrupt or not a safetensors file: {error}") from error


def read_model_config(path: str | Path) -> dict[str, Any]:
    """The run config embedded in a ``.safetensors`` file's metadata (tensors are not read)."""
    path = Path(path)
    metadata = _read_metadata(path)
    if CONFIG_METADATA_KEY not in metadata:
        raise CheckpointError(
            f"{path} has no embedded imsynth config (metadata key {CONFIG_METADATA_KEY!r}); was it written by imsynth?"
        )
    try:
        config: dict[str, Any] = json.loads(metadata[CONFIG_METADATA_KEY])
    except ValueError as error:
        raise CheckpointError(f"{path}: embedded config is not valid JSON: {error}") from error
    return config


def read_checkpoint_config(path: str | Path) -> dict[str, Any]:
    """The run config of a run folder, checkpoint folder or ``.safetensors`` file, without loading tensors."""
    found = locate(path)
    if found.checkpoint is not None and not found.weights:
        raise CheckpointError(f"no weights (*{WEIGHTS_SUFFIX}) in checkpoint {found.checkpoint}")
    return read_model_config(found.require_weights()[0])


def _metadata_step(file: Path) -> int:
    try:
        return int(_read_metadata(file).get("imsynth_step", 0))
    except ValueError:
        return 0


def load_weights_into(models: Mapping[str, nn.Module], checkpoint: Checkpoint) -> None:
    """Copy the checkpoint's weights into ``models`` (names and shapes must match exactly)."""
    missing = sorted(set(models) - set(checkpoint.weights))
    if missing:
        raise CheckpointError(
            f"checkpoint {checkpoint.path} has no weights for model(s) {missing}; "
            f"it contains {sorted(checkpoint.weights)}"
        )
    for name, model in models.items():
        try:
            model.load_state_dict(checkpoint.weights[name])
        except RuntimeError as error:
            raise CheckpointError(f"weights for {name!r} in {checkpoint.path} do not fit the model: {error}") from error
