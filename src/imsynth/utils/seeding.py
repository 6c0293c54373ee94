"""Random number generators: seeding, determinism switches, and saving/restoring RNG state.

Three generators matter in a PyTorch program: Python's ``random``, NumPy's global generator and
torch's (one on the CPU, one per CUDA device). :func:`seed_everything` seeds them all,
:func:`get_rng_state` / :func:`set_rng_state` capture and restore them (for exact resume), and
:func:`isolated_rng` runs a block of code with its own seed, leaving the caller's streams
untouched.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

__all__ = [
    "seed_everything",
    "seed_everything_cpu",
    "configure_determinism",
    "mix_seed",
    "get_rng_state",
    "set_rng_state",
    "isolated_rng",
    "preserved_rng",
    "seed_worker",
]

_MASK64 = (1 << 64) - 1


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every CUDA device) from one integer."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def configure_determinism(deterministic: bool) -> None:
    """Prefer reproducible kernels (``True``) or fast, autotuned ones (``False``).

    Deterministic mode warns, instead of failing, on operations that have no deterministic
    implementation, so a model still trains where such an op is unavoidable.
    """
    if deterministic:
        # cuBLAS needs a fixed workspace to be reproducible; must be set before its first use.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if (
        torch.are_deterministic_algorithms_enabled() != deterministic
        or torch.is_deterministic_algorithms_warn_only_enabled() != deterministic
    ):
        # (the call is skipped when nothing changes: its first use imports torch._dynamo, ~1 s)
        torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def mix_seed(*values: int) -> int:
    """Combine integers into one well-spread 63-bit seed (splitmix64 applied to each value)."""
    state = 0x9E3779B97F4A7C15
    for value in values:
        state = (state ^ (value & _MASK64)) & _MASK64
        state = (state + 0x9E3779B97F4A7C15) & _MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        state = z ^ (z >> 31)
    return state >> 1


def get_rng_state() -> dict[str, Any]:
    """Capture every global RNG as plain Python data and CPU tensors (safe for ``torch.save``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": np.asarray(keys).tolist(),
            "pos": pos,
            "has_gauss": has_gauss,
            "cached_gaussian": cached,
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators captured by :func:`get_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            np.asarray(numpy_state["keys"], dtype=np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    cuda_states = state.get("cuda")
    if cuda_states and torch.cuda.is_available():
        for index, cuda_state in enumerate(cuda_states[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, index)


@contextlib.contextmanager
def isolated_rng(seed: int) -> Iterator[None]:
    """Run a block with Python, NumPy and torch-CPU generators seeded from ``seed``.

    The caller's generator states are restored afterwards, so the block neither depends on nor
    disturbs the surrounding random streams. (CUDA generators are not touched.)
    """
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    torch_state = torch.get_rng_state()
    seed_everything_cpu(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block that may draw random numbers without advancing the caller's generators."""
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def seed_everything_cpu(seed: int) -> None:
    """Like :func:`seed_everything` but leaves CUDA generators alone (cheap; no CUDA init)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.default_generator.manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    """``DataLoader`` ``worker_init_fn``: derive Python/NumPy seeds from the worker's torch seed."""
    del worker_id  # torch.initial_seed() already differs per worker
    seed = torch.initial_seed()
    random.seed(seed)
    np.random.seed(seed % 2**32)
