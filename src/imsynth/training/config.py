"""``TrainConfig``: the settings every method shares, and the run config stored with a run.

A *run config* is the plain dict written to ``OUT_DIR/config.yaml`` and into every checkpoint::

    {"method": "pix2pix", "train": {...TrainConfig...}, "method_config": {...model/data/loss...}}

When a run is resumed, the saved run config must agree with the new one, except for the
*run-control* fields listed in :data:`RESUMABLE_TRAIN_FIELDS` (how long to train, where and how
often to log...), which only decide when and how the same trajectory is computed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from imsynth.utils.config import to_dict
from imsynth.utils.device import DEVICE_PATTERN

__all__ = [
    "TrainConfig",
    "Recipe",
    "ConfigMismatchError",
    "RESUMABLE_TRAIN_FIELDS",
    "make_run_config",
    "check_resume_compatible",
]

LRSchedule = Literal["constant", "linear_decay", "cosine"]


@dataclass
class TrainConfig:
    """How to train: length, optimizer, schedule, hardware, logging and checkpointing."""

    out_dir: Path = Path("runs/default")
    max_steps: int = 100_000
    max_minutes: float | None = None  # wall-clock budget of one invocation; None = unlimited
    batch_size: int = 1

    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # Adam/AdamW
    momentum: float = 0.9  # SGD
    weight_decay: float = 0.0
    grad_clip: float | None = None  # max global gradient norm per optimizer; None = no clipping
    lr_schedule: LRSchedule = "constant"
    decay_start_step: int = 0  # "linear_decay": constant until here, then linear to 0 at max_steps

    seed: int = 0
    deterministic: bool = False
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    # Speed (imsynth.training.speed): amp acts on CUDA only; channels_last and compile None ("auto") are
    # on with CUDA and off on the CPU; num_workers None follows the machine.
    amp: bool = True  # mixed precision (autocast) on CUDA; nothing on the CPU
    amp_dtype: Literal["auto", "bfloat16", "float16"] = "auto"  # auto: bfloat16 where supported
    channels_last: bool | None = None
    compile: bool | None = None  # torch.compile (same results, faster after warm-up); falls back to eager
    compile_mode: Literal["default", "reduce-overhead", "max-autotune"] = "default"
    num_workers: int | None = None
    dist_backend: Literal["auto", "nccl", "gloo"] = "auto"  # under torchrun: auto = nccl on GPUs, else gloo

    log_every: int = 50
    sample_every: int = 1000
    sample_count: int = 4  # rows in the sample grid
    checkpoint_every: int = 5000
    keep_last: int | None = 3  # periodic checkpoints to keep; None = keep all
    progress: bool = True
    tensorboard: bool = True

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.betas = tuple(self.betas)  # type: ignore[assignment]
        positive = ("max_steps", "batch_size", "log_every", "sample_every", "sample_count", "checkpoint_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be positive or None, got {self.max_minutes}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ValueError(f"optimizer must be 'adam', 'adamw' or 'sgd', got {self.optimizer!r}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"grad_clip must be positive or None, got {self.grad_clip}")
        if self.decay_start_step < 0:
            raise ValueError(f"decay_start_step must be >= 0, got {self.decay_start_step}")
        if self.num_workers is not None and self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")
        if self.keep_last is not None and self.keep_last < 1:
            raise ValueError(f"keep_last must be >= 1 or None (keep all), got {self.keep_last}")
        if self.dist_backend not in ("auto", "nccl", "gloo"):
            raise ValueError(f"dist_backend must be 'auto', 'nccl' or 'gloo', got {self.dist_backend!r}")
        if not DEVICE_PATTERN.match(self.device):
            raise ValueError(f"unknown device {self.device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'")


@dataclass(frozen=True)
class Recipe:
    """A method's settings for the optimizer and its schedule (:meth:`train_config` applies them), and
    the method-config fields a new run starts from.

    ``decay_start_fraction``: with ``lr_schedule="linear_decay"``, the share of ``max_steps`` trained at
    the full rate before the linear decay to 0 (pix2pix, Isola et al. Sec. 6.2: one half).
    ``method_config``: a layer of the method's config in the flat view of ``--config`` files
    (``{"model": {...}, "loss": {...}}``), applied under everything a user gives; fields it does not
    name keep their dataclass defaults, which stay the paper's so that older run configs (which lack
    newer fields) still mean what they meant.
    """

    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    lr_schedule: LRSchedule = "constant"
    decay_start_fraction: float = 0.0
    batch_size: int = 1
    method_config: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def train_config(self, **settings: Any) -> TrainConfig:
        """A :class:`TrainConfig` with this recipe's settings; ``settings`` (any TrainConfig field) win."""
        values: dict[str, Any] = {
            "lr": self.lr,
            "betas": self.betas,
            "weight_decay": self.weight_decay,
            "lr_schedule": self.lr_schedule,
            "batch_size": self.batch_size,
            **settings,
        }
        if values["lr_schedule"] == "linear_decay" and "decay_start_step" not in settings:
            values["decay_start_step"] = int(values.get("max_steps", TrainConfig.max_steps) * self.decay_start_fraction)
        return TrainConfig(**values)


#: TrainConfig fields that may differ between a run and its resumption.
RESUMABLE_TRAIN_FIELDS = frozenset(
    {
        "out_dir",
        "max_steps",
        "max_minutes",
        "device",
        "num_workers",
        "dist_backend",
        "compile",
        "compile_mode",
        "channels_last",
        "log_every",
        "sample_every",
        "sample_count",
        "checkpoint_every",
        "keep_last",
        "progress",
        "tensorboard",
    }
)


class ConfigMismatchError(ValueError):
    """A run is resumed with a configuration that would change what it computes.

    ``differences``: one line per differing setting (``train.lr: 0.1 (saved) != 0.2 (now)``).
    """

    def __init__(self, message: str, differences: list[str] | None = None) -> None:
        super().__init__(message)
        self.differences = differences or []


def make_run_config(method_name: str, train: TrainConfig, method_config: dict[str, Any]) -> dict[str, Any]:
    """The plain-dict run config stored in ``config.yaml`` and in checkpoints."""
    return _plain({"method": method_name, "train": to_dict(train), "method_config": method_config})


def check_resume_compatible(saved: dict[str, Any], current: dict[str, Any], run_dir: Path) -> None:
    """Raise :class:`ConfigMismatchError` listing every setting that differs from the saved run."""
    saved, current = _plain(saved), _plain(current)
    differences: list[str] = []
    if saved.get("method") != current.get("method"):
        differences.append(f"method: {saved.get('method')!r} (saved) != {current.get('method')!r} (now)")
    else:
        differences += _diff(saved.get("method_config"), current.get("method_config"), "method_config")
        # Settings added to TrainConfig after the run was saved take their defaults.
        saved_train = {**_plain(TrainConfig()), **(saved.get("train") or {})}
        saved_train = {k: v for k, v in saved_train.items() if k not in RESUMABLE_TRAIN_FIELDS}
        current_train = {k: v for k, v in current["train"].items() if k not in RESUMABLE_TRAIN_FIELDS}
        differences += _diff(saved_train, current_train, "train")
    if differences:
        listing = "\n  ".join(differences)
        raise ConfigMismatchError(
            f"cannot resume {run_dir}: the run was started with a different configuration:\n  {listing}\n"
            f"Restore those settings or train into a new out_dir. Only these train settings may "
            f"change on resume: {', '.join(sorted(RESUMABLE_TRAIN_FIELDS))}.",
            differences,
        )


def _diff(saved: Any, current: Any, where: str) -> list[str]:
    """Dotted paths (with both values) at which two plain configs differ."""
    if isinstance(saved, dict) and isinstance(current, dict):
        out = []
        for key in list(saved) + [k for k in current if k not in saved]:
            if key not in current:
                out.append(f"{where}.{key}: {saved[key]!r} (saved) is missing now")
            elif key not in saved:
                out.append(f"{where}.{key}: not in the saved run, now {current[key]!r}")
            else:
                out += _diff(saved[key], current[key], f"{where}.{key}")
        return out
    return [] if saved == current else [f"{where}: {saved!r} (saved) != {current!r} (now)"]


def _plain(value: Any) -> Any:
    """Normalize to JSON types (tuples -> lists, paths -> strings) so comparisons are fair."""
    return json.loads(json.dumps(to_dict(value)))
