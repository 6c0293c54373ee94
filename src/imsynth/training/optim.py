"""Optimizers and learning-rate schedules built from a :class:`TrainConfig`.

Schedules are multiplicative factors on the base learning rate, indexed by the number of
completed training steps (the trainer calls ``scheduler.step()`` once per step):

* ``"constant"``: 1.
* ``"linear_decay"``: 1 until ``decay_start_step``, then linearly down to 0 at ``max_steps``
  (the pix2pix/CRN recipe).
* ``"cosine"``: half a cosine from 1 at step 0 to 0 at ``max_steps``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from imsynth.training.config import TrainConfig

__all__ = ["make_optimizer", "lr_factor", "make_scheduler"]


def make_optimizer(params: Iterable[nn.Parameter] | nn.Module, config: TrainConfig) -> Optimizer:
    """Adam or AdamW (lr, betas, weight decay) or SGD (lr, momentum, weight decay) as configured."""
    if isinstance(params, nn.Module):
        params = params.parameters()
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("make_optimizer: no trainable parameters")
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    kind = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    # On CUDA the fused implementation updates every parameter in one kernel launch (foreach elsewhere).
    fused = all(p.is_cuda and p.is_floating_point() for p in params) or None
    return kind(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay, fused=fused)


def lr_factor(step: int, config: TrainConfig) -> float:
    """The factor applied to the base learning rate after ``step`` completed steps."""
    if config.lr_schedule == "constant":
        return 1.0
    if config.lr_schedule == "linear_decay":
        if step < config.decay_start_step:
            return 1.0
        span = max(config.max_steps - config.decay_start_step, 1)
        return max(0.0, 1.0 - (step - config.decay_start_step) / span)
    if config.lr_schedule == "cosine":
        progress = min(step / config.max_steps, 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown lr_schedule {config.lr_schedule!r}")


def make_scheduler(optimizer: Optimizer, config: TrainConfig) -> LRScheduler:
    """A ``LambdaLR`` following :func:`lr_factor` (its state dict holds only the step count)."""
    return LambdaLR(optimizer, lambda step: lr_factor(step, config))
