"""Shared convolutional building blocks.

* :class:`ConvNormAct` -- convolution -> normalisation -> activation. With its defaults
  (3x3, padding 1, no bias, :class:`~imsynth.nn.norm.LayerNorm2d`, LReLU(0.2)) it is exactly one
  layer of a Cascaded Refinement Network module (Chen & Koltun 2017, Sec. 3.3). Its ``stride``,
  ``dilation`` and ``groups`` arguments make it the generic dilated / grouped convolution block
  as well (e.g. the dilated layers of Zhang et al.'s colorization network, Sec. 3 of
  arXiv 1603.08511, or depthwise convolutions with ``groups == in_channels``).
* :class:`ResidualBlock` -- ``x + F(x)`` with ``F`` = ConvNormAct followed by conv -> norm (He et
  al. 2016, Fig. 2; the "residual block" of Johnson et al. 2016 with the same-width convs).

Normalisations and activations are chosen by name through :func:`make_norm` and
:func:`make_activation` so that configs stay plain strings.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from imsynth.nn.norm import LayerNorm2d

PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]

__all__ = ["NormKind", "ActivationKind", "make_norm", "make_activation", "ConvNormAct", "ResidualBlock"]

NormKind = Literal["layer", "batch", "instance", "none"]
ActivationKind = Literal["lrelu", "relu", "tanh", "sigmoid", "none"]


def make_norm(kind: str, num_channels: int) -> nn.Module:
    """Normalisation layer by name: ``layer`` (:class:`LayerNorm2d`), ``batch``, ``instance``
    (with per-channel affine) or ``none`` (identity)."""
    if kind == "layer":
        return LayerNorm2d(num_channels)
    if kind == "batch":
        return nn.BatchNorm2d(num_channels)
    if kind == "instance":
        return nn.InstanceNorm2d(num_channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; expected one of 'layer', 'batch', 'instance', 'none'")


def make_activation(kind: str, negative_slope: float = 0.2) -> nn.Module:
    """Activation by name: ``lrelu`` (slope ``negative_slope``; 0.2 in CRN), ``relu``, ``tanh``,
    ``sigmoid`` or ``none`` (identity)."""
    if kind == "lrelu":
        return nn.LeakyReLU(negative_slope)
    if kind == "relu":
        return nn.ReLU()
    if kind == "tanh":
        return nn.Tanh()
    if kind == "sigmoid":
        return nn.Sigmoid()
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown activation {kind!r}; expected one of 'lrelu', 'relu', 'tanh', 'sigmoid', 'none'")


class ConvNormAct(nn.Module):
    """Convolution -> normalisation -> activation, "same" padding for odd kernels.

    ``padding = dilation * (kernel_size - 1) // 2``, so at stride 1 the spatial size is kept.
    ``bias=None`` (default) puts a bias on the convolution only when there is no normalisation
    (a bias right before a normalisation is cancelled by its mean subtraction; CRN's convolutions
    have none). Convolution weights use PyTorch's default (Kaiming-uniform) initialisation.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        norm: str = "layer",
        activation: str = "lrelu",
        negative_slope: float = 0.2,
        bias: bool | None = None,
        padding_mode: PaddingMode = "zeros",
    ) -> None:
        super().__init__()
        use_bias = (norm == "none") if bias is None else bias
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=dilation * (kernel_size - 1) // 2,
            dilation=dilation,
            groups=groups,
            bias=use_bias,
            padding_mode=padding_mode,
        )
        self.norm = make_norm(norm, out_channels)
        self.act = make_activation(activation, negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.norm(self.conv(x)))


class ResidualBlock(nn.Module):
    """Same-width residual block ``out = x + norm(conv(act(norm(conv(x)))))`` (He et al. 2016).

    Both convolutions share ``kernel_size``, ``dilation``, ``groups`` and ``padding_mode``; the
    second has no activation so the identity path stays linear (an optional activation after
    the sum is ``post_activation``).
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 3,
        *,
        dilation: int = 1,
        groups: int = 1,
        norm: str = "layer",
        activation: str = "lrelu",
        negative_slope: float = 0.2,
        padding_mode: PaddingMode = "zeros",
        post_activation: str = "none",
    ) -> None:
        super().__init__()

        def conv(act: str) -> ConvNormAct:
            return ConvNormAct(
                channels,
                channels,
                kernel_size,
                dilation=dilation,
                groups=groups,
                norm=norm,
                activation=act,
                negative_slope=negative_slope,
                padding_mode=padding_mode,
            )

        self.body = nn.Sequential(conv(activation), conv("none"))
        self.post = make_activation(post_activation, negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        return self.post(x + self.body(x))
