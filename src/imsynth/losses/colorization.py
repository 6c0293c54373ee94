"""Colorization losses (Zhang, Isola & Efros, ECCV 2016, Eq. 1-3).

* :func:`rebalanced_cross_entropy` -- Eq. 2 with the weights of Eq. 3:
  ``L_cl(Z^, Z) = - sum_{h,w} v(Z_hw) sum_q Z_hwq log Z^_hwq``, where ``Z`` is the soft-encoded
  target, ``Z^`` the predicted distribution (softmax of the logits) and ``v`` the per-pixel
  rebalancing weight. Here the sum is divided by the number of pixels in the batch, so the value
  is a per-pixel average and does not depend on batch or image size.
* :func:`ab_l2_loss` -- Eq. 1, the Euclidean loss of the regression baseline,
  ``L_2(Y^, Y) = 1/2 sum_{h,w} ||Y_hw - Y^_hw||^2``, also averaged per pixel; computed on
  ``ab / AB_SCALE`` so its size is comparable to the cross-entropy's.

Both accept per-pixel weights ``(N, h, w)``: zero for images with no colour.
"""

from __future__ import annotations

import torch
from torch import Tensor

from imsynth.models.colorizer import AB_SCALE

__all__ = ["rebalanced_cross_entropy", "ab_l2_loss"]


def rebalanced_cross_entropy(logits: Tensor, target: Tensor, pixel_weights: Tensor | None = None) -> Tensor:
    """Eq. 2: weighted multinomial cross-entropy; ``logits`` and ``target`` are ``(N, Q, h, w)``."""
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in shape")
    per_pixel = -(target * torch.log_softmax(logits.float(), dim=1)).sum(dim=1)
    if pixel_weights is not None:
        per_pixel = per_pixel * pixel_weights
    return per_pixel.mean()


def ab_l2_loss(predicted: Tensor, target_ab: Tensor, pixel_weights: Tensor | None = None) -> Tensor:
    """Eq. 1: ``1/2 ||Y - Y^||^2`` per pixel, with ``predicted`` in units of ``AB_SCALE`` and ``target_ab`` in ab."""
    per_pixel = 0.5 * ((predicted.float() - target_ab / AB_SCALE) ** 2).sum(dim=1)
    if pixel_weights is not None:
        per_pixel = per_pixel * pixel_weights
    return per_pixel.mean()
