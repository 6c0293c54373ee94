"""A small dilated-convolution segmentation network for the FCN-score protocol.

The FCN-score (Isola et al., pix2pix, CVPR 2017, Sec. 4.2) judges synthesized photos by how well
an off-the-shelf semantic segmenter, trained on *real* photos, recovers the layout they were
synthesized from. This module is that segmenter. It is our own small network in the style of
DeepLab v3+ (Chen et al., ECCV 2018, arXiv 1802.02611) on a dilated residual backbone (Yu,
Koltun & Funkhouser, "Dilated Residual Networks", CVPR 2017): it never shares weights with any
network used in a training loss, so a generator cannot have been optimised against it.

Architecture (widths ``w = base_widths * width_multiplier``):

* **backbone** -- a stride-2 stem, then stages at strides 4 and 8; deeper stages keep stride 8 and
  enlarge the receptive field with dilation 2 and 4 instead of downsampling (DRN, Sec. 2);
* **ASPP** (atrous spatial pyramid pooling, DeepLab v3 Sec. 3.3) on the stride-8 features: a 1x1
  branch, three 3x3 branches with dilations ``aspp_rates`` and an image-level pooling branch,
  concatenated and projected by a 1x1 convolution;
* **decoder** (DeepLab v3+ Sec. 3.1) -- the ASPP output upsampled to stride 4, concatenated with
  the reduced stride-4 backbone features, refined by two 3x3 convolutions, classified by a 1x1
  convolution and upsampled bilinearly to the input size.

Every convolution block is the shared :class:`~imsynth.nn.blocks.ConvNormAct` /
:class:`~imsynth.nn.blocks.ResidualBlock` (batch norm and ReLU by default). Input: RGB in
``[0, 1]``, any size; output: ``B x num_classes x H x W`` logits (train ids; 255 = ignore in
the targets).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from imsynth.nn.blocks import ConvNormAct, ResidualBlock

__all__ = ["SegmenterConfig", "Segmenter", "ASPP"]


@dataclass
class SegmenterConfig:
    """Shape of the segmenter.

    ``base_widths`` are the widths of the stem, the stride-4 stage, the stride-8 stage and the
    dilated stages; ``blocks`` the number of residual blocks in the stride-8 stage and in each of
    the two dilated stages (dilation 2, then 4). ``height``/``width`` record the resolution the
    network was trained at; evaluation resizes images to it (the network itself takes any size).
    """

    num_classes: int = 19
    width_multiplier: float = 1.0
    base_widths: tuple[int, int, int, int] = (32, 64, 128, 128)
    blocks: tuple[int, int, int] = (1, 1, 1)
    aspp_rates: tuple[int, int, int] = (2, 4, 6)
    aspp_width: int = 128
    decoder_width: int = 96
    skip_width: int = 32
    dropout: float = 0.1
    norm: str = "batch"
    height: int = 128
    width: int = 256

    def __post_init__(self) -> None:
        self.base_widths = tuple(self.base_widths)  # type: ignore[assignment]
        self.blocks = tuple(self.blocks)  # type: ignore[assignment]
        self.aspp_rates = tuple(self.aspp_rates)  # type: ignore[assignment]
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        if self.width_multiplier <= 0:
            raise ValueError(f"width_multiplier must be positive, got {self.width_multiplier}")
        if len(self.base_widths) != 4 or len(self.blocks) != 3 or len(self.aspp_rates) != 3:
            raise ValueError("base_widths needs 4 entries, blocks 3 and aspp_rates 3")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def scaled(self, channels: int) -> int:
        """``channels * width_multiplier``, rounded, at least 8."""
        return max(8, int(round(channels * self.width_multiplier)))


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (DeepLab v3, Sec. 3.3): parallel 1x1, dilated 3x3 and
    image-pooling branches, concatenated and fused by a 1x1 convolution."""

    def __init__(self, in_channels: int, out_channels: int, rates: tuple[int, ...], norm: str, dropout: float) -> None:
        super().__init__()
        branches = [ConvNormAct(in_channels, out_channels, 1, norm=norm, activation="relu")]
        branches += [ConvNormAct(in_channels, out_channels, 3, dilation=r, norm=norm, activation="relu") for r in rates]
        self.branches = nn.ModuleList(branches)
        # The pooled branch sees one value per channel: batch statistics would be degenerate for
        # a batch of one image, so it has a bias and no normalisation.
        self.image_pool = ConvNormAct(in_channels, out_channels, 1, norm="none", activation="relu")
        self.project = ConvNormAct(out_channels * (len(branches) + 1), out_channels, 1, norm=norm, activation="relu")
        self.dropout = nn.Dropout2d(dropout)

    def forward(self, x: Tensor) -> Tensor:
        pooled = self.image_pool(x.mean(dim=(2, 3), keepdim=True)).expand(-1, -1, *x.shape[-2:])
        return self.dropout(self.project(torch.cat([b(x) for b in self.branches] + [pooled], dim=1)))


class Segmenter(nn.Module):
    """Dilated residual backbone + ASPP + DeepLab v3+ decoder; see the module docstring."""

    mean: Tensor  # buffers: input normalisation
    std: Tensor

    def __init__(self, config: SegmenterConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        w0, w1, w2, w3 = (c.scaled(w) for w in c.base_widths)
        norm = c.norm

        def conv(cin: int, cout: int, k: int = 3, **kw) -> ConvNormAct:
            return ConvNormAct(cin, cout, k, norm=norm, activation="relu", **kw)

        def residual(ch: int, dilation: int, n: int) -> list[nn.Module]:
            return [
                ResidualBlock(ch, dilation=dilation, norm=norm, activation="relu", post_activation="relu")
                for _ in range(n)
            ]

        self.stem = nn.Sequential(conv(3, w0, stride=2), conv(w0, w0))  # stride 2
        self.stage4 = nn.Sequential(conv(w0, w1, stride=2), *residual(w1, 1, 1))  # stride 4
        self.stage8 = nn.Sequential(conv(w1, w2, stride=2), *residual(w2, 1, c.blocks[0]))  # stride 8
        self.dilated = nn.Sequential(  # stride 8
            conv(w2, w3, dilation=2), *residual(w3, 2, c.blocks[1]), *residual(w3, 4, c.blocks[2])
        )
        aspp_width = c.scaled(c.aspp_width)
        self.aspp = ASPP(w3, aspp_width, c.aspp_rates, norm, c.dropout)
        skip = c.scaled(c.skip_width)
        self.reduce_skip = conv(w1, skip, 1)
        decoder = c.scaled(c.decoder_width)
        self.decoder = nn.Sequential(conv(aspp_width + skip, decoder), conv(decoder, decoder))
        self.classifier = nn.Conv2d(decoder, c.num_classes, 1)
        # Fixed input normalisation: [0, 1] -> roughly zero mean, unit range.
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 0.5), persistent=False)
        self.register_buffer("std", torch.full((1, 3, 1, 1), 0.25), persistent=False)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def forward(self, images: Tensor) -> Tensor:
        """``B x 3 x H x W`` RGB in [0, 1] -> ``B x num_classes x H x W`` logits."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected RGB images of shape Bx3xHxW in [0, 1], got {tuple(images.shape)}")
        size = images.shape[-2:]
        x = self.stem((images - self.mean) / self.std)
        low = self.stage4(x)
        high = self.aspp(self.dilated(self.stage8(low)))
        high = F.interpolate(high, size=low.shape[-2:], mode="bilinear", align_corners=False)
        x = self.decoder(torch.cat([high, self.reduce_skip(low)], dim=1))
        return F.interpolate(self.classifier(x), size=size, mode="bilinear", align_corners=False)

    @torch.no_grad()
    def predict(self, images: Tensor) -> Tensor:
        """Train-id predictions ``B x H x W`` (argmax of the logits)."""
        return self(images).argmax(dim=1)
