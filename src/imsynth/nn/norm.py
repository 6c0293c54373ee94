"""Normalisation layers.

:class:`LayerNorm2d` is the layer normalisation of Ba et al. (2016) as the Cascaded Refinement
Network uses it (Chen & Koltun, ICCV 2017, Sec. 3.3: "each convolutional layer is followed by
layer normalization and LReLU"). The variant matches TF-slim's ``layer_norm`` on an image
tensor with its default axes:

* statistics: one mean and one (biased) variance per sample, taken over **all** of (C, H, W);
* affine: a learned scale (init 1) and offset (init 0) **per channel**.

That is exactly :class:`torch.nn.GroupNorm` with one group, so the layer *is* one (PyTorch's fused
kernel; parameters ``weight`` and ``bias`` as before, so checkpoints of the hand-written version load
unchanged and give the same outputs to float round-off). Unlike :class:`torch.nn.LayerNorm` over
(C, H, W) its parameters do not depend on the spatial size -- the layer works at any resolution.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["LayerNorm2d"]


class LayerNorm2d(nn.GroupNorm):
    """Layer norm over (C, H, W) of each sample of a B x C x H x W tensor, per-channel affine.

    ``y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c]`` with ``mean``/``var`` (biased)
    computed over all C*H*W elements of one sample: ``nn.GroupNorm(1, num_channels)``.
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
        return super().forward(x)

    def extra_repr(self) -> str:
        return f"{self.num_channels}, eps={self.eps}, affine={self.affine}"
