"""Choosing the compute device and the mixed-precision dtype.

Device specs are strings: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or
``"cuda:N"``. Mixed precision (AMP) is used on CUDA only: bfloat16 where the GPU supports it
(no loss scaling needed), float16 otherwise (with a ``GradScaler``).
"""

from __future__ import annotations

import re

import torch

__all__ = ["resolve_device", "describe_device", "autocast_dtype", "DEVICE_PATTERN"]

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def resolve_device(spec: str = "auto") -> torch.device:
    """Turn a device spec into a ``torch.device``, failing clearly if it is not available."""
    if not DEVICE_PATTERN.match(spec):
        raise ValueError(f"unknown device {spec!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {spec!r} requested but CUDA is not available; use 'cpu' or 'auto'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(f"device {spec!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    return device


def describe_device(device: torch.device) -> str:
    """A short human-readable name, e.g. ``"cuda:0 (NVIDIA H100)"`` or ``"cpu (8 threads)"``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return f"{device.type} ({torch.get_num_threads()} threads)"


def autocast_dtype(device: torch.device, preference: str = "auto") -> torch.dtype | None:
    """The autocast dtype for ``device`` (``None``: no mixed precision, i.e. not on CUDA).

    ``preference`` is ``"auto"`` (bfloat16 if supported, else float16), ``"bfloat16"`` or
    ``"float16"``.
    """
    if device.type != "cuda":
        return None
    if preference == "float16":
        return torch.float16
    if preference == "bfloat16":
        return torch.bfloat16
    if preference != "auto":
        raise ValueError(f"unknown AMP dtype {preference!r}: use 'auto', 'bfloat16' or 'float16'")
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
