"""Per-class texture statistics: how a region's features are distributed, wherever they lie.

No model can predict from a label map the phase of the grain of an asphalt road or of the leaves
of a tree, nor the weather of the photo it will be compared with. A pixel-aligned distance (the
image and shallow-feature terms of CRN's Eq. 1) is then smallest for a flat, blurred region. A
distance between *statistics* of the features over a region ignores where a pattern lies and
rewards the right amount and kind of texture. Two such statistics, per semantic class as in
semantically guided style transfer (Champandard 2016; Gatys et al., CVPR 2017, Sec. 4), with the
class mask ``M_p`` area-resized to the layer's resolution:

* ``"meanstd"`` (default): the per-channel mean and standard deviation of the features over the
  region -- the statistics of Huang & Belongie's AdaIN (ICCV 2017, Eq. 8), which Li et al.
  ("Demystifying Neural Style Transfer", IJCAI 2017, Sec. 4) show to be a texture loss of its own;
  ``T_l(p) = a_p * (mean_c |mu(fake) - mu(real)| + mean_c |sigma(fake) - sigma(real)|)``.
* ``"gram"``: the mask-weighted Gram matrix ``G_p = sum_x M_p f f^T / sum_x M_p`` of Gatys, Ecker
  & Bethge (NIPS 2015, Eq. 1-4); ``T_l(p) = a_p * mean |G_p(fake) - G_p(real)|``.

``a_p`` is the class's area fraction, so that, like the masked feature terms of CRN's diversity
loss (Sec. 3.4), each class counts in proportion to its size; classes absent from the layout give 0.
Under a texture-strength probe (:mod:`imsynth.losses.texture_curve`) against photos of other
appearance, mean/std matching is lowest at full texture strength, Gram matching (which mixes mean
and variance in its entries) at about 0.75 -- see ``benchmarks/texture_strength.py``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from imsynth.nn.labelmaps import area_resize

__all__ = [
    "TEXTURE_STATISTICS",
    "texture_weights_for",
    "class_moments",
    "class_gram_matrices",
    "class_texture_distance",
    "calibrate_texture_weights",
]

TEXTURE_STATISTICS = ("meanstd", "gram")

#: Regions lighter than this (in mask mass, pixels of the layer) have no statistics of their own.
_MIN_MASS = 1e-3
_EPS = 1e-8


def _shared_masks(features: Tensor, masks: Tensor) -> tuple[Tensor, Tensor]:
    """(N x C x hw features, N x P x hw masks): every group of N / B feature maps shares a mask."""
    n, c, h, w = features.shape
    if masks.shape[-2:] != (h, w):
        raise ValueError(f"masks {tuple(masks.shape)} must have the features' size {h}x{w}")
    if n != masks.size(0):
        if n % masks.size(0):
            raise ValueError(f"{n} feature maps cannot share {masks.size(0)} masks")
        masks = masks.repeat_interleave(n // masks.size(0), dim=0)
    return features.reshape(n, c, h * w), masks.reshape(n, -1, h * w).to(features.dtype)


def class_moments(features: Tensor, masks: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-class channel means and standard deviations of ``features`` (N x C x h x w) under the
    masks (N or B x P x h x w): ``(mean, std, area)``, N x P x C twice and the area fractions N x P."""
    flat, weights = _shared_masks(features, masks)
    mass = weights.sum(dim=-1)  # N x P
    norm = mass.clamp(min=_MIN_MASS).unsqueeze(-1)
    mean = torch.einsum("npx,ncx->npc", weights, flat) / norm
    square = torch.einsum("npx,ncx->npc", weights, flat * flat) / norm
    std = (square - mean * mean).clamp(min=0.0).add(_EPS).sqrt()
    return mean, std, mass / flat.shape[-1]


def class_gram_matrices(features: Tensor, masks: Tensor) -> tuple[Tensor, Tensor]:
    """Mask-weighted Gram matrices ``G_p`` of ``features`` (N x C x h x w) under the masks (N or
    B x P x h x w): N x P x C x C, and the area fractions N x P."""
    flat, weights = _shared_masks(features, masks)
    mass = weights.sum(dim=-1)
    grams = torch.einsum("npx,ncx,ndx->npcd", weights, flat, flat)
    return grams / mass.clamp(min=_MIN_MASS)[..., None, None], mass / flat.shape[-1]


def class_texture_distance(fake: Tensor, real: Tensor, masks: Tensor, statistics: str = "meanstd") -> Tensor:
    """Per-class texture distance ``T(p)`` of one layer (module docstring).

    ``fake``: (B * k) x C x h x w features of the k synthesized images of each layout (grouped by
    layout); ``real``: B x C x h x w; ``masks``: B x P x H x W class masks of any resolution
    (area-resized here). Returns B x k x P.
    """
    b = real.size(0)
    k = fake.size(0) // b
    layer_masks = area_resize(masks.to(real.dtype), (real.shape[-2], real.shape[-1]))
    if statistics == "meanstd":
        real_mean, real_std, area = class_moments(real, layer_masks)
        fake_mean, fake_std, _ = class_moments(fake, layer_masks)
        fake_mean = fake_mean.reshape(b, k, *fake_mean.shape[1:])
        fake_std = fake_std.reshape(b, k, *fake_std.shape[1:])
        distance = (fake_mean - real_mean.unsqueeze(1)).abs().mean(dim=-1)
        distance = distance + (fake_std - real_std.unsqueeze(1)).abs().mean(dim=-1)
    elif statistics == "gram":
        real_grams, area = class_gram_matrices(real, layer_masks)
        fake_grams, _ = class_gram_matrices(fake, layer_masks)
        fake_grams = fake_grams.reshape(b, k, *fake_grams.shape[1:])
        distance = (fake_grams - real_grams.unsqueeze(1)).abs().mean(dim=(-2, -1))
    else:
        raise ValueError(f"unknown texture statistics {statistics!r}; choose from {TEXTURE_STATISTICS}")
    return distance * area.unsqueeze(1)


@torch.no_grad()
def calibrate_texture_weights(
    extractor: torch.nn.Module, image_pairs: list[tuple[Tensor, Tensor]], statistics: str = "meanstd"
) -> list[float]:
    """Weights that make every level's texture term as large, on average over ``image_pairs``
    (e.g. photos and their blurred, noised copies), as the plain image L1 term: the CRN paper's
    balancing rule (Sec. 3.3) applied to the texture terms. Level 0 is the image itself.

    Returns L + 1 weights ``mean |a - b| / mean T_l(a, b)`` with the whole image as one region.
    """
    sums: list[float] | None = None
    for a, b in image_pairs:
        a, b = (x.unsqueeze(0) if x.dim() == 3 else x for x in (a, b))
        mask = torch.ones(a.shape[0], 1, *a.shape[-2:], dtype=a.dtype)
        terms = [float((a - b).abs().mean())]
        for fa, fb in zip([a, *extractor(a)], [b, *extractor(b)], strict=True):
            terms.append(float(class_texture_distance(fb, fa, mask, statistics).mean()))
        sums = terms if sums is None else [s + t for s, t in zip(sums, terms, strict=True)]
    if sums is None:
        raise ValueError("calibrate_texture_weights needs at least one image pair")
    image_term, levels = sums[0], sums[1:]
    return [image_term / value if value > 0 else 0.0 for value in levels]


def texture_weights_for(extractor: torch.nn.Module, scales: list[float], statistics: str = "meanstd") -> list[float]:
    """Absolute per-level weights: ``scales`` times the backbone's calibrated texture weights
    (``extractor.default_texture_weights``, shipped for EfficientNet-Lite's mean/std statistics); a
    backbone that ships none is calibrated here on rendered street photos
    (:func:`imsynth.models.backbones.calibrate.street_photo_pairs`, a few seconds)."""
    base = getattr(extractor, "default_texture_weights", None) if statistics == "meanstd" else None
    if base is None:
        from imsynth.models.backbones.calibrate import street_photo_pairs

        base = calibrate_texture_weights(extractor, street_photo_pairs(), statistics)
    if len(scales) != len(base):
        raise ValueError(
            f"{len(scales)} texture scales given for {len(base)} levels (the image plus the loss network's layers)"
        )
    return [float(scale) * weight for scale, weight in zip(scales, base, strict=True)]
