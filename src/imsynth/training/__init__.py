"""The shared training machinery: one trainer, one method interface, crash-safe checkpoints.

A method implements :class:`TrainingMethod` (or :class:`SingleOptimizerMethod`); the
:class:`Trainer` does seeding, devices, mixed precision, data streaming, LR schedules, logging,
checkpointing and exact resume. See :mod:`imsynth.training.method` for a worked example.
"""

from imsynth.runs import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    load_weights_into,
    read_model_config,
    save_checkpoint,
)
from imsynth.training.config import ConfigMismatchError, TrainConfig
from imsynth.training.context import TrainContext
from imsynth.training.method import SingleOptimizerMethod, StepOutput, TrainingMethod
from imsynth.training.optim import make_optimizer, make_scheduler
from imsynth.training.trainer import RunExistsError, RunWriteError, Trainer, TrainingDivergedError, TrainResult

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "ConfigMismatchError",
    "RunExistsError",
    "RunWriteError",
    "SingleOptimizerMethod",
    "StepOutput",
    "TrainConfig",
    "TrainContext",
    "TrainResult",
    "Trainer",
    "TrainingDivergedError",
    "TrainingMethod",
    "load_checkpoint",
    "load_weights_into",
    "make_optimizer",
    "make_scheduler",
    "read_model_config",
    "save_checkpoint",
]
