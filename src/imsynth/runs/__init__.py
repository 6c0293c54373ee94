"""Runs and checkpoints: the run folder's file names, the checkpoint format, finding a run's parts
from any one of them, and reading a run's config. Below training, inference and serving: all of them
read runs, none needs the others to do so."""

from imsynth.runs.checkpoint import (
    Checkpoint,
    load_checkpoint,
    load_latest_complete,
    load_weights_into,
    prune_checkpoints,
    read_checkpoint_config,
    read_model_config,
    save_checkpoint,
)
from imsynth.runs.config import NotARunError, load_method_checkpoint, read_run_config
from imsynth.runs.locate import CheckpointError, RunPaths, find_latest, locate
from imsynth.runs.restore import check_label_space, restore_model

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "NotARunError",
    "RunPaths",
    "check_label_space",
    "find_latest",
    "load_checkpoint",
    "load_latest_complete",
    "load_method_checkpoint",
    "load_weights_into",
    "locate",
    "prune_checkpoints",
    "read_checkpoint_config",
    "read_model_config",
    "read_run_config",
    "restore_model",
    "save_checkpoint",
]
