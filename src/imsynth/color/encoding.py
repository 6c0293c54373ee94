"""From colours to class distributions and back (Zhang, Isola & Efros, ECCV 2016, Sec. 2.1-2.3).

* :func:`soft_encode` -- the target ``Z = H^-1_gt(Y)``: each ground-truth ab value is spread over
  its ``k = 5`` nearest bin centres with weights ``exp(-d^2 / (2 sigma^2))``, ``sigma = 5``,
  normalised to sum to one (Sec. 2.1).
* :func:`nearest_bin` -- the hard class of a colour (the argmax of its soft encoding); it picks
  the rebalancing weight of a pixel (Eq. 3).
* :func:`decode_ab` -- ``H(Z)``, a point estimate from a predicted distribution ``Z`` (Sec. 2.3):
  the *annealed mean* ``E[f_T(Z)]`` with ``f_T(z) = exp(log z / T) / sum exp(log z / T)``,
  ``T = 0.38``; ``T = 1`` is the plain mean and ``T -> 0`` the mode. Since
  ``log softmax(x) = x - const``, ``f_T(softmax(x)) = softmax(x / T)``.

Shapes: ab maps ``(N, 2, H, W)``, distributions ``(N, Q, H, W)``, bin centres ``(Q, 2)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "DecodeMode",
    "DecodeConfig",
    "squared_distances",
    "nearest_bin",
    "soft_encode",
    "annealed_softmax",
    "decode_ab",
]

DecodeMode = Literal["annealed_mean", "mean", "mode"]


@dataclass
class DecodeConfig:
    """How a predicted distribution becomes one colour: annealed mean at ``T = 0.38`` (Sec. 2.3)."""

    mode: DecodeMode = "annealed_mean"
    temperature: float = 0.38

    def __post_init__(self) -> None:
        if self.mode not in ("annealed_mean", "mean", "mode"):
            raise ValueError(f"decode mode must be 'annealed_mean', 'mean' or 'mode', got {self.mode!r}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")


def squared_distances(ab: Tensor, centers: Tensor) -> Tensor:
    """``||ab - c_q||^2`` for every pixel and bin: ``(N, 2, H, W)``, ``(Q, 2)`` -> ``(N, Q, H, W)``."""
    centers = centers.to(ab)
    return ((ab[:, None] - centers[None, :, :, None, None]) ** 2).sum(dim=2)


def nearest_bin(ab: Tensor, centers: Tensor) -> Tensor:
    """Index of the nearest bin centre of each pixel, ``(N, H, W)`` long."""
    return squared_distances(ab, centers).argmin(dim=1)


def soft_encode(ab: Tensor, centers: Tensor, neighbors: int = 5, sigma: float = 5.0) -> Tensor:
    """Soft-encoded targets ``(N, Q, H, W)``: a Gaussian over the ``neighbors`` nearest bins, summing to 1."""
    distances = squared_distances(ab, centers)
    nearest, indices = distances.topk(min(neighbors, centers.shape[0]), dim=1, largest=False)
    # Subtracting the nearest distance before exponentiating changes nothing after the
    # normalisation but keeps far-away colours (d >> sigma) from underflowing to 0 / 0.
    weights = torch.exp(-(nearest - nearest[:, :1]) / (2.0 * sigma**2))
    weights = weights / weights.sum(dim=1, keepdim=True)
    return torch.zeros_like(distances).scatter_(1, indices, weights)


def annealed_softmax(logits: Tensor, temperature: float) -> Tensor:
    """``f_T`` applied to ``softmax(logits)``: ``softmax(logits / T)`` over the bins (dim 1)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return torch.softmax(logits.float() / temperature, dim=1)


def decode_ab(logits: Tensor, centers: Tensor, mode: DecodeMode = "annealed_mean", temperature: float = 0.38) -> Tensor:
    """Predicted ab ``(N, 2, h, w)`` from class logits ``(N, Q, h, w)`` (Sec. 2.3, Eq. 5)."""
    centers = centers.to(device=logits.device, dtype=torch.float32)
    if mode == "mode":
        return centers[logits.argmax(dim=1)].permute(0, 3, 1, 2)
    if mode == "mean":
        temperature = 1.0
    elif mode != "annealed_mean":
        raise ValueError(f"unknown decode mode {mode!r}; expected 'annealed_mean', 'mean' or 'mode'")
    probabilities = annealed_softmax(logits, temperature)
    return torch.einsum("nqhw,qc->nchw", probabilities, centers)
