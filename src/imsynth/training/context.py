"""``TrainContext``: what a method needs from the trainer inside a training step.

The trainer owns the device, mixed precision (autocast dtype and, for float16, a loss scaler)
and gradient clipping; a method only says *what* to optimize::

    with ctx.autocast():
        loss = criterion(model(batch["input"]), batch["target"])
    ctx.optimize(loss, optimizer)  # zero grads, backward (scaled), unscale, clip, step

Methods with unusual needs can use the parts: :meth:`backward` then :meth:`step`.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from imsynth.training.speed import CompileSwitch, SwitchableCompiled

__all__ = ["TrainContext"]


class TrainContext:
    """Device, autocast and loss scaling shared by the trainer and the method it trains."""

    def __init__(
        self,
        device: torch.device,
        amp_dtype: torch.dtype | None = None,
        grad_clip: float | None = None,
        channels_last: bool = False,
        compile_mode: str | None = None,
    ) -> None:
        self.device = device
        self.amp_dtype = amp_dtype
        self.grad_clip = grad_clip
        self.channels_last = channels_last
        #: Shared by every module compiled for this run (None: nothing is compiled).
        self.compile_switch = CompileSwitch(compile_mode) if compile_mode is not None else None
        # Loss scaling is only needed for float16: bfloat16 has float32's exponent range.
        self.scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None

    @property
    def amp_enabled(self) -> bool:
        return self.amp_dtype is not None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Mixed-precision region for forward passes (a no-op when AMP is off)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def backward(self, loss: torch.Tensor) -> None:
        """Backpropagate ``loss`` (scaled first when float16 loss scaling is on)."""
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self, optimizer: Optimizer) -> None:
        """Unscale, clip (``grad_clip``) and apply the gradients held by ``optimizer``'s params."""
        if self.grad_clip is not None:
            if self.scaler is not None:
                self.scaler.unscale_(optimizer)
            params = [p for group in optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        if self.scaler is not None:
            self.scaler.step(optimizer)
        else:
            optimizer.step()

    def optimize(self, loss: torch.Tensor, optimizer: Optimizer) -> None:
        """One update: zero ``optimizer``'s gradients, backpropagate ``loss``, then :meth:`step`.

        Zeroing first discards gradients that other losses (e.g. a GAN's generator loss flowing
        into the discriminator) left on these parameters.
        """
        optimizer.zero_grad(set_to_none=True)
        self.backward(loss)
        self.step(optimizer)

    @property
    def compiling(self) -> bool:
        """True while this run's modules run compiled (not after a fallback to eager)."""
        return self.compile_switch is not None and self.compile_switch.enabled

    def compile(self, module: nn.Module) -> nn.Module:
        """``module`` through ``torch.compile`` when the run compiles, else ``module`` itself.

        The trainer compiles the method's models; a method compiles other modules of its step with
        this (e.g. CRN's loss network). Every such module falls back to eager together
        (:mod:`imsynth.training.speed`).
        """
        if self.compile_switch is None:
            return module
        return SwitchableCompiled(module, self.compile_switch)

    def to_device(self, batch: Any) -> Any:
        """Move tensors in nested dicts/lists/tuples to the device (4-D ones channels-last if set)."""
        if isinstance(batch, torch.Tensor):
            tensor = batch.to(self.device, non_blocking=True)
            if self.channels_last and tensor.dim() == 4 and tensor.is_floating_point():
                tensor = tensor.contiguous(memory_format=torch.channels_last)
            return tensor
        if isinstance(batch, dict):
            return {key: self.to_device(value) for key, value in batch.items()}
        if isinstance(batch, (list, tuple)):
            moved = [self.to_device(value) for value in batch]
            return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)
        return batch

    # ----------------------------------------------------------------- used by the trainer

    def end_iteration(self) -> None:
        """Adapt the loss scale once per training step, after all optimizers have stepped."""
        if self.scaler is not None:
            self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return {"scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
