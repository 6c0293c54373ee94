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

import numpy as np
import torch
from torch import Tensor

from imsynth.data.labels import get_label_space
from imsynth.data.streets.layout import render_layout
from imsynth.data.streets.render import render_photo
from imsynth.nn.labelmaps import one_hot_with_void

__all__ = ["DEFAULT_STRENGTHS", "scale_texture", "texture_strength_curve", "best_strength", "street_probe"]

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


def street_probe(
    count: int, size: tuple[int, int], other: str = "appearance", seed: int = 1000
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(A, B, masks) for ``count`` layouts of the embedded street renderer: B has other textures
    (``other="texture"``: same light and camera, other texture phases) or is another photo of the
    layout altogether (``"appearance"``: other weather, exposure, white balance and textures -- what
    a training pair is to a model that cannot know the photo's appearance); masks are one-hot."""
    space = get_label_space("cityscapes")
    refs, others, masks = [], [], []
    for i in range(count):
        layout = render_layout(seed + i, *size)
        a = render_photo(layout, seed + i)
        if other == "texture":
            b = render_photo(layout, seed + i, texture_seed=seed + i + 7919)
        else:
            b = render_photo(layout, seed + i + 7919)
        train = torch.from_numpy(space.ids_to_train(np.asarray(layout.ids)).astype(np.int64))
        refs.append(torch.from_numpy(a).permute(2, 0, 1).float() / 255)
        others.append(torch.from_numpy(b).permute(2, 0, 1).float() / 255)
        masks.append(one_hot_with_void(train[None], space.num_classes, space.ignore_index)[0])
    return torch.stack(refs), torch.stack(others), torch.stack(masks)
