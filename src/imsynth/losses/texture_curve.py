"""Does a loss reward texture? Its value against the texture strength of a candidate image.

A synthesized region can be right in colour and wrong in texture in two ways: too flat (the
blurred mean that pixel-aligned losses favour) or too rough. This probe measures which a loss
prefers. For a real photo ``A`` and a photo ``B`` of the same scene under the same light whose
textures have other phases (the street renderer's ``texture_seed``: what no layout determines),
every class region of ``B`` is scaled about its mean colour by a strength ``s``:

    ``B_s(x) = mean_p(B) + s * (B(x) - mean_p(B))``   for x in region p

(``s = 0``: each region one flat colour; ``s = 1``: ``B``; ``s > 1``: exaggerated texture), and the
loss ``L(B_s, A)`` is recorded for each ``s``. A loss that rewards photographic texture is lowest
near ``s = 1``; the CRN paper's image and shallow feature terms are lowest at a small ``s``, which
is why models trained with them come out flat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["DEFAULT_STRENGTHS", "scale_texture", "texture_strength_curve", "best_strength"]

DEFAULT_STRENGTHS = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5)

#: ``loss(fake, real, masks) -> scalar``; fake B x k x 3 x H x W (k = 1), real B x 3 x H x W,
#: masks B x P x H x W (one-hot class masks of the layout).
LossFunction = Callable[[Tensor, Tensor, Tensor], Tensor]


def scale_texture(images: Tensor, masks: Tensor, strength: float) -> Tensor:
    """``B_s`` of the module docstring: images B x 3 x H x W in [0, 1] with one-hot masks
    B x P x H x W; the result is clamped to [0, 1]."""
    mass = masks.sum(dim=(-2, -1)).clamp(min=1.0)  # B x P
    means = torch.einsum("bchw,bphw->bpc", images, masks) / mass.unsqueeze(-1)  # B x P x 3
    flat = torch.einsum("bpc,bphw->bchw", means, masks)
    return (flat + strength * (images - flat)).clamp(0.0, 1.0)


@torch.no_grad()
def texture_strength_curve(
    loss: LossFunction,
    reference: Tensor,
    texture_source: Tensor,
    masks: Tensor,
    strengths: Sequence[float] = DEFAULT_STRENGTHS,
) -> list[float]:
    """``loss(B_s, A)`` for every strength: ``reference`` = A, ``texture_source`` = B (both
    B x 3 x H x W in [0, 1]), ``masks`` their layout as one-hot B x P x H x W."""
    values = []
    for strength in strengths:
        candidate = scale_texture(texture_source, masks, strength)
        values.append(float(loss(candidate.unsqueeze(1), reference, masks)))
    return values


def best_strength(values: Sequence[float], strengths: Sequence[float] = DEFAULT_STRENGTHS) -> float:
    """The strength at which a curve of :func:`texture_strength_curve` is lowest."""
    return float(strengths[min(range(len(values)), key=values.__getitem__)])
