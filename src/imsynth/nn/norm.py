"""Normalisation layers.

:class:`LayerNorm2d` is the layer normalisation of Ba et al. (2016) as the Cascaded Refinement
Network uses it (Chen & Koltun, ICCV 2017, Sec. 3.3: "each convolutional layer is followed by
layer normalization and LReLU"). The variant matches TF-slim's ``layer_norm`` on an image
tensor with its default axes:

* statistics: one mean and one (biased) variance per sample, taken over **all** of (C, H, W);
* affine: a learned scale (init 1) and offset (init 0) **per channel**.

So it differs from :class:`torch.nn.GroupNorm` with one group only in that the affine
parameters are per channel, and from :class:`torch.nn.LayerNorm` over (C, H, W) in that the
parameters do not depend on the spatial size -- the layer works at any resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LayerNorm2d"]


class LayerNorm2d(nn.Module):
    """Layer norm over (C, H, W) of each sample of a B x C x H x W tensor, per-channel affine.

    ``y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c]`` with ``mean``/``var`` (biased)
    computed over all C*H*W elements of one sample.
    """

    def __init__(self, num_channels: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        if num_channels < 1:
            raise ValueError(f"num_channels must be >= 1, got {num_channels}")
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(num_channels))
            self.bias = nn.Parameter(torch.zeros(num_channels))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.size(1) != self.num_channels:
            raise ValueError(
                f"LayerNorm2d({self.num_channels}) expects B x {self.num_channels} x H x W, got shape {tuple(x.shape)}"
            )
        # Normalisation over every non-batch axis; the affine part is applied per channel below.
        y = F.layer_norm(x, x.shape[1:], weight=None, bias=None, eps=self.eps)
        if self.weight is not None and self.bias is not None:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y

    def extra_repr(self) -> str:
        return f"{self.num_channels}, eps={self.eps}, affine={self.affine}"
