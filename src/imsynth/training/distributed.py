"""Data-parallel training with PyTorch's ``DistributedDataParallel``, launched by ``torchrun``.

Nothing here distributes by hand: the gradients are averaged by DDP, the process group is
PyTorch's (NCCL on GPUs, gloo on CPUs), and the launch is ``torchrun``'s. This module only reads
the launcher's environment and wraps the trainer's few collective needs::

    torchrun --nproc_per_node 4 -m imsynth train crn --data DATA --batch-size 16   # 4 per GPU

Conventions (the same whatever the number of processes, so a run can be resumed with another):

* ``batch_size`` is the **global** batch: each of the ``W`` processes takes ``batch_size / W``
  samples of every global batch (the trainer's stream sampler shards it), so ``W`` processes compute the same update
  as one process on the whole batch. Scaling: keep the per-process batch that fits your device and
  raise ``batch_size`` with ``W``; when you do, raise the learning rate in proportion (the linear
  scaling rule, Goyal et al. 2017) or keep it and train longer.
* Rank 0 writes everything (config, logs, samples, checkpoints); checkpoints hold every rank's
  RNG state, so a resumed DDP run continues exactly. The run folder must be on storage that every
  node sees when runs are resumed on several machines.
* Batch norm: converted to ``SyncBatchNorm`` on GPUs (statistics over the global batch). PyTorch's
  ``SyncBatchNorm`` has no CPU kernel, so with gloo on CPUs batch statistics stay per process.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "DistributedSetupError",
    "DistributedEnv",
    "environment",
    "init_distributed",
    "shutdown_distributed",
    "wrap_model",
    "per_rank_batch_size",
    "barrier",
    "mean_over_ranks",
    "any_rank",
    "gather_to_main",
]


class DistributedSetupError(ValueError):
    """A DDP job cannot start as configured (launcher environment, batch size...)."""


@dataclass(frozen=True)
class DistributedEnv:
    """Where this process stands in the job (``world_size == 1``: an ordinary single process)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def environment() -> DistributedEnv:
    """The job layout that ``torchrun`` (or SLURM via ``srun torchrun``) put in the environment."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError as exc:
        raise DistributedSetupError(f"bad torchrun environment (RANK/WORLD_SIZE/LOCAL_RANK): {exc}") from None
    if world_size < 1 or not 0 <= rank < world_size:
        raise DistributedSetupError(f"bad torchrun environment: RANK={rank}, WORLD_SIZE={world_size}")
    return DistributedEnv(rank, world_size, local_rank)


def init_distributed(device: torch.device, backend: str = "auto") -> DistributedEnv:
    """Join the process group of a ``torchrun`` job (a no-op for a single process).

    ``backend="auto"`` is NCCL for CUDA devices and gloo otherwise. Returns this process's place.
    """
    env = environment()
    if not env.enabled:
        return env
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_available():
        raise DistributedSetupError("this PyTorch build has no torch.distributed; run a single process")
    if not dist.is_initialized():
        if "MASTER_ADDR" not in os.environ:
            raise DistributedSetupError(
                "WORLD_SIZE > 1 but MASTER_ADDR is not set: launch with torchrun "
                "(torchrun --nproc_per_node N -m imsynth train ...)"
            )
        dist.init_process_group(backend=backend)
    if dist.get_world_size() != env.world_size:
        raise DistributedSetupError(
            f"the process group has {dist.get_world_size()} processes but WORLD_SIZE is {env.world_size}"
        )
    return env


def shutdown_distributed() -> None:
    """Leave the process group (call once at the end of a DDP job)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def per_rank_batch_size(batch_size: int, env: DistributedEnv) -> int:
    """Each process's share of the global ``batch_size`` (which must divide evenly)."""
    if batch_size % env.world_size:
        raise DistributedSetupError(
            f"batch_size {batch_size} (the global batch) must be a multiple of the number "
            f"of processes ({env.world_size}); use e.g. --batch-size "
            f"{env.world_size * -(-batch_size // env.world_size)}"
        )
    return batch_size // env.world_size


def wrap_model(model: nn.Module, device: torch.device, env: DistributedEnv) -> nn.Module:
    """``model`` in ``DistributedDataParallel`` (batch norm made synchronous on GPUs).

    Buffers are not broadcast on every forward pass: a GAN's discriminator runs several times per
    step and an in-place buffer broadcast between those runs would break its backward pass.
    """
    from torch.nn.parallel import DistributedDataParallel

    if not any(p.requires_grad for p in model.parameters()):
        return model
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    device_ids = [device.index] if device.type == "cuda" and device.index is not None else None
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters:
        # Newer PyTorch: buffers are synced once at construction (rank 0's), never in forward.
        return DistributedDataParallel(model, device_ids=device_ids, forward_sync_buffers=False)
    return DistributedDataParallel(model, device_ids=device_ids, broadcast_buffers=False)


def barrier(env: DistributedEnv) -> None:
    if env.enabled:
        dist.barrier()


def mean_over_ranks(values: torch.Tensor, env: DistributedEnv) -> torch.Tensor:
    """The element-wise mean of ``values`` over all processes (``values`` itself for one)."""
    if not env.enabled:
        return values
    reduced = values.detach().clone()
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced / env.world_size


def any_rank(flag: bool, device: torch.device, env: DistributedEnv) -> bool:
    """True on every process when ``flag`` is true on at least one (e.g. a time budget ran out)."""
    if not env.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def gather_to_main(obj: Any, env: DistributedEnv) -> list[Any] | None:
    """Every process's ``obj``, in rank order, on rank 0 (``None`` elsewhere); ``[obj]`` for one.

    ``all_gather_object`` (not ``gather_object``) because it works with both gloo and NCCL.
    """
    if not env.enabled:
        return [obj]
    gathered: list[Any] = [None] * env.world_size
    dist.all_gather_object(gathered, obj)
    return gathered if env.is_main else None
