"""Measuring the machine and the models: peak GEMM FLOP/s, FLOPs of a call, peak memory."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from typing import Any

import torch


def measure_peak_gemm_flops(
    device: torch.device | str = "cpu",
    size: int | None = None,
    dtype: torch.dtype = torch.float32,
    seconds: float = 1.0,
    tf32: bool = False,
) -> float:
    """Best sustained FLOP/s of a square matrix product (2 n^3 FLOPs each) on ``device``.

    ``size`` defaults to 2048 on a CPU and 8192 on a GPU (a smaller product would time the launch,
    not the tensor cores). ``tf32``: float32 products on the TF32 tensor cores of a CUDA GPU (what
    cuDNN's convolutions use by default); elsewhere it changes nothing.
    """
    device = torch.device(device)
    size = size or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    allowed = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        torch.mm(a, b)  # warm-up (thread pools, cuBLAS handles)
        best = 0.0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or best == 0.0:
            _synchronize(device)
            start = time.perf_counter()
            torch.mm(a, b)
            _synchronize(device)
            best = max(best, 2 * size**3 / (time.perf_counter() - start))
    finally:
        torch.backends.cuda.matmul.allow_tf32 = allowed
    return best


def measure_peaks(device: torch.device | str = "cpu", seconds: float = 1.0) -> dict[str, float]:
    """Measured GEMM peaks in FLOP/s: ``fp32``, ``tf32`` (CUDA; the fp32 figure elsewhere) and ``bf16``."""
    device = torch.device(device)
    fp32 = measure_peak_gemm_flops(device, seconds=seconds)
    tf32 = measure_peak_gemm_flops(device, seconds=seconds, tf32=True) if device.type == "cuda" else fp32
    bf16 = measure_peak_gemm_flops(device, dtype=torch.bfloat16, seconds=seconds)
    return {"fp32": fp32, "tf32": tf32, "bf16": bf16}


def count_flops(fn: Callable[[], Any]) -> int:
    """Floating-point operations of one call of ``fn`` (forward and backward if it runs both)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def time_call(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1, device: torch.device | str = "cpu") -> float:
    """Best wall time in seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    device = torch.device(device)
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        fn()
        _synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
