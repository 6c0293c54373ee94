"""The names of the files in a run folder, spelled once.

Layout of a run folder::

    RUN/
        config.yaml                    # the run config (method, train settings, method config)
        metrics.jsonl                  # one JSON record of logged scalars per logging step
        samples/step_000500.png        # sample grids
        tb/                            # TensorBoard events
        checkpoints/
            step_000500/
                generator.safetensors  # one file per model; the run config in its metadata
                state.pt               # optimizers, schedulers, RNGs, data position, config
            latest                     # {"checkpoint": "step_000500", "step": 500}
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = [
    "CONFIG_FILE",
    "METRICS_FILE",
    "SAMPLES_DIR",
    "TENSORBOARD_DIR",
    "CHECKPOINTS_DIR",
    "LATEST_FILE",
    "STATE_FILE",
    "WEIGHTS_SUFFIX",
    "CONFIG_METADATA_KEY",
    "checkpoint_name",
    "checkpoint_step",
    "sample_path",
]

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"
TENSORBOARD_DIR = "tb"
CHECKPOINTS_DIR = "checkpoints"
LATEST_FILE = "latest"
STATE_FILE = "state.pt"
WEIGHTS_SUFFIX = ".safetensors"
#: The metadata key under which every ``.safetensors`` file carries its run config (JSON).
CONFIG_METADATA_KEY = "imsynth_config"

_STEP_DIR = re.compile(r"^step_(\d+)$")


def checkpoint_name(step: int) -> str:
    """The folder name of the checkpoint at ``step``: ``step_000500``."""
    return f"step_{step:06d}"


def checkpoint_step(name: str) -> int | None:
    """The step of a checkpoint folder name (``step_000500`` -> 500); ``None`` for any other name."""
    match = _STEP_DIR.match(name)
    return int(match.group(1)) if match else None


def sample_path(run_dir: Path, step: int) -> Path:
    """Where the sample grid of ``step`` is written."""
    return Path(run_dir) / SAMPLES_DIR / f"{checkpoint_name(step)}.png"
