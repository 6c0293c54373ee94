"""A run's config, read without the trainer or the command line.

The run config is the plain dict that every run writes to ``RUN/config.yaml`` and embeds in each
checkpoint (``{"method", "train", "method_config"}``, see :func:`imsynth.training.config.make_run_config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml

from imsynth.runs.checkpoint import Checkpoint, load_checkpoint
from imsynth.runs.files import CONFIG_FILE
from imsynth.runs.locate import CheckpointError
from imsynth.utils.config import from_dict

__all__ = ["NotARunError", "read_run_config", "load_method_checkpoint"]

ConfigT = TypeVar("ConfigT")


class NotARunError(CheckpointError):
    """A folder that should be a run folder has no ``config.yaml``."""


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """The run config saved in ``run_dir/config.yaml`` (the one a resumed run continues with)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise NotARunError(f"{run_dir} is not a run folder (no {CONFIG_FILE}); start a run with --out")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise CheckpointError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(config, dict) or "method" not in config:
        raise CheckpointError(f"{path} is not an imsynth run config (no 'method')")
    return config


def load_method_checkpoint(
    path: str | Path, method: str, config_class: type[ConfigT], hint: str = ""
) -> tuple[Checkpoint, ConfigT]:
    """A checkpoint that must hold a ``method`` model, with its method config rebuilt as ``config_class``.

    Another method's checkpoint is refused with a :class:`CheckpointError` naming both (plus ``hint``).
    """
    loaded = load_checkpoint(path)
    if loaded.config.get("method") != method:
        raise CheckpointError(f"{path} holds a {loaded.config.get('method')!r} model, not a {method} model{hint}")
    try:
        return loaded, from_dict(config_class, loaded.config["method_config"])
    except (ValueError, KeyError, TypeError) as error:  # ConfigError is a ValueError
        raise CheckpointError(
            f"{path}: the embedded run config is invalid ({error}); the file was edited or written by an "
            "incompatible version of imsynth"
        ) from None
