"""Normalisation layers.

:class:`LayerNorm2d` is the layer normalisation of Ba et al. (2016) as the Cascaded Refinement
Network uses it (Chen & Koltun, ICCV 2017, Sec. 3.3: "each convolutional layer is followed by
layer normalization and LReLU"). The variant matches TF-slim's ``layer_norm`` on an image
tensor with its default axes:

* statistics: one mean and one (biased) variance per sample, taken over **all** of (C, H, W);
* affine: a learned scale (init 1) and offset (init 0) **per channel**.

That is exactly :class:`torch.nn.GroupNorm` with one group, so the layer *is* one (parameters
``weight`` and ``bias`` as in the hand-written version before it, so its checkpoints load unchanged
and give the same outputs to float round-off). Unlike :class:`torch.nn.LayerNorm` over (C, H, W)
its parameters do not depend on the spatial size -- the layer works at any resolution.

**Two formulations, one result.** On a CPU the layer runs PyTorch's fused ``group_norm`` kernel
(:func:`layer_norm_2d_fused`), the fastest there. On every other device (a GPU) it must not:
CUDA's ``group_norm`` and ``layer_norm`` kernels give each row (each sample, or (sample, group))
to ONE thread block, and a CRN layer at 256x512 with 512 channels and batch 1 is one row of 67
million elements -- a single multiprocessor normalised it while the others idled, and eager CRN
ran at about 1% of an H200 (issue 16). There the statistics come from ``torch.var_mean`` over
(C, H, W), an ordinary reduction whose kernels spread one output over the whole GPU, and
normalisation and affine fold into one ``addcmul`` (:func:`layer_norm_2d`)::

    scale = weight[c] / sqrt(var + eps)         # B x C x 1 x 1
    shift = bias[c] - mean * scale              # B x C x 1 x 1
    y     = x * scale + shift                   # one element-wise pass, any memory format

which also keeps less for the backward pass (``x`` and the small ``scale``). Under autocast its
statistics and output are float32, as CUDA's autocast does for ``group_norm``. The two agree to
float32 rounding (about 1e-6 relative).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LayerNorm2d", "layer_norm_2d", "layer_norm_2d_fused"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


class LayerNorm2d(nn.GroupNorm):
    """Layer norm over (C, H, W) of each sample of a B x C x H x W tensor, per-channel affine.

    ``y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c]`` with ``mean``/``var`` (biased)
    computed over all C*H*W elements of one sample: ``nn.GroupNorm(1, num_channels)``, computed by
    :func:`layer_norm_2d` off the CPU (module docstring).
    """

    def __init__(self, num_channels: int, eps: float = 1e-5, affine: bool = True) -> None:
        if num_channels < 1:
            raise ValueError(f"num_channels must be >= 1, got {num_channels}")
        super().__init__(1, num_channels, eps=eps, affine=affine)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.size(1) != self.num_channels:
            raise ValueError(
                f"LayerNorm2d({self.num_channels}) expects B x {self.num_channels} x H x W, got shape {tuple(x.shape)}"
            )
        if x.device.type == "cpu":
            return super().forward(x)
        return layer_norm_2d(x, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_channels}, eps={self.eps}, affine={self.affine}"


def layer_norm_2d(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float = 1e-5) -> Tensor:
    """Layer norm of each sample over (C, H, W) with a per-channel affine, from ordinary reductions
    (the GPU formulation, module docstring): every kernel spreads over the whole device."""
    dtype = x.dtype
    if dtype in _LOW_PRECISION:  # statistics in float32, as autocast does for layer_norm
        x = x.float()
    var, mean = torch.var_mean(x, dim=(1, 2, 3), keepdim=True, correction=0)
    scale = torch.rsqrt(var + eps)  # B x 1 x 1 x 1
    if weight is not None and bias is not None:
        scale = scale * weight.to(x.dtype).view(1, -1, 1, 1)  # B x C x 1 x 1
        shift = bias.to(x.dtype).view(1, -1, 1, 1) - mean * scale
    else:
        shift = -mean * scale
    y = torch.addcmul(shift, x, scale)
    if dtype in _LOW_PRECISION and not torch.is_autocast_enabled(y.device.type):
        y = y.to(dtype)  # a half-precision network keeps its dtype; under autocast the output stays float32
    return y


def layer_norm_2d_fused(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float = 1e-5) -> Tensor:
    """The same with PyTorch's fused ``group_norm`` kernel, one group (the CPU formulation)."""
    return F.group_norm(x, 1, weight, bias, eps)
