"""Kernel distance (KID) between real and synthesized feature sets: unbiased at small N.

The Kernel Inception Distance of Bińkowski, Sutherland, Arbel & Gretton ("Demystifying MMD GANs",
ICLR 2018) is the squared maximum mean discrepancy between the two feature distributions under the
cubic polynomial kernel ``k(x, y) = (x·y / d + 1)^3`` (``d`` the feature dimension), estimated
without bias::

    MMD^2_u = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(n(n-1)) sum_{i != j} k(y_i, y_j) - 2/(mn) sum_{i,j} k(x_i, y_j)

Unlike the Fréchet distance, its expectation does not depend on the number of images, so values at
the 24-500 images of our splits can be compared across N (they are noisier at small N: the standard
deviation over subsets is reported next to the mean). Here it runs on the same features as FLD-2
(EfficientNet-Lite2, :func:`imsynth.evaluation.frechet.fld2_network`): "KID" in our reports is
this kernel distance over those features, not over Inception's. Sets larger than ``subset_size``
are split into ``subsets`` random subsets (the reference protocol: 100 subsets of 1000); a smaller
set is used whole, once, since the estimator is already unbiased.

Written out here rather than taken from ``torchmetrics.image.kid.KernelInceptionDistance`` (which does
accept our own feature network): that class extracts features itself (our evaluation already has
them from FLD-2), draws its subsets from the global torch RNG (a report would change the training
RNG stream and differ between runs unless reseeded), and would add two dependencies for these
twenty lines.
"""

from __future__ import annotations

import numpy as np

__all__ = ["polynomial_kernel", "mmd2_unbiased", "kernel_distance", "KID_NAME"]

KID_NAME = "KID"


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(x y^T / d + 1)^3`` for ``N x d`` and ``M x d`` feature arrays (float64)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased estimate of MMD^2 between the sets ``x`` (m x d) and ``y`` (n x d), m, n >= 2."""
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"the unbiased MMD needs at least 2 feature vectors per set, got {m} and {n}")
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * kxy.mean())


def kernel_distance(
    real: np.ndarray, fake: np.ndarray, subset_size: int = 1000, subsets: int = 100, seed: int = 0
) -> tuple[float, float]:
    """KID (mean, standard deviation over subsets) of two feature sets (``N x d``, ``M x d``).

    When both sets fit in ``subset_size`` the whole sets are compared once (standard deviation 0);
    otherwise ``subsets`` subsets of ``min(subset_size, N, M)`` vectors are drawn without replacement
    from each set with a seeded generator (the same numbers every time).
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sets must be N x d with one d, got {real.shape} and {fake.shape}")
    size = min(subset_size, len(real), len(fake))
    if len(real) <= subset_size and len(fake) <= subset_size:
        return mmd2_unbiased(real, fake), 0.0
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        pick_real, pick_fake = rng.choice(len(real), size, replace=False), rng.choice(len(fake), size, replace=False)
        values.append(mmd2_unbiased(real[pick_real], fake[pick_fake]))
    return float(np.mean(values)), float(np.std(values))
