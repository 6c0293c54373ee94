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
from torch import Tensor, nn

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
    """

    def __init__(
        self,
        extractor: nn.Module,
        layer_weights: Sequence[float] | None = None,
        min_weight: float = 0.999,
        mean_weight: float = 0.001,
    ) -> None:
        super().__init__()
        self.extractor = extractor
        self.layer_weights = resolve_layer_weights(extractor, layer_weights)
        self.min_weight = float(min_weight)
        self.mean_weight = float(mean_weight)

    def class_errors(self, fakes: Tensor, real: Tensor, masks: Tensor) -> list[Tensor]:
        """Weighted per-layer errors ``lambda_l * D_l(j, p)``: one B x k x P tensor per layer
        (zeros, without the comparison, for layers of weight 0)."""
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
            real_levels = [real.detach(), *self.extractor(real)]
        fake_levels = [flat, *self.extractor(flat)]
        _check_levels(fake_levels, self.layer_weights)
        errors: list[Tensor] = []
        for weight, r, f in zip(self.layer_weights, real_levels, fake_levels, strict=True):
            if weight == 0.0:
                errors.append(fakes.new_zeros(b, k, masks.size(1)))
                continue
            f = f.reshape(b, k, *f.shape[1:])
            distance = (f - r.unsqueeze(1)).abs().mean(dim=2)  # B x k x H_l x W_l
            h, w = distance.shape[-2:]
            layer_masks = area_resize(masks.to(distance.dtype), (h, w))  # B x P x H_l x W_l
            per_class = torch.einsum("bkhw,bphw->bkp", distance, layer_masks) / (h * w)
            errors.append(weight * per_class)
        return errors

    def forward(self, fakes: Tensor, real: Tensor, masks: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        errors = self.class_errors(fakes, real, masks)
        total = torch.stack(errors).sum(dim=0)  # B x k x P
        best, best_index = total.min(dim=1)  # B x P
        loss = (self.min_weight * best + self.mean_weight * total.mean(dim=1)).sum(dim=1).mean()
        # Per-layer share of the loss: each layer's error at the per-class best image, plus its
        # share of the mean term; these add up to the loss.
        terms: dict[str, Tensor] = {}
        with torch.no_grad():
            index = best_index.unsqueeze(1)  # B x 1 x P
            for l, (weight, err) in enumerate(zip(self.layer_weights, errors, strict=True)):
                if weight == 0.0:
                    continue
                chosen = err.gather(1, index).squeeze(1)
                share = self.min_weight * chosen + self.mean_weight * err.mean(dim=1)
                terms[f"layer{l}"] = share.sum(dim=1).mean()
        return loss, terms
