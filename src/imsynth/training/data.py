"""A resumable, reproducible stream of training batches.

Training reads one endless *stream* of samples: epoch after epoch, each a permutation of the
dataset drawn from a generator seeded by ``(seed, epoch)``. Position ``p`` of the stream is
therefore a pure function of the seed, so resuming after ``p`` consumed samples only needs ``p``.

Data augmentation is reproducible too: every sample is loaded with the Python, NumPy and torch
generators seeded from ``(seed, p)``, and a dataset with a ``set_epoch(epoch)`` method (one that
draws augmentation from its own ``(seed, epoch, index)`` generator) is told the epoch of ``p``
first. The batches are then identical whatever the number of worker processes and however often
the run was interrupted.

Under DDP the stream is the same; each of the ``world_size`` processes loads its own contiguous
share of every global batch (what ``DistributedSampler`` does per epoch, but resumable at any
position), so the processes together see exactly the batches of a single-process run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler, default_collate

from imsynth.utils.seeding import isolated_rng, mix_seed, seed_worker

__all__ = ["StreamSampler", "StreamDataset", "make_loader", "preview_batch", "check_dataset"]

_PREVIEW_SALT = 0x7072657669657721  # separates preview samples from training-stream samples


class StreamSampler(Sampler[tuple[int, int]]):
    """Endless ``(dataset index, stream position)`` pairs, starting at position ``start``.

    With ``world_size > 1`` this process's share only: of each global batch of ``batch_size``
    positions, the ``rank``-th contiguous slice of ``batch_size / world_size``.
    """

    def __init__(
        self, dataset_size: int, seed: int, start: int = 0, *, rank: int = 0, world_size: int = 1, batch_size: int = 1
    ) -> None:
        if dataset_size < 1:
            raise ValueError("cannot sample from an empty dataset")
        if world_size < 1 or not 0 <= rank < world_size or batch_size % world_size:
            raise ValueError(f"bad sharding: rank {rank}, world_size {world_size}, batch_size {batch_size}")
        self.dataset_size = dataset_size
        self.seed = seed
        self.start = start
        self.rank = rank
        self.world_size = world_size
        self.batch_size = batch_size

    def epoch_order(self, epoch: int) -> list[int]:
        """The permutation of dataset indices used in ``epoch``."""
        generator = torch.Generator().manual_seed(mix_seed(self.seed, epoch))
        return torch.randperm(self.dataset_size, generator=generator).tolist()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        position = self.start
        epoch, offset = divmod(position, self.dataset_size)
        while True:
            order = self.epoch_order(epoch)
            for index in order[offset:]:
                if self._mine(position):
                    yield index, position
                position += 1
            epoch, offset = epoch + 1, 0

    def _mine(self, position: int) -> bool:
        if self.world_size == 1:
            return True
        share = self.batch_size // self.world_size
        return ((position - self.start) % self.batch_size) // share == self.rank


class StreamDataset(Dataset[Any]):
    """Wraps a map-style dataset; item ``(index, position)`` is loaded as stream sample ``position``.

    That is: the dataset's ``set_epoch`` (if any) gets the position's epoch, and the global RNGs
    are seeded from ``(seed, position)`` while it loads ``dataset[index]``.
    """

    def __init__(self, dataset: Dataset[Any], seed: int) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, position = key
        _set_epoch(self.dataset, position // len(self))
        with isolated_rng(mix_seed(self.seed, position)):
            return self.dataset[index]


def _set_epoch(dataset: Any, epoch: int) -> None:
    """Call ``dataset.set_epoch(epoch)`` when the dataset has one."""
    set_epoch = getattr(dataset, "set_epoch", None)
    if callable(set_epoch):
        set_epoch(epoch)


def check_dataset(dataset: Any) -> int:
    """Return the size of a non-empty map-style dataset, or raise a clear error."""
    if isinstance(dataset, IterableDataset) or not isinstance(dataset, Sized):
        raise TypeError(
            f"the trainer needs a map-style dataset (with __len__ and __getitem__), got {type(dataset).__name__}"
        )
    size = len(dataset)
    if size == 0:
        raise ValueError(f"the training dataset ({type(dataset).__name__}) is empty")
    return size


def make_loader(
    dataset: Dataset[Any],
    *,
    batch_size: int,
    seed: int,
    start: int,
    num_workers: int,
    pin_memory: bool,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader[Any]:
    """An endless loader whose first batch starts at stream position ``start``.

    ``batch_size`` is the global batch; with ``world_size > 1`` the loader yields this process's
    ``batch_size / world_size`` samples of each global batch.
    """
    sampler = StreamSampler(
        len(dataset),  # type: ignore[arg-type]  # torch's Dataset declares no __len__; check_dataset required one
        seed,
        start,
        rank=rank,
        world_size=world_size,
        batch_size=batch_size,
    )
    return DataLoader(
        StreamDataset(dataset, seed),
        batch_size=batch_size // world_size,
        sampler=sampler,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=pin_memory,
        worker_init_fn=_init_worker,
        # An explicit generator keeps the global torch RNG untouched when iteration starts.
        generator=torch.Generator().manual_seed(mix_seed(seed, start)),
    )


def _init_worker(worker_id: int) -> None:
    """Seed the worker; a SIGUSR1 sent to the whole process group (SLURM) is for the trainer, not for it."""
    import signal

    seed_worker(worker_id)
    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)


def preview_batch(dataset: Dataset[Any], count: int, seed: int) -> Any:
    """A fixed batch of the first ``count`` samples, for sample grids that are comparable over time."""
    count = min(count, len(dataset))  # type: ignore[arg-type]
    _set_epoch(dataset, 0)
    items = []
    for index in range(count):
        with isolated_rng(mix_seed(seed, _PREVIEW_SALT, index)):
            items.append(dataset[index])
    return default_collate(items)
