"""The colorization network of Zhang, Isola & Efros (ECCV 2016, Sec. 3, Fig. 2).

Input: the centred lightness ``L - 50`` ``(N, 1, H, W)``; output: scores over Q ab bins at 1/4 of
the input resolution, ``(N, Q, H/4, W/4)`` (``head="classification"``), or the ab values
themselves ``(N, 2, H/4, W/4)`` for the L2 regression baseline (``head="regression"``).
``H`` and ``W`` must be multiples of 8.

Eight blocks of 3x3 convolutions with ReLU (2, 2, 3, 3, 3, 3, 3, 3 convolutions: 22 in all):

=====  ========  =====================================================  ===========
block  channels  convolutions                                           resolution
=====  ========  =====================================================  ===========
1      64        2, the last with stride 2, then batch norm             1/2
2      128       2, the last with stride 2, then batch norm             1/4
3      256       3, the last with stride 2, then batch norm             1/8
4      512       3, then batch norm                                     1/8
5      512       3 with dilation 2, then batch norm                     1/8
6      512       3 with dilation 2, then batch norm                     1/8
7      512       3, then batch norm                                     1/8
8      256       a 4x4 transposed convolution (stride 2), then 2 convs  1/4
=====  ========  =====================================================  ===========

followed by a 1x1 classifier to Q channels. At ``width_multiplier = 1`` and Q = 313 this has
about 32.2 M parameters, as the released model. Batch norm is the block's last layer, placed
before the last ReLU (:class:`~imsynth.nn.blocks.ConvNormAct` order: conv, norm, activation);
the released Caffe model normalises after that ReLU.

The classification network keeps its bin centres and the training-set colour prior ``p`` as
buffers, so a checkpoint alone can decode predictions (:meth:`ColorizerNet.predict_ab`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from imsynth.color.encoding import DecodeConfig, DecodeMode, decode_ab
from imsynth.color.lab import L_CENTER, fit_to_gamut, lab_to_rgb, rgb_to_lab
from imsynth.nn.blocks import ConvNormAct

__all__ = ["ColorizerConfig", "ColorizerNet", "BLOCK_CHANNELS", "BLOCK_CONVS", "AB_SCALE", "OUTPUT_STRIDE"]

BLOCK_CHANNELS = (64, 128, 256, 512, 512, 512, 512, 256)
BLOCK_CONVS = (2, 2, 3, 3, 3, 3, 3, 3)
_DOWNSAMPLING_BLOCKS = (0, 1, 2)  # zero-based: blocks 1-3 end with a stride-2 convolution
_DILATED_BLOCKS = (4, 5)  # blocks 5 and 6
#: The regression head predicts ab / AB_SCALE (ab values lie within about +-110).
AB_SCALE = 110.0
#: The network's output is this many times smaller than its input.
OUTPUT_STRIDE = 4
#: Input sizes must be multiples of this (three stride-2 convolutions).
SIZE_MULTIPLE = 8


@dataclass
class ColorizerConfig:
    """Architecture: which head, how many bins (0 = set by the method from its quantization), width."""

    head: Literal["classification", "regression"] = "classification"
    num_bins: int = 0
    width_multiplier: float = 1.0
    min_channels: int = 8

    def __post_init__(self) -> None:
        if self.head not in ("classification", "regression"):
            raise ValueError(f"head must be 'classification' or 'regression', got {self.head!r}")
        if self.width_multiplier <= 0:
            raise ValueError(f"width_multiplier must be positive, got {self.width_multiplier}")
        if self.num_bins < 0:
            raise ValueError(f"num_bins must be >= 0, got {self.num_bins}")

    def channels(self) -> list[int]:
        """Each block's width after the multiplier."""
        return [max(self.min_channels, round(c * self.width_multiplier)) for c in BLOCK_CHANNELS]


def _conv_block(index: int, in_channels: int, out_channels: int) -> nn.Sequential:
    """Blocks 1-7: 3x3 conv + ReLU layers, the last one strided (1-3) and batch-normalised."""
    dilation = 2 if index in _DILATED_BLOCKS else 1
    count = BLOCK_CONVS[index]
    layers = []
    for j in range(count):
        last = j == count - 1
        layers.append(
            ConvNormAct(
                in_channels if j == 0 else out_channels,
                out_channels,
                3,
                stride=2 if last and index in _DOWNSAMPLING_BLOCKS else 1,
                dilation=dilation,
                norm="batch" if last else "none",
                activation="relu",
            )
        )
    return nn.Sequential(*layers)


def _upsampling_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Block 8: a 4x4 transposed convolution (x2 resolution), then two 3x3 convolutions, all ReLU."""
    layers: list[nn.Module] = [nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1), nn.ReLU()]
    for _ in range(BLOCK_CONVS[7] - 1):
        layers.append(ConvNormAct(out_channels, out_channels, 3, norm="none", activation="relu"))
    return nn.Sequential(*layers)


class ColorizerNet(nn.Module):
    """Lightness -> ab class scores (or ab values) at 1/4 resolution; see the module docstring."""

    bin_centers: Tensor  # buffers (classification head)
    prior: Tensor

    def __init__(self, config: ColorizerConfig, bin_centers: Tensor | None = None, prior: Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        widths = config.channels()
        blocks = []
        in_channels = 1
        for index, width in enumerate(widths[:7]):
            blocks.append(_conv_block(index, in_channels, width))
            in_channels = width
        blocks.append(_upsampling_block(in_channels, widths[7]))
        self.blocks = nn.Sequential(*blocks)
        if config.head == "classification":
            if config.num_bins < 1:
                raise ValueError("a classification colorizer needs num_bins >= 1 (the size of its ab grid)")
            self.classifier = nn.Conv2d(widths[7], config.num_bins, 1)
            self.register_buffer(
                "bin_centers",
                torch.zeros(config.num_bins, 2) if bin_centers is None else bin_centers.detach().float().clone(),
            )
            self.register_buffer(
                "prior",
                torch.full((config.num_bins,), 1.0 / config.num_bins)
                if prior is None
                else prior.detach().float().clone(),
            )
            if self.bin_centers.shape != (config.num_bins, 2) or self.prior.shape != (config.num_bins,):
                raise ValueError(
                    f"bin_centers {tuple(self.bin_centers.shape)} / prior {tuple(self.prior.shape)} "
                    f"do not match num_bins={config.num_bins}"
                )
        else:
            self.classifier = nn.Conv2d(widths[7], 2, 1)

    @property
    def is_classifier(self) -> bool:
        return self.config.head == "classification"

    def forward(self, lightness: Tensor) -> Tensor:
        """``(N, 1, H, W)`` centred L -> ``(N, Q or 2, H/4, W/4)`` bin scores (or ab / AB_SCALE)."""
        height, width = lightness.shape[-2:]
        if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
            raise ValueError(f"input size {height}x{width} is not a multiple of {SIZE_MULTIPLE}; pad it first")
        return self.classifier(self.blocks(lightness))

    def predict_ab(
        self,
        lightness: Tensor,
        mode: DecodeMode = "annealed_mean",
        temperature: float = 0.38,
        full_resolution: bool = True,
    ) -> Tensor:
        """Predicted ab ``(N, 2, H, W)`` (bilinearly upsampled) or at 1/4 resolution."""
        output = self(lightness)
        if self.is_classifier:
            ab = decode_ab(output, self.bin_centers, mode, temperature)
        else:
            ab = output.float() * AB_SCALE
        if full_resolution:
            ab = F.interpolate(ab, size=lightness.shape[-2:], mode="bilinear", align_corners=False)
        return ab


def count_convolutions(model: nn.Module) -> int:
    """Convolutions (plain and transposed) in ``model``, the final 1x1 classifier excluded."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    classifier = getattr(model, "classifier", None)
    return len([m for m in layers if m is not classifier])


# ----------------------------------------------------------------------------- prediction at any size


def predict_ab(
    net: ColorizerNet, lightness: Tensor, decode: DecodeConfig | None = None, work_size: int | None = None
) -> Tensor:
    """ab ``(N, 2, H, W)`` for lightness ``(N, 1, H, W)`` in [0, 100] of any size.

    The network runs on ``L - 50``, first shrunk so its shorter side is at most ``work_size`` (if
    given) and padded (edge replication) to a multiple of 8; its output is upsampled back to ``H x W``.
    """
    decode = decode or DecodeConfig()
    height, width = lightness.shape[-2:]
    x = lightness - L_CENTER
    if work_size is not None and min(height, width) > work_size:
        scale = work_size / min(height, width)
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % SIZE_MULTIPLE, -w % SIZE_MULTIPLE
    x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    ab = net.predict_ab(x, decode.mode, decode.temperature, full_resolution=True)[..., :h, :w]
    if (h, w) != (height, width):
        ab = F.interpolate(ab, size=(height, width), mode="bilinear", align_corners=False)
    return ab


def colorize_tensor(
    net: ColorizerNet, rgb: Tensor, decode: DecodeConfig | None = None, work_size: int | None = None
) -> Tensor:
    """RGB (or gray, any channels averaged by Lab) ``(N, 3, H, W)`` in [0, 1] -> colorized RGB, same L."""
    lightness = rgb_to_lab(rgb.float())[:, :1]
    ab = predict_ab(net, lightness, decode, work_size)
    return lab_to_rgb(fit_to_gamut(torch.cat([lightness, ab], dim=1))).clamp(0, 1)
