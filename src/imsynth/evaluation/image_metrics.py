"""Image-pair metrics (PSNR, SSIM, a deep-feature distance) and the diversity of variants.

All functions take ``B x 3 x H x W`` float images in ``[0, 1]`` and return one value per pair.

* **PSNR** ``= 10 log10(1 / MSE)`` over all pixels and channels (data range 1); identical images
  give ``inf`` unless ``max_db`` caps it.
* **SSIM** (Wang et al., IEEE TIP 2004) via ``kornia.metrics.ssim``: 11x11 Gaussian window,
  sigma 1.5, K1 = 0.01, K2 = 0.03, the map averaged over the "valid" window positions and the three
  channels -- the settings of the paper and of scikit-image's ``structural_similarity(...,
  gaussian_weights=True, use_sample_covariance=False)``.
* **Feature distance** (:class:`FeatureDistance`), in the style of LPIPS (Zhang et al., CVPR 2018,
  Eq. 1) but *not* LPIPS: LPIPS weights every channel with linear layers learned from human
  judgements; here the weights are uniform. For each layer ``l`` of a frozen ImageNet network the
  features are normalised to unit length along the channels, the squared difference is summed
  over channels and averaged over positions, and the layers are averaged with equal weights::

      d(x, y) = 1/L sum_l mean_hw || f_l(x)_hw / |f_l(x)_hw| - f_l(y)_hw / |f_l(y)_hw| ||^2

  Each term lies in [0, 4]. The default network is EfficientNet-Lite2 (its five stage outputs at
  strides 2-32), not the EfficientNet-Lite0 / VGG-19 of CRN's training loss.
* **Diversity** (:func:`pairwise_diversity`): the mean feature distance over all pairs of the ``k``
  variants synthesized for one layout (0 when the variants are identical).
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

__all__ = ["psnr", "ssim", "FeatureDistance", "pairwise_diversity", "SSIM_WINDOW"]

SSIM_WINDOW = 11


def _check_pair(a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"expected two B x C x H x W tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def psnr(a: Tensor, b: Tensor, data_range: float = 1.0, max_db: float | None = None) -> Tensor:
    """Peak signal-to-noise ratio in dB per image pair (``inf`` for identical images, or ``max_db``)."""
    _check_pair(a, b)
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(dim=1)
    value = 10 * torch.log10(data_range**2 / mse)  # mse == 0 -> +inf
    return value.clamp(max=max_db) if max_db is not None else value


def ssim(a: Tensor, b: Tensor, window_size: int = SSIM_WINDOW) -> Tensor:
    """Mean structural similarity per image pair (1 for identical images); see the module docstring."""
    import kornia

    _check_pair(a, b)
    if min(a.shape[-2:]) < window_size:
        raise ValueError(f"SSIM needs images of at least {window_size}x{window_size}, got {tuple(a.shape[-2:])}")
    ssim_map = kornia.metrics.ssim(a.float(), b.float(), window_size, max_val=1.0, eps=0.0, padding="valid")
    return ssim_map.flatten(1).mean(dim=1)


class FeatureDistance(nn.Module):
    """LPIPS-style distance with uniform layer weights over a frozen feature extractor.

    ``extractor`` maps ``B x 3 x H x W`` images in [0, 1] to a list of feature maps (any
    :class:`~imsynth.models.backbones.FeatureExtractor`); default: EfficientNet-Lite2.
    """

    def __init__(self, extractor: nn.Module | None = None, eps: float = 1e-10) -> None:
        super().__init__()
        if extractor is None:
            from imsynth.models.backbones import build_feature_extractor

            extractor = build_feature_extractor("efficientnet_lite2")
        self.extractor = extractor
        self.eps = eps

    @property
    def description(self) -> str:
        name = getattr(self.extractor, "name", type(self.extractor).__name__)
        layers = ", ".join(getattr(self.extractor, "layer_names", []))
        return (
            f"{name} features ({layers}), unit-normalised over channels, squared difference averaged "
            "over positions, uniform layer weights (LPIPS-style, not LPIPS)"
        )

    def features(self, images: Tensor) -> list[Tensor]:
        """The unit-normalised feature maps of ``images`` (reusable for many comparisons)."""
        return [f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + self.eps) for f in self.extractor(images)]

    @staticmethod
    def between(features_a: list[Tensor], features_b: list[Tensor]) -> Tensor:
        """Distance per pair from two lists of normalised feature maps (see :meth:`features`)."""
        pairs = zip(features_a, features_b, strict=True)
        terms = [(fa - fb).pow(2).sum(dim=1).flatten(1).mean(dim=1) for fa, fb in pairs]
        return torch.stack(terms).mean(dim=0)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        _check_pair(a, b)
        return self.between(self.features(a), self.features(b))


@torch.no_grad()
def pairwise_diversity(distance: FeatureDistance, variants: Tensor) -> float:
    """Mean :class:`FeatureDistance` over all ``k (k - 1) / 2`` pairs of ``k x 3 x H x W`` variants."""
    k = variants.shape[0]
    if k < 2:
        raise ValueError("diversity needs at least 2 variants of one layout")
    features = distance.features(variants)
    pairs = list(itertools.combinations(range(k), 2))
    first = [f[[i for i, _ in pairs]] for f in features]
    second = [f[[j for _, j in pairs]] for f in features]
    return float(FeatureDistance.between(first, second).mean())
