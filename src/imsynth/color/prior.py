"""The colour prior and class rebalancing (Zhang, Isola & Efros, ECCV 2016, Sec. 2.2, Eq. 4).

Natural images are dominated by desaturated colours, so an unweighted classifier learns to
predict brownish grays. The loss therefore weights each pixel by the rarity of its colour:

1. ``p`` -- the empirical distribution of the training pixels over the Q bins (each pixel counts
   for its nearest bin); images with no colour (``|a|, |b| <= 5`` at every pixel) are skipped, as
   they also contribute no loss;
2. ``p~`` -- ``p`` smoothed with a Gaussian of ``sigma = 5`` (ab units) over the bin centres;
3. ``w ~ ((1 - lambda) p~ + lambda / Q)^-1`` with ``lambda = 0.5``, scaled so that
   ``E_p~[w] = sum_q p~_q w_q = 1``. A pixel's weight is ``w`` of its nearest (argmax) bin.

``lambda = 1`` gives uniform weights (no rebalancing), ``lambda = 0`` the full inverse prior.
The variant ``weighting="neglog"`` (a Julia/Knet re-implementation) uses ``w_q = -log p_q``,
also scaled to ``E_p[w] = 1``: gentler, so its colours are less vivid.

:class:`ColorPrior` holds the counts, is computed over a dataset by :func:`compute_prior`
(``imsynth prior``) and is saved as ``PRIOR_DIR/prior.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from imsynth.color.bins import QuantizationConfig, ab_bins
from imsynth.color.encoding import nearest_bin
from imsynth.color.lab import rgb_to_lab
from imsynth.utils.config import from_dict, to_dict
from imsynth.utils.io import write_json

__all__ = [
    "NO_COLOR_THRESHOLD",
    "PRIOR_FILE",
    "RebalanceConfig",
    "ColorPrior",
    "has_color",
    "smooth_distribution",
    "rebalancing_weights",
    "neglog_weights",
    "class_weights",
    "compute_prior",
]

#: An image whose |a| and |b| never exceed this has "no colour" and gets no loss (Sec. 2.2).
NO_COLOR_THRESHOLD = 5.0
PRIOR_FILE = "prior.json"
_FORMAT = "imsynth-color-prior"


@dataclass
class RebalanceConfig:
    """How pixels are weighted in the loss: Eq. 4 (``"rebalance"``), ``-log p`` or not at all."""

    weighting: Literal["rebalance", "neglog", "none"] = "rebalance"
    lam: float = 0.5  # lambda of Eq. 4: the share of the uniform distribution in the mixture
    sigma: float = 5.0  # Gaussian smoothing of the prior, in ab units

    def __post_init__(self) -> None:
        if self.weighting not in ("rebalance", "neglog", "none"):
            raise ValueError(f"weighting must be 'rebalance', 'neglog' or 'none', got {self.weighting!r}")
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"lam must be in [0, 1], got {self.lam}")
        if self.sigma <= 0:
            raise ValueError(f"sigma must be positive, got {self.sigma}")


def has_color(ab: Tensor, threshold: float = NO_COLOR_THRESHOLD) -> Tensor:
    """``(N,)`` bool: does image ``n`` of ``(N, 2, H, W)`` have any pixel with ``|a|`` or ``|b| > threshold``?"""
    return (ab.abs() > threshold).flatten(1).any(dim=1)


def smooth_distribution(p: Tensor, centers: Tensor, sigma: float = 5.0) -> Tensor:
    """``p~``: ``p`` filtered by a Gaussian of ``sigma`` over the bin centres, renormalised to sum 1."""
    p = p.double()
    distances = torch.cdist(centers.double(), centers.double()) ** 2
    kernel = torch.exp(-distances / (2.0 * sigma**2))
    smoothed = kernel @ p
    return smoothed / smoothed.sum()


def rebalancing_weights(p: Tensor, centers: Tensor, lam: float = 0.5, sigma: float = 5.0) -> Tensor:
    """Eq. 4: ``w ~ ((1 - lam) p~ + lam / Q)^-1`` with ``E_p~[w] = 1``, as float32 ``(Q,)``."""
    smoothed = smooth_distribution(p, centers, sigma)
    weights = 1.0 / ((1.0 - lam) * smoothed + lam / smoothed.numel())
    return (weights / (smoothed * weights).sum()).float()


def neglog_weights(p: Tensor, floor: float = 1e-8) -> Tensor:
    """The ``-log p`` variant, ``E_p[w] = 1``; empty bins are floored at ``floor`` (they never occur as targets)."""
    p = p.double() / p.sum()
    weights = -torch.log(p.clamp(min=floor))
    return (weights / (p * weights).sum()).float()


def class_weights(p: Tensor, centers: Tensor, config: RebalanceConfig) -> Tensor:
    """Per-bin loss weights ``(Q,)`` for the configured weighting."""
    if config.weighting == "rebalance":
        return rebalancing_weights(p, centers, config.lam, config.sigma)
    if config.weighting == "neglog":
        return neglog_weights(p)
    return torch.ones(centers.shape[0])


@dataclass
class ColorPrior:
    """Bin counts of a dataset: ``counts[q]`` pixels had bin ``q`` as their nearest bin."""

    quantization: QuantizationConfig
    counts: list[float]
    images: int = 0
    images_without_color: int = 0
    source: str = ""
    bin_centers: list[list[float]] = field(default_factory=list)

    @property
    def probabilities(self) -> Tensor:
        """``p`` as a float64 ``(Q,)`` tensor summing to one."""
        counts = torch.tensor(self.counts, dtype=torch.float64)
        if counts.sum() <= 0:
            raise ValueError("the prior holds no coloured pixel: were all images gray?")
        return counts / counts.sum()

    def peak(self) -> tuple[float, float]:
        """The ab centre of the most frequent bin (near (0, 0) for natural photos)."""
        a, b = self.bin_centers[int(torch.tensor(self.counts).argmax())]
        return float(a), float(b)

    def check_bins(self, centers: Tensor) -> None:
        """Raise ``ValueError`` unless the prior was computed on exactly these bin centres."""
        if torch.tensor(self.bin_centers).shape != centers.shape or not torch.allclose(
            torch.tensor(self.bin_centers, dtype=torch.float32), centers.float()
        ):
            raise ValueError(
                f"the prior was computed on other ab bins ({len(self.bin_centers)} bins, "
                f"grid {self.quantization.grid!r}, rule {self.quantization.gamut_rule!r}) "
                f"than the model uses ({centers.shape[0]} bins); recompute it"
            )

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/prior.json`` (atomically); returns its path."""
        path = Path(folder) / PRIOR_FILE
        write_json(
            path,
            {
                "format": _FORMAT,
                "version": 1,
                "quantization": to_dict(self.quantization),
                "images": self.images,
                "images_without_color": self.images_without_color,
                "source": self.source,
                "bin_centers": self.bin_centers,
                "counts": self.counts,
                "probabilities": self.probabilities.tolist(),
            },
        )
        return path

    @classmethod
    def load(cls, folder: str | Path) -> ColorPrior:
        """Read a prior saved by :meth:`save` from its folder (or the ``prior.json`` file itself)."""
        path = Path(folder)
        path = path / PRIOR_FILE if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(f"no colour prior at {path}: compute one with `imsynth prior`")
        data: dict[str, Any] = json.loads(path.read_text())
        if data.get("format") != _FORMAT:
            raise ValueError(f"{path} is not an imsynth colour prior")
        return cls(
            quantization=from_dict(QuantizationConfig, data["quantization"]),
            counts=data["counts"],
            images=data["images"],
            images_without_color=data["images_without_color"],
            source=data.get("source", ""),
            bin_centers=data["bin_centers"],
        )


def compute_prior(images: Iterable[Tensor], quantization: QuantizationConfig, source: str = "") -> ColorPrior:
    """Count nearest bins over ``images`` (``(3, H, W)`` or ``(N, 3, H, W)`` RGB in [0, 1]).

    Images without colour are counted in ``images_without_color`` and contribute no pixels.
    """
    centers = ab_bins(quantization)
    counts = torch.zeros(centers.shape[0], dtype=torch.float64)
    seen = skipped = 0
    for batch in images:
        batch = batch[None] if batch.dim() == 3 else batch
        ab = rgb_to_lab(batch.float())[:, 1:]
        colored = has_color(ab)
        seen += batch.shape[0]
        skipped += int((~colored).sum())
        for image_ab in ab[colored]:
            bins = nearest_bin(image_ab[None], centers)
            counts += torch.bincount(bins.flatten(), minlength=centers.shape[0]).double()
    return ColorPrior(quantization, counts.tolist(), seen, skipped, source, centers.tolist())
