"""Multi-scale PatchGAN discriminator with intermediate features (pix2pixHD: Wang et al., CVPR 2018, Sec. 3.2).

``num_scales`` identical :class:`~imsynth.models.pix2pix.PatchDiscriminator` s see the
(label map, image) pair at full, half, quarter... resolution (3x3 average pooling with stride 2
between scales, padding not counted). The coarse ones judge global layout and colour, the fine
one texture. Every scale returns the activations of each of its layers, for pix2pixHD's
discriminator feature-matching loss (Eq. 4, :func:`imsynth.losses.gan.discriminator_feature_matching`);
the last entry is the patch logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from imsynth.models.pix2pix import PatchDiscriminator, init_gan_weights

__all__ = ["MultiScaleDiscriminatorConfig", "MultiScaleDiscriminator"]


@dataclass
class MultiScaleDiscriminatorConfig:
    """``ndf`` first-layer width (pix2pixHD: 64), ``n_layers`` strided layers per scale (3: 70x70
    patches at full resolution), ``num_scales`` (pix2pixHD: 2 at 512x1024, 3 at 1024x2048) and the
    normalisation (instance norm: batches of one image are the rule here)."""

    ndf: int = 64
    n_layers: int = 3
    num_scales: int = 2
    norm: str = "instance"

    def __post_init__(self) -> None:
        if self.ndf < 1 or self.n_layers < 1 or self.num_scales < 1:
            raise ValueError(
                f"ndf, n_layers and num_scales must be >= 1, got {self.ndf}, {self.n_layers}, {self.num_scales}"
            )

    def smallest_side(self) -> int:
        """The smallest image side every scale can judge: each 4x4 stride-2 layer halves the side, the
        last two 4x4 stride-1 layers take 1 pixel each, the coarsest scale sees the image halved
        ``num_scales - 1`` times, and one logit must remain."""

        def patch_outputs(side: int) -> int:
            for _ in range(self.n_layers):
                side //= 2
            return side - 2

        side = 1
        while True:
            coarsest = side
            for _ in range(self.num_scales - 1):
                coarsest = (coarsest + 1) // 2
            if patch_outputs(coarsest) >= 1:
                return side
            side += 1

    def check_image_size(self, height: int, width: int) -> None:
        """A clear error for images too small for this discriminator (instead of a convolution's)."""
        smallest = self.smallest_side()
        if min(height, width) < smallest:
            raise ValueError(
                f"the adversarial term's discriminator ({self.n_layers} layers, {self.num_scales} scales) judges "
                f"images of at least {smallest}x{smallest}, not {height}x{width}: train larger images, or set "
                "adversarial.discriminator.num_scales / n_layers lower, or turn the term off "
                "(adversarial.weight=0, or --recipe paper)"
            )


class MultiScaleDiscriminator(nn.Module):
    """``forward(pair)`` -> one list per scale of that scale's layer outputs (logits last)."""

    def __init__(self, in_channels: int, config: MultiScaleDiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        self.scales = nn.ModuleList(
            PatchDiscriminator(in_channels, config.ndf, config.n_layers, config.norm) for _ in range(config.num_scales)
        )
        init_gan_weights(self)

    def forward(self, pair: Tensor) -> list[list[Tensor]]:
        outputs = []
        x = pair
        scales: list[PatchDiscriminator] = list(self.scales)  # type: ignore[arg-type]  # ModuleList is untyped
        for index, scale in enumerate(scales):
            if index:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            layers = []
            h = x
            for layer in scale.net:
                h = layer(h)
                layers.append(h)
            outputs.append(layers)
        return outputs
