"""Perceptual losses of the Cascaded Refinement Network (Chen & Koltun 2017, Sec. 3.3-3.4).

Both losses compare images in the feature space of a fixed network Phi (VGG-19 in the paper).
They are written against a small contract, :class:`FeatureExtractor`, not a concrete network:

* ``extractor(images)`` with B x 3 x H x W images in [0, 1] returns a list of the L feature maps
  Phi_1 .. Phi_L (the extractor does its own preprocessing);
* ``extractor.default_layer_weights`` holds L + 1 weights lambda_0 .. lambda_L, where layer 0 is
  the image itself.

Layer 0 here is the [0, 1] image (the authors compare 0..255 pixels); any such scale factor is
absorbed by lambda_0.

* :class:`FeatureMatchingLoss` -- Eq. 1:
  ``L = sum_l lambda_l * mean |Phi_l(real) - Phi_l(fake)|`` (mean over the layer's elements).
* :class:`DiversityLoss` -- Sec. 3.4: the network emits k images; for every semantic class p
  the loss only counts the image that renders that class best. With masks M_p area-downsampled
  to each layer's resolution,

  ``D(j, p) = sum_l lambda_l * mean_pixels( M_p^l * mean_channels |Phi_l(real) - Phi_l(fake_j)| )``

  ``L = mean_batch sum_p [ a * min_j D(j, p) + b * mean_j D(j, p) ]``

  with a = 0.999 and b = 0.001 as in the authors' code (the small mean term gives every one of
  the k images some gradient). With k = 1 and masks that sum to one this is Eq. 1 exactly.

Both return ``(loss, terms)``: a scalar tensor and a dict of detached per-layer contributions
(``"layer0"``, ``"layer1"``, ...) that add up to the loss, for logging.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from imsynth.losses.texture import TEXTURE_STATISTICS, class_texture_distance
from imsynth.nn.labelmaps import area_resize

__all__ = ["FeatureExtractor", "resolve_layer_weights", "FeatureMatchingLoss", "DiversityLoss"]


@runtime_checkable
class FeatureExtractor(Protocol):
    """What the losses need from a feature network (e.g. a frozen VGG-19)."""

    default_layer_weights: Sequence[float]

    def __call__(self, images: Tensor) -> list[Tensor]:
        """B x 3 x H x W images in [0, 1] -> L feature maps B x C_l x H_l x W_l."""
        ...


def resolve_layer_weights(extractor: nn.Module, layer_weights: Sequence[float] | None) -> list[float]:
    """``layer_weights`` or, if None, ``extractor.default_layer_weights`` (L + 1 values)."""
    weights = extractor.default_layer_weights if layer_weights is None else layer_weights
    return [float(w) for w in weights]  # type: ignore[union-attr]


def _check_levels(levels: list[Tensor], weights: list[float]) -> None:
    if len(levels) != len(weights):
        raise ValueError(
            f"{len(weights)} layer weights given for {len(levels)} levels "
            f"(the image plus {len(levels) - 1} extractor layers)"
        )


class FeatureMatchingLoss(nn.Module):
    """Feature-matching ("content") loss, paper Eq. 1.

    ``forward(fake, real)`` with B x 3 x H x W images in [0, 1]. The real image's features are
    computed without gradient; the fake's carry gradient back to the generator.
    """

    def __init__(self, extractor: nn.Module, layer_weights: Sequence[float] | None = None) -> None:
        super().__init__()
        self.extractor = extractor
        self.layer_weights = resolve_layer_weights(extractor, layer_weights)

    def forward(self, fake: Tensor, real: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        if fake.shape != real.shape or fake.dim() != 4:
            raise ValueError(
                f"fake and real must both be B x 3 x H x W, got {tuple(fake.shape)} and {tuple(real.shape)}"
            )
        with torch.no_grad():
            real_levels = [real.detach(), *self.extractor(real)]
        fake_levels = [fake, *self.extractor(fake)]
        _check_levels(fake_levels, self.layer_weights)
        terms: dict[str, Tensor] = {}
        total = fake.new_zeros(())
        for l, (weight, r, f) in enumerate(zip(self.layer_weights, real_levels, fake_levels, strict=True)):
            if weight == 0.0:
                continue
            term = weight * (r - f).abs().mean()
            terms[f"layer{l}"] = term.detach()
            total = total + term
        return total, terms


class DiversityLoss(nn.Module):
    """Per-class minimum feature-matching loss over k synthesised images, paper Sec. 3.4.

    ``forward(fakes, real, masks)``: ``fakes`` B x k x 3 x H x W, ``real`` B x 3 x H x W (both
    [0, 1]), ``masks`` float B x P x H' x W' class masks -- for CRN the C classes plus void, i.e.
    the one-hot label map (:meth:`imsynth.models.crn.CRN.prepare_labels`). Masks are area-resized
    to every layer's resolution. The extractor runs once on the real batch and once on all B*k
    fakes together.

    ``min_weight`` / ``mean_weight`` are a and b of the module docstring (0.999 / 0.001).

    Two additions to the paper's terms, both off by default (they are levers of the
    photographic-output ablation, see :class:`imsynth.methods.crn.PerceptualLossConfig`):

    * ``texture_weights`` (L + 1 values, level 0 = the image): per-class distances between feature
      statistics (``texture_statistics``: per-channel mean and standard deviation, or Gram
      matrices; :func:`imsynth.losses.texture.class_texture_distance`), which reward texture of
      the right statistics wherever it lies; they enter ``D(j, p)`` beside the feature terms, so
      the minimum over the k images covers them too.
    * ``image_downsample`` = f > 1 compares the images (level 0) after f x f area averaging:
      colours and shading are still matched, but texture finer than f pixels, whose phase no
      layout can predict, is no longer pulled towards its blurred mean.
    """

    def __init__(
        self,
        extractor: nn.Module,
        layer_weights: Sequence[float] | None = None,
        min_weight: float = 0.999,
        mean_weight: float = 0.001,
        texture_weights: Sequence[float] | None = None,
        image_downsample: int = 1,
        texture_statistics: str = "meanstd",
    ) -> None:
        super().__init__()
        self.extractor = extractor
        self.layer_weights = resolve_layer_weights(extractor, layer_weights)
        self.texture_weights = [float(w) for w in texture_weights] if texture_weights else []
        if self.texture_weights and len(self.texture_weights) != len(self.layer_weights):
            raise ValueError(
                f"{len(self.texture_weights)} texture weights given for {len(self.layer_weights)} levels "
                "(the image plus the extractor layers)"
            )
        if texture_statistics not in TEXTURE_STATISTICS:
            raise ValueError(f"texture_statistics must be one of {TEXTURE_STATISTICS}, got {texture_statistics!r}")
        self.texture_statistics = texture_statistics
        if int(image_downsample) < 1:
            raise ValueError(f"image_downsample must be >= 1, got {image_downsample}")
        self.image_downsample = int(image_downsample)
        self.min_weight = float(min_weight)
        self.mean_weight = float(mean_weight)

    def _levels(self, images: Tensor) -> list[Tensor]:
        """The image (area-downsampled by ``image_downsample``) and the extractor's feature maps."""
        image = F.avg_pool2d(images, self.image_downsample) if self.image_downsample > 1 else images
        return [image, *self.extractor(images)]

    def class_errors(self, fakes: Tensor, real: Tensor, masks: Tensor) -> dict[str, Tensor]:
        """Weighted per-class errors, one B x k x P tensor per term of non-zero weight:
        ``"layer{l}"`` = ``lambda_l * D_l(j, p)`` and ``"texture{l}"`` = the texture term of level l."""
        shapes_match = fakes.dim() == 5 and real.dim() == 4 and fakes.shape[2:] == real.shape[1:]
        if not shapes_match or fakes.size(0) != real.size(0):
            raise ValueError(
                f"fakes must be B x k x 3 x H x W and real B x 3 x H x W, "
                f"got {tuple(fakes.shape)} and {tuple(real.shape)}"
            )
        if masks.dim() != 4 or masks.size(0) != real.size(0):
            raise ValueError(f"masks must be B x P x H x W, got {tuple(masks.shape)}")
        b, k = fakes.shape[:2]
        flat = fakes.reshape(b * k, *fakes.shape[2:])
        with torch.no_grad():
            real_levels = self._levels(real.detach())
        fake_levels = self._levels(flat)
        _check_levels(fake_levels, self.layer_weights)
        texture_weights = self.texture_weights or [0.0] * len(self.layer_weights)
        errors: dict[str, Tensor] = {}
        for level, (weight, texture_weight, r, f) in enumerate(
            zip(self.layer_weights, texture_weights, real_levels, fake_levels, strict=True)
        ):
            if weight != 0.0:
                distance = (f.reshape(b, k, *f.shape[1:]) - r.unsqueeze(1)).abs().mean(dim=2)  # B x k x h x w
                h, w = distance.shape[-2:]
                layer_masks = area_resize(masks.to(distance.dtype), (h, w))  # B x P x h x w
                errors[f"layer{level}"] = weight * torch.einsum("bkhw,bphw->bkp", distance, layer_masks) / (h * w)
            if texture_weight != 0.0:
                errors[f"texture{level}"] = texture_weight * class_texture_distance(
                    f, r, masks, self.texture_statistics
                )
        return errors

    def forward(self, fakes: Tensor, real: Tensor, masks: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        errors = self.class_errors(fakes, real, masks)
        if not errors:
            raise ValueError("every layer and texture weight is 0: the loss would be constant")
        total = torch.stack(list(errors.values())).sum(dim=0)  # B x k x P
        best, best_index = total.min(dim=1)  # B x P
        loss = (self.min_weight * best + self.mean_weight * total.mean(dim=1)).sum(dim=1).mean()
        # Per-term share of the loss: each term's error at the per-class best image, plus its
        # share of the mean term; these add up to the loss.
        terms: dict[str, Tensor] = {}
        with torch.no_grad():
            index = best_index.unsqueeze(1)  # B x 1 x P
            for name, err in errors.items():
                chosen = err.gather(1, index).squeeze(1)
                share = self.min_weight * chosen + self.mean_weight * err.mean(dim=1)
                terms[name] = share.sum(dim=1).mean()
        return loss, terms
