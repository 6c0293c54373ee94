"""Layer-weight calibration for CRN-style feature-matching losses.

The CRN paper (Chen & Koltun 2017, Sec. 3.3) sets each term's weight ``lambda_l`` so that all
terms contribute equally: ``lambda_l`` is the inverse of the mean L1 distance of that term.
:func:`calibrate_layer_weights` measures that on given image pairs; the numbers hard-coded as
``default_layer_weights`` for EfficientNet-Lite come from :func:`default_calibration`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import FeatureExtractor, numpy_image_to_tensor

CALIBRATION_IMAGES = ("chelsea", "coffee", "astronaut", "rocket", "camera", "motorcycle")


def _as_batch(x: Tensor) -> Tensor:
    return x.unsqueeze(0) if x.dim() == 3 else x


@torch.no_grad()
def calibrate_layer_weights(extractor: FeatureExtractor, image_pairs: Iterable[tuple[Tensor, Tensor]]) -> list[float]:
    """Inverse mean L1 distance of each loss term, normalised so the image term has weight 1.

    ``image_pairs``: pairs ``(a, b)`` of RGB images in ``[0, 1]`` (``3xHxW`` or ``Bx3xHxW``).
    Term 0 is the image itself (``mean |a - b|``), term ``l`` is
    ``mean |Phi_l(a) - Phi_l(b)|`` (mean over all elements). Each term's mean is averaged over
    pairs; the result is ``[mean_0 / mean_l for l in 0..L]`` (i.e. ``1 / mean_l`` rescaled so
    the first entry is 1).
    """
    sums: list[float] | None = None
    n = 0
    device = next((b.device for b in extractor.buffers()), torch.device("cpu"))
    for a, b in image_pairs:
        a = _as_batch(a).to(device=device, dtype=torch.float32)
        b = _as_batch(b).to(device=device, dtype=torch.float32)
        terms = [(a - b).abs().mean()]
        terms += [(fa - fb).abs().mean() for fa, fb in zip(extractor(a), extractor(b), strict=True)]
        vals = [float(t) for t in terms]
        sums = vals if sums is None else [s + v for s, v in zip(sums, vals, strict=True)]
        n += 1
    if sums is None:
        raise ValueError("calibrate_layer_weights needs at least one image pair")
    means = [s / n for s in sums]
    if any(m <= 0 for m in means):
        raise ValueError(f"a term has zero mean distance over the pairs ({means}); use differing pairs")
    return [means[0] / m for m in means]


def _gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Gaussian blur of ``sigma`` px (kernel radius 3 sigma, reflected borders)."""
    import kornia

    size = 2 * max(1, int(round(3 * sigma))) + 1
    return kornia.filters.gaussian_blur2d(x, (size, size), (sigma, sigma), border_type="reflect")


def _center_resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Scale so the image covers ``size`` (H, W), then centre-crop."""
    h, w = x.shape[-2:]
    s = max(size[0] / h, size[1] / w)
    nh, nw = max(size[0], round(h * s)), max(size[1], round(w * s))
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    top, left = (nh - size[0]) // 2, (nw - size[1]) // 2
    return x[..., top : top + size[0], left : left + size[1]].clamp(0, 1)


def degraded_photo_pairs(
    names: Sequence[str] = CALIBRATION_IMAGES,
    size: tuple[int, int] = (256, 512),
    blur_sigma: float = 2.0,
    noise_std: float = 0.05,
    seed: int = 0,
) -> list[tuple[Tensor, Tensor]]:
    """(photo, blurred + noised photo) pairs from scikit-image's bundled sample images.

    Each photo is resized/centre-cropped to ``size`` (default 256x512, the CRN diversity
    model's resolution); the partner is a Gaussian blur (``blur_sigma`` px) plus Gaussian noise
    (``noise_std``, fixed ``seed``), clamped to ``[0, 1]`` — a stand-in for "plausible but
    imperfect" synthesised images.
    """
    import skimage.data as data  # test/extra dependency

    gen = torch.Generator().manual_seed(seed)
    pairs = []
    for name in names:
        img = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
        a = _center_resize(numpy_image_to_tensor(img), size)
        b = _gaussian_blur(a, blur_sigma) + noise_std * torch.randn(a.shape, generator=gen)
        pairs.append((a, b.clamp(0, 1)))
    return pairs


def default_calibration(name: str = "efficientnet_lite0", **pair_opts) -> list[float]:
    """Recompute the hard-coded ``default_layer_weights`` of ``name`` (default layers):
    :func:`calibrate_layer_weights` on :func:`degraded_photo_pairs` (``pair_opts`` forwarded).
    Takes a few seconds on CPU."""
    from . import build_feature_extractor

    extractor = build_feature_extractor(name)
    return calibrate_layer_weights(extractor, degraded_photo_pairs(**pair_opts))
