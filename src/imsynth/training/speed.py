"""Fast by default on a GPU: the settings that ``None`` ("auto") stands for, and compilation with a fallback.

:class:`~imsynth.training.config.TrainConfig` leaves ``channels_last``, ``compile`` and ``num_workers``
at ``None`` unless they are given, and ``amp`` on (it acts on CUDA only);
:func:`resolve_speed_settings` turns them into what runs, from the device and the number of
processes:

========================  =====================================  ==========================
setting                   CUDA                                    CPU
========================  =====================================  ==========================
``amp``                   on: bfloat16 autocast (float16 with     off (autocast would only
                          loss scaling where bf16 is missing)     slow the CPU down)
``channels_last``         on (cuDNN's tensor-core layout)         off
``compile``               on for one process (``torch.compile``   off (minutes of C++
                          with the fallback below); off under     compilation for little)
                          DDP unless asked for
``num_workers``           ``min(8, cores per process - 1)``       ``min(4, cores per
                                                                  process) - 1``
========================  =====================================  ==========================

cuDNN's benchmark mode (autotuned convolution algorithms) is on whenever ``deterministic`` is
off (:func:`imsynth.utils.seeding.configure_determinism`). Given values always win.

**Compilation that cannot stop a run.** ``torch.compile`` compiles lazily, at the first call, and
can fail there (no C compiler, an unsupported operation, a Triton problem). :class:`CompileSwitch`
is shared by every module compiled for one trainer (:meth:`TrainContext.compile`); the trainer runs
the first :data:`GUARDED_STEPS` steps through :func:`run_guarded` (:class:`GuardedSteps`), which snapshots the training
state first and, when the compiled step raises, switches compilation off, restores the snapshot
and runs the same step eagerly -- one line says so, and the run goes on as an eager run would.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import torch
from torch import nn

if TYPE_CHECKING:
    from imsynth.training.config import TrainConfig
    from imsynth.training.context import TrainContext
    from imsynth.training.method import StepOutput, TrainingMethod

__all__ = [
    "GUARDED_STEPS",
    "available_cores",
    "default_num_workers",
    "resolve_speed_settings",
    "CompileSwitch",
    "SwitchableCompiled",
    "run_guarded",
    "GuardedSteps",
]

#: Steps run with a snapshot to fall back to: every compiled graph of the methods here (forward,
#: backward, a GAN discriminator with frozen parameters) is built during the first step.
GUARDED_STEPS = 2

T = TypeVar("T")


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_num_workers(device_type: str, processes: int = 1, cores: int | None = None) -> int:
    """Data-loading worker processes per training process, following the machine.

    On a GPU the step is fast and decoding is the bottleneck: ``min(8, cores per process - 1)``
    (one core stays with the training process), at least 1. On a CPU the workers take cores from
    the training itself: ``min(4, cores per process) - 1``.
    """
    per_process = max(1, (available_cores() if cores is None else cores) // max(1, processes))
    if device_type == "cuda":
        return max(1, min(8, per_process - 1))
    return max(0, min(4, per_process) - 1)


def resolve_speed_settings(config: TrainConfig, device: torch.device, processes: int = 1) -> TrainConfig:
    """``config`` with ``channels_last``, ``compile`` and ``num_workers`` concrete (module table)."""
    cuda = device.type == "cuda"
    return dataclasses.replace(
        config,
        channels_last=cuda if config.channels_last is None else config.channels_last,
        compile=(cuda and processes == 1) if config.compile is None else config.compile,
        num_workers=(default_num_workers(device.type, processes) if config.num_workers is None else config.num_workers),
    )


class CompileSwitch:
    """On/off for every module compiled for one trainer; off for good after a failure."""

    def __init__(self, mode: str = "default") -> None:
        self.mode = mode
        self.enabled = True
        self.failure: str | None = None

    def disable(self, error: BaseException) -> str:
        """Switch compilation off because of ``error``; returns the one-line reason."""
        self.enabled = False
        first_line = (str(error).strip().splitlines() or [""])[0][:160]
        self.failure = f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__
        return self.failure


class SwitchableCompiled(nn.Module):
    """``module`` compiled with ``torch.compile`` while ``switch`` is on, ``module`` itself after.

    Both share the same parameters; ``state_dict`` keys gain the prefix ``module.``, as with
    ``torch.compile``'s own wrapper (``_orig_mod.``) -- checkpoints are written from the plain
    networks (:meth:`TrainingMethod.models`).
    """

    def __init__(self, module: nn.Module, switch: CompileSwitch) -> None:
        super().__init__()
        self.module = module
        self.switch = switch
        compiled: Callable[..., Any] = module
        if switch.enabled:
            try:
                compiled = torch.compile(module, mode=switch.mode)
            except Exception as error:  # e.g. a Python or platform that torch.compile does not support
                print(f"imsynth: torch.compile is unavailable ({switch.disable(error)}); running eagerly", flush=True)
        object.__setattr__(self, "_compiled", compiled)  # not a submodule: the same parameters again

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.switch.enabled:
            return self._compiled(*args, **kwargs)
        return self.module(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        """Other attributes are the module's (as with ``torch.compile``'s wrapper): ``model.config``..."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "module":
                raise
            return getattr(self.module, name)


def run_guarded(
    step: Callable[[], T],
    switch: CompileSwitch,
    modules: list[nn.Module],
    optimizers: list[torch.optim.Optimizer],
    extra_state: tuple[Callable[[], Any], Callable[[Any], None]],
) -> tuple[T, str | None]:
    """``step()``; if it raises while compilation is on, the same step eagerly from the state before.

    ``modules`` and ``optimizers`` are snapshot (state dicts, deep copies) with the random streams
    and ``extra_state`` (a getter and a setter, e.g. the loss scaler and the method's own state).
    Returns ``step()``'s result and the failure's one-line reason (``None`` when compiled code ran).
    An error of the eager retry is raised as it is: then it was never compilation's fault.
    """
    from imsynth.utils.seeding import get_rng_state, set_rng_state

    get_extra, set_extra = extra_state
    snapshot = (
        [copy.deepcopy(m.state_dict()) for m in modules],
        [copy.deepcopy(o.state_dict()) for o in optimizers],
        get_rng_state(),
        copy.deepcopy(get_extra()),
    )
    try:
        return step(), None
    except Exception as error:
        reason = switch.disable(error)
    weights, optimizer_states, rng, extra = snapshot
    for module, state in zip(modules, weights, strict=True):
        module.load_state_dict(state)
    for optimizer, state in zip(optimizers, optimizer_states, strict=True):
        optimizer.load_state_dict(state)
    for optimizer in optimizers:
        optimizer.zero_grad(set_to_none=True)
    set_rng_state(rng)
    set_extra(extra)
    return step(), reason


class GuardedSteps:
    """A compiled run's training steps: the first :data:`GUARDED_STEPS` through :func:`run_guarded`.

    For one process only: under DDP a rank that retried a step would leave its collectives out of
    step with the others. ``say`` gets the one line when compilation fails and the step is rerun.
    """

    def __init__(
        self,
        method: TrainingMethod[Any],
        context: TrainContext,
        models: list[nn.Module],
        optimizers: list[torch.optim.Optimizer],
        say: Callable[[str], None],
    ) -> None:
        self.method, self.context, self.models, self.optimizers, self.say = method, context, models, optimizers, say
        self.left = GUARDED_STEPS

    def training_step(self, batch: Any, step: int) -> StepOutput:
        """``method.training_step(batch, step)``, guarded while steps are left and compilation is on."""
        guarded = self.left > 0 and self.context.compiling
        self.left = max(0, self.left - 1)
        if not guarded:
            return self.method.training_step(batch, step)
        output, failure = run_guarded(
            lambda: self.method.training_step(batch, step),
            cast(CompileSwitch, self.context.compile_switch),
            self.models,
            self.optimizers,
            (self._extra_state, self._load_extra_state),
        )
        if failure is not None:
            self.say(f"imsynth: torch.compile failed ({failure}); training goes on eagerly (or: --no-compile)")
        return output

    def _extra_state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.context.state_dict(), self.method.state_dict_extra()

    def _load_extra_state(self, state: tuple[dict[str, Any], dict[str, Any]]) -> None:
        self.context.load_state_dict(state[0])
        self.method.load_state_dict_extra(state[1])
