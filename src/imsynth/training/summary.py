"""What the trainer reports: the step's scalars as floats, and the one-line summary at the end of a run."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from imsynth.training import distributed
from imsynth.training.config import TrainConfig
from imsynth.training.distributed import DistributedEnv

__all__ = ["PendingScalars", "end_summary", "count", "duration"]


class PendingScalars:
    """The steps' scalars, kept where they were computed until the trainer reads them.

    Reading a GPU tensor's value makes the host wait for the device (a synchronisation): done
    every step, the GPU idles while Python prepares the next one. So :meth:`add` only checks the
    types and stacks each step's tensors into one small tensor on the device (one kernel), and
    :meth:`read` -- every ``log_every`` steps, before a checkpoint or sample grid and at the end --
    turns all pending steps into floats at once (one synchronisation, and under DDP one
    ``all_reduce`` of the block: the mean over processes, as before).
    """

    def __init__(self, method_name: str, device: torch.device, dist: DistributedEnv) -> None:
        self.method_name = method_name
        self.device = device
        self.dist = dist
        self._steps: list[tuple[int, tuple[str, ...], dict[str, float], torch.Tensor | None]] = []

    def __len__(self) -> int:
        return len(self._steps)

    def add(self, step: int, output: Mapping[str, float | torch.Tensor]) -> None:
        """Keep the scalars of training step ``step`` (1-based: the step just completed)."""
        if not isinstance(output, Mapping):
            raise TypeError(
                f"{self.method_name}.training_step must return a dict of scalars, got {type(output).__name__}"
            )
        values: dict[str, float] = {}
        tensors: list[torch.Tensor] = []
        for name, value in output.items():
            if isinstance(value, torch.Tensor):
                if value.numel() != 1:
                    raise ValueError(
                        f"training_step scalar {name!r} has shape {tuple(value.shape)}; "
                        "return a single value (e.g. loss.mean())"
                    )
                tensors.append(value.detach().reshape(()).to(self.device, torch.float32, non_blocking=True))
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                values[name] = float(value)
            else:
                raise TypeError(
                    f"training_step scalar {name!r} is a {type(value).__name__}, expected a float or a 0-dim tensor"
                )
        stacked = torch.stack(tensors) if tensors else None
        self._steps.append((step, tuple(output), values, stacked))

    def read(self) -> list[tuple[int, dict[str, float]]]:
        """Every pending step's scalars as floats, in the method's order, oldest first; then none pend.

        Under DDP every process must call this at the same steps (the values are averaged over them).
        """
        steps, self._steps = self._steps, []
        blocks = [stacked for *_, stacked in steps if stacked is not None]
        # One block for all steps and one transfer to the host (under DDP: one all_reduce too).
        flat = distributed.mean_over_ranks(torch.cat(blocks), self.dist).tolist() if blocks else []
        numbers = iter(flat)
        rows = []
        for step, names, values, _ in steps:  # tensors were stacked in the method's order
            rows.append((step, {name: values[name] if name in values else next(numbers) for name in names}))
        return rows


def end_summary(
    method: str,
    step: int,
    config: TrainConfig,
    reason: str,
    steps: int,
    elapsed: float,
    out_dir: Path,
    checkpoint: Path,
) -> str:
    """``imsynth: finished crn at step 3/3 (max_steps reached) after 3 steps in 0.2s, 13.6 img/s | ...``."""
    rate = steps * config.batch_size / elapsed if elapsed > 0 else 0.0
    if reason == "max_steps":
        verb, why = "finished", "max_steps reached"
    else:
        cause = (
            f"time budget of {config.max_minutes:g} min used up" if reason == "max_minutes" else f"{reason} received"
        )
        verb, why = "stopped", f"{cause}; continue with `imsynth train {method} --resume {out_dir}`"
    return (
        f"imsynth: {verb} {method} at step {step}/{config.max_steps} ({why}) "
        f"after {steps} steps in {duration(elapsed)}, {rate:.1f} img/s | checkpoint {checkpoint}"
    )


def count(n: int) -> str:
    """A parameter count for people: 1.2M, 35.0k."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def duration(seconds: float) -> str:
    """A wall-clock time for people: 1h05m, 3m07s, 12.4s."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def start_summary(trainer: Any) -> str:
    """``imsynth: training crn on CPU | params generator 1.2M | dataset 500 | steps 0->100 (from scratch) | ...``.

    ``trainer``: the :class:`~imsynth.training.trainer.Trainer` being started.
    """
    from imsynth.utils.device import describe_device

    sizes = {name: sum(p.numel() for p in model.parameters()) for name, model in trainer.models.items()}
    params = ", ".join(f"{name} {count(n)}" for name, n in sizes.items())
    context = trainer.context
    amp = f", amp {str(context.amp_dtype).removeprefix('torch.')}" if context.amp_enabled else ""
    amp += ", channels_last" if context.channels_last else ""
    amp += f", torch.compile ({trainer.config.compile_mode})" if context.compile_switch is not None else ""
    start = f"resumed at step {trainer.step}" if trainer.resumed_from is not None else "from scratch"
    notes = "".join(f" | note: {note}" for note in trainer._notes)
    where = describe_device(trainer.device)
    dist, config = trainer.dist, trainer.config
    if dist.enabled:
        where = (
            f"{dist.world_size} processes (DDP, {distributed.dist.get_backend()}), "
            f"rank 0 on {where}, {distributed.per_rank_batch_size(config.batch_size, dist)} images each"
        )
    return (
        f"imsynth: training {trainer.method.name} on {where}{amp} | "
        f"params {params} | dataset {trainer.dataset_size} | steps {trainer.step}->{config.max_steps} "
        f"({start}) | out_dir {trainer.out_dir}{notes}"
    )
