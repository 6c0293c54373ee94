"""pix2pix networks (Isola et al., "Image-to-Image Translation with Conditional Adversarial
Networks", CVPR 2017, arXiv 1611.07004): the U-Net and ResNet generators and the PatchGAN
discriminator.

Notation of the paper (Sec. 6.1.1): ``Ck`` is Convolution-Norm-ReLU with k filters, ``CDk`` the
same with dropout 0.5; all convolutions are 4x4 with stride 2; encoder ReLUs are leaky (0.2),
decoder ReLUs are not.

* :class:`UNetGenerator` (Sec. 3.2.1, 6.1.1) -- ``depth`` stride-2 downsamplings (8 for
  ``unet_256``, 7 for ``unet_128``); encoder C64-C128-C256-C512-...-C512 (the first and the
  innermost without norm); the decoder mirrors it with ReLU + transposed convolutions, each
  level's output concatenated with its mirror encoder input (:mod:`imsynth.nn.unet`); a final
  transposed convolution to the output channels and tanh. Dropout 0.5 in the three decoder
  blocks just outside the innermost one -- the public implementation's placement; the paper's
  appendix lists it on the innermost three (CD512-CD1024-CD1024). It is the generator's only
  noise source (Sec. 3.1), active at test time as well (Sec. 3.3).
* :class:`ResNetGenerator` -- Johnson et al. (2016): c7s1-64, d128, d256, ``num_blocks``
  residual blocks (:class:`~imsynth.nn.blocks.ResidualBlock`, reflection padding), u128, u64,
  c7s1-3, tanh.
* :class:`PatchDiscriminator` (Sec. 3.2.2) -- classifies each N x N patch as real or fake:
  C64 (no norm) - C128 - C256 (stride 2) - C512 (stride 1) - 1 channel (stride 1), LeakyReLU 0.2,
  for the default ``n_layers=3`` a 70x70 receptive field; ``n_layers`` 1 gives 16x16, 5 gives
  286x286 (the "ImageGAN" at 256x256) and 0 the 1x1 "PixelGAN" (Sec. 4.4, Table 3).
  :func:`receptive_field` computes N from the list of (kernel, stride) layers.

Generators work in [-1, 1] (tanh output); datasets give [0, 1], so callers convert at the
boundary (:func:`to_signed` / :func:`to_unit`). Weights are drawn from N(0, 0.02) (Sec. 6.2),
norm scales from N(1, 0.02) (:func:`init_gan_weights`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from imsynth.nn.blocks import ConvNormAct, ResidualBlock, make_norm
from imsynth.nn.unet import UNetSkipBlock, nest_unet, unet_levels

__all__ = [
    "GeneratorConfig",
    "DiscriminatorConfig",
    "UNetLevelPlan",
    "unet_plan",
    "UNetGenerator",
    "ResNetGenerator",
    "PatchDiscriminator",
    "receptive_field",
    "generator_config_from_name",
    "build_generator",
    "build_discriminator",
    "init_gan_weights",
    "generator_test_mode",
    "to_signed",
    "to_unit",
]

NormName = Literal["batch", "instance", "none"]
MAX_WIDTH_FACTOR = 8  # widths stop growing at 8 x the base width (C512 for base 64)


# ----------------------------------------------------------------------------- configs
@dataclass
class GeneratorConfig:
    """A pix2pix generator: ``arch="unet"`` with ``depth`` downsamplings or ``arch="resnet"``
    with ``num_blocks`` residual blocks. ``dropout`` is the drop probability of the noise layers
    (U-Net: in ``dropout_blocks`` decoder blocks next to the innermost; ResNet: inside every block)."""

    arch: Literal["unet", "resnet"] = "unet"
    depth: int = 8  # unet_256: 8, unet_128: 7
    num_blocks: int = 9  # resnet_9blocks / resnet_6blocks
    ngf: int = 64
    norm: NormName = "batch"
    dropout: float = 0.5
    dropout_blocks: int = 3
    in_channels: int = 3
    out_channels: int = 3

    def __post_init__(self) -> None:
        if self.arch not in ("unet", "resnet"):
            raise ValueError(f"generator arch must be 'unet' or 'resnet', got {self.arch!r}")
        if self.depth < 2:
            raise ValueError(f"a U-Net needs depth >= 2 downsamplings, got {self.depth}")
        if self.num_blocks < 0 or self.ngf < 1 or self.in_channels < 1 or self.out_channels < 1:
            raise ValueError("num_blocks must be >= 0 and ngf, in_channels, out_channels >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.dropout_blocks < 0:
            raise ValueError(f"dropout_blocks must be >= 0, got {self.dropout_blocks}")

    @property
    def name(self) -> str:
        """The public implementation's name: ``unet_256``, ``resnet_9blocks``..."""
        return f"unet_{2**self.depth}" if self.arch == "unet" else f"resnet_{self.num_blocks}blocks"

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this: 2^depth (U-Net) or 4 (ResNet)."""
        return 2**self.depth if self.arch == "unet" else 4


@dataclass
class DiscriminatorConfig:
    """A PatchGAN: ``n_layers`` stride-2 layers (3 -> 70x70 patches; 0 -> the 1x1 PixelGAN)."""

    ndf: int = 64
    n_layers: int = 3
    norm: NormName = "batch"

    def __post_init__(self) -> None:
        if self.n_layers < 0 or self.ndf < 1:
            raise ValueError(f"n_layers must be >= 0 and ndf >= 1, got {self.n_layers}, {self.ndf}")


_NAME = re.compile(r"^(?:unet_(\d+)|resnet_(\d+)blocks)$")


def generator_config_from_name(name: str, **overrides: object) -> GeneratorConfig:
    """``unet_256`` / ``unet_128`` / ``unet_<2^d>`` / ``resnet_9blocks`` / ``resnet_<n>blocks``."""
    match = _NAME.match(name)
    if match is None:
        raise ValueError(
            f"unknown generator {name!r}: use unet_256, unet_128, unet_<2^depth> (e.g. unet_32) "
            "or resnet_<n>blocks (e.g. resnet_9blocks)"
        )
    if match.group(1) is not None:
        size = int(match.group(1))
        if size < 4 or size & (size - 1):
            raise ValueError(f"{name}: the U-Net size must be a power of two >= 4 (2^depth)")
        return GeneratorConfig(arch="unet", depth=int(math.log2(size)), **overrides)  # type: ignore[arg-type]
    return GeneratorConfig(arch="resnet", num_blocks=int(match.group(2)), **overrides)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- U-Net
@dataclass(frozen=True)
class UNetLevelPlan:
    """Level ``level`` (0 = outermost) of a U-Net: its encoder conv ``down_in -> down_out``, its
    decoder transposed conv ``up_in -> up_out`` and what follows them."""

    level: int
    down_in: int
    down_out: int
    down_norm: bool
    up_in: int
    up_out: int
    up_norm: bool
    dropout: bool

    @property
    def innermost(self) -> bool:
        return self.up_in == self.down_out


def unet_plan(config: GeneratorConfig) -> list[UNetLevelPlan]:
    """The layer list of a U-Net, outermost level first (pix2pix Sec. 6.1.1).

    Encoder widths ``ngf * min(2^i, 8)``; no norm on the outermost and innermost encoder convs;
    every decoder conv but the last is normalised; the ``dropout_blocks`` decoder blocks just
    outside the innermost level (never the outermost) get dropout.
    """
    depth = config.depth
    widths = [config.ngf * min(2**i, MAX_WIDTH_FACTOR) for i in range(depth)]
    with_dropout = set(range(max(1, depth - 1 - config.dropout_blocks), depth - 1)) if config.dropout > 0 else set()
    plan = []
    for i, width in enumerate(widths):
        innermost = i == depth - 1
        plan.append(
            UNetLevelPlan(
                level=i,
                down_in=config.in_channels if i == 0 else widths[i - 1],
                down_out=width,
                down_norm=0 < i < depth - 1 and config.norm != "none",
                up_in=width if innermost else 2 * width,  # the inner level's skip doubles the channels
                up_out=config.out_channels if i == 0 else widths[i - 1],
                up_norm=i > 0 and config.norm != "none",
                dropout=i in with_dropout,
            )
        )
    return plan


def _unet_level(plan: UNetLevelPlan, config: GeneratorConfig) -> tuple[nn.Sequential, nn.Sequential]:
    """Encoder ``[LReLU] -> Conv 4x4/2 -> [norm]`` and decoder ``ReLU -> ConvT 4x4/2 -> norm|tanh -> [dropout]``.

    Activations come first (pre-activation), so the skip carries the encoder's raw output and
    the decoder's ReLU acts on the concatenation, as in the public implementation. A conv has a
    bias only when no norm follows it.
    """
    down: list[nn.Module] = [] if plan.level == 0 else [nn.LeakyReLU(0.2)]
    down.append(nn.Conv2d(plan.down_in, plan.down_out, 4, stride=2, padding=1, bias=not plan.down_norm))
    if plan.down_norm:
        down.append(make_norm(config.norm, plan.down_out))
    up: list[nn.Module] = [
        nn.ReLU(),
        nn.ConvTranspose2d(plan.up_in, plan.up_out, 4, stride=2, padding=1, bias=not plan.up_norm),
    ]
    up.append(make_norm(config.norm, plan.up_out) if plan.up_norm else nn.Tanh() if plan.level == 0 else nn.Identity())
    if plan.dropout:
        up.append(nn.Dropout(config.dropout))
    return nn.Sequential(*down), nn.Sequential(*up)


class UNetGenerator(nn.Module):
    """U-Net generator ``B x in x H x W -> B x out x H x W`` in [-1, 1]; H, W multiples of 2^depth."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        if config.arch != "unet":
            raise ValueError(f"UNetGenerator needs arch='unet', got {config.arch!r}")
        self.config = config
        self.plan = unet_plan(config)
        self.net = nest_unet([_unet_level(level, config) for level in self.plan])

    def levels(self) -> list[UNetSkipBlock]:
        """The U-Net levels, outermost first (``levels()[i].down`` / ``.up`` are the layers of level i)."""
        return unet_levels(self.net)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def extra_repr(self) -> str:
        return f"{self.config.name}, ngf={self.config.ngf}, norm={self.config.norm}"


# ----------------------------------------------------------------------------- ResNet
def _residual_block(channels: int, config: GeneratorConfig) -> ResidualBlock:
    """``x + norm(conv(dropout(relu(norm(conv(x))))))`` with reflection padding (Johnson et al.)."""
    block = ResidualBlock(channels, 3, norm=config.norm, activation="relu", padding_mode="reflect")
    if config.dropout > 0:
        first, second = block.body
        block.body = nn.Sequential(first, nn.Dropout(config.dropout), second)
    return block


class ResNetGenerator(nn.Module):
    """ResNet generator (Johnson et al. 2016): two stride-2 downsamplings, ``num_blocks``
    residual blocks at 4 x ngf channels, two transposed-conv upsamplings, 7x7 conv, tanh."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        if config.arch != "resnet":
            raise ValueError(f"ResNetGenerator needs arch='resnet', got {config.arch!r}")
        self.config = config
        ngf, norm = config.ngf, config.norm
        layers: list[nn.Module] = [
            ConvNormAct(config.in_channels, ngf, 7, norm=norm, activation="relu", padding_mode="reflect"),
            ConvNormAct(ngf, 2 * ngf, 3, stride=2, norm=norm, activation="relu"),
            ConvNormAct(2 * ngf, 4 * ngf, 3, stride=2, norm=norm, activation="relu"),
        ]
        layers += [_residual_block(4 * ngf, config) for _ in range(config.num_blocks)]
        for width in (2 * ngf, ngf):
            layers += [
                nn.ConvTranspose2d(2 * width, width, 3, stride=2, padding=1, output_padding=1, bias=norm == "none"),
                make_norm(norm, width),
                nn.ReLU(),
            ]
        layers += [nn.Conv2d(ngf, config.out_channels, 7, padding=3, padding_mode="reflect"), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def extra_repr(self) -> str:
        return f"{self.config.name}, ngf={self.config.ngf}, norm={self.config.norm}"


# ----------------------------------------------------------------------------- PatchGAN
def receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    """Receptive field (pixels per side) of one output unit of a stack of ``(kernel, stride)``
    convolutions, first layer first: ``r <- (r - 1) * stride + kernel`` from the output back."""
    field = 1
    for kernel, stride in reversed(layers):
        field = (field - 1) * stride + kernel
    return field


class PatchDiscriminator(nn.Module):
    """PatchGAN (Sec. 3.2.2): a fully convolutional net giving one real/fake logit per patch.

    ``in_channels`` is the channels of the concatenated (input, output) pair (conditional D).
    ``n_layers`` >= 1: C(ndf) 4x4/2 without norm, ``n_layers - 1`` more 4x4/2 layers, one 4x4/1
    layer (widths ``ndf * min(2^n, 8)``, LeakyReLU 0.2), then a 4x4/1 conv to one channel.
    ``n_layers = 0``: the PixelGAN, C(ndf) - C(2 ndf) - 1 with 1x1 convolutions.
    """

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        self.n_layers = n_layers
        if n_layers == 0:
            layers: list[nn.Module] = [
                ConvNormAct(in_channels, ndf, 1, norm="none"),
                ConvNormAct(ndf, 2 * ndf, 1, norm=norm),
                nn.Conv2d(2 * ndf, 1, 1),
            ]
        else:
            layers = [ConvNormAct(in_channels, ndf, 4, stride=2, norm="none")]
            width = ndf
            for n in range(1, n_layers + 1):
                previous, width = width, ndf * min(2**n, MAX_WIDTH_FACTOR)
                layers.append(ConvNormAct(previous, width, 4, stride=2 if n < n_layers else 1, norm=norm))
            layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)

    def conv_layers(self) -> list[tuple[int, int]]:
        """``(kernel, stride)`` of every convolution, input side first."""
        return [(m.kernel_size[0], m.stride[0]) for m in self.modules() if isinstance(m, nn.Conv2d)]

    @property
    def receptive_field(self) -> int:
        """Side of the square patch each output logit sees (70 for ``n_layers=3``)."""
        return receptive_field(self.conv_layers())

    def forward(self, pair: Tensor) -> Tensor:
        """``B x in_channels x H x W`` -> ``B x 1 x H' x W'`` logits, one per patch."""
        return self.net(pair)

    def extra_repr(self) -> str:
        return f"receptive_field={self.receptive_field}"


# ----------------------------------------------------------------------------- building
def init_gan_weights(module: nn.Module, std: float = 0.02) -> None:
    """Conv weights ~ N(0, std), norm scales ~ N(1, std), biases 0 (pix2pix Sec. 6.2)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def build_generator(config: GeneratorConfig) -> nn.Module:
    """A freshly initialised U-Net or ResNet generator."""
    model = UNetGenerator(config) if config.arch == "unet" else ResNetGenerator(config)
    init_gan_weights(model)
    return model


def build_discriminator(config: DiscriminatorConfig, in_channels: int) -> PatchDiscriminator:
    """A freshly initialised PatchGAN for ``in_channels`` = input + output channels."""
    model = PatchDiscriminator(in_channels, config.ndf, config.n_layers, config.norm)
    init_gan_weights(model)
    return model


# ----------------------------------------------------------------------------- running
@contextmanager
def generator_test_mode(model: nn.Module, stochastic: bool = True) -> Iterator[nn.Module]:
    """Put a generator in pix2pix's test mode for the ``with`` block, then restore its modes.

    ``stochastic=True`` is the paper's protocol (Sec. 3.3): dropout stays active and batch norm
    uses the statistics of the test batch -- without updating the stored running statistics.
    ``stochastic=False`` is the usual ``eval()``: no dropout, running statistics; deterministic.
    """
    saved = [(m, m.training, getattr(m, "track_running_stats", None)) for m in model.modules()]
    try:
        model.eval()
        if stochastic:
            for m in model.modules():
                if isinstance(m, nn.Dropout):
                    m.train()
                elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.train()
                    m.track_running_stats = False  # batch statistics, running buffers untouched
        yield model
    finally:
        for m, training, tracking in saved:
            m.training = training
            if tracking is not None:
                m.track_running_stats = tracking


def to_signed(images: Tensor) -> Tensor:
    """[0, 1] -> [-1, 1] (dataset images to generator space)."""
    return images * 2.0 - 1.0


def to_unit(images: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1] (generator output to image space)."""
    return (images + 1.0) / 2.0
