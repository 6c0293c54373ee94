"""Cascaded Refinement Network (Chen & Koltun, "Photographic Image Synthesis with Cascaded
Refinement Networks", ICCV 2017, arXiv 1707.09405).

Architecture (paper Sec. 3.3, Fig. 3):

* A cascade of modules M_0 .. M_{n-1}. Module M_i works at ``h_i x w_i = base * 2^i``; with the
  default base 4 x 8 that is 4x8, 8x16, ..., 256x512 (n = 7), 512x1024 (n = 8) and 1024x2048
  (n = 9). ``n`` follows from the requested output size: ``n = log2(height / base_height) + 1``.
* M_0 takes the label map at base resolution. M_i (i > 0) takes
  ``concat(bilinear_upsample(features of M_{i-1}) to h_i x w_i (align_corners=True),
  label map area-downsampled to h_i x w_i)``.
* Every module is two layers of ``3x3 conv (no bias) -> LayerNorm2d -> LReLU(0.2)`` of equal
  width (:class:`imsynth.nn.blocks.ConvNormAct` with its defaults).
* The last module is followed by a 1x1 convolution (with bias, nothing after it) to ``3k``
  channels: ``k`` images at once for the diversity loss of Sec. 3.4 (k = 9 in the paper; 1 for
  the 1024x2048 model).

Output convention: the authors map the raw projection ``y`` to pixels as ``(y + 1) / 2 * 255``
clipped. :meth:`CRN.forward` returns ``(y + 1) / 2`` -- nominally in [0, 1] but **not clipped**,
so gradients always flow -- with shape B x k x 3 x H x W. :meth:`CRN.synthesize` and
:func:`to_uint8` clamp for display. Channel layout of the 3k raw channels (the authors'):
image j takes channels ``(j, k + j, 2k + j)`` as (R, G, B), see :meth:`CRN.split_variants`.

Input sizes: a trained cascade is tied to its resolution (every module learned the statistics of
its own scale), so the network **always runs at the config's (height, width)**. A label map of
any other size is resampled to that grid (nearest for id maps, so labels stay hard as in
training; area averaging for float one-hot maps) and the output images are resampled
bilinearly back to the input size (or to ``out_size``). No input size is a shape error.

Widths (authors' models): 1024 channels for h <= 64, 512 for h = 128 and 256, 128 for h = 512,
32 for h = 1024 (:func:`reference_width`), scaled by ``width_multiplier`` and rounded, never below
:data:`MIN_WIDTH`; or given explicitly through ``widths``.

Initialisation: convolutions keep PyTorch's default (Kaiming-uniform); the final projection is
drawn small (:func:`init_projection`) so that an untrained network outputs images near mid-gray.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from imsynth.nn.blocks import ConvNormAct
from imsynth.nn.labelmaps import (
    area_resize,
    label_pyramid,
    one_hot_with_void,
    resize_label_ids,
    to_label_channels,
)

__all__ = [
    "MIN_WIDTH",
    "PROJECTION_INIT_GAIN",
    "reference_width",
    "CRNConfig",
    "CRNModule",
    "CRN",
    "init_projection",
    "resize_images",
    "to_uint8",
    "grow",
]

#: Smallest feature width a scaled module may have. Below 8 channels the per-channel affine of
#: the layer norm and the 3k-channel projection (27 outputs for k = 9) would see a bottleneck of
#: a handful of features; 8 keeps tiny CPU models (width_multiplier 1/64) trainable.
MIN_WIDTH = 8

#: Standard deviation of the projection weights is ``PROJECTION_INIT_GAIN / sqrt(fan_in)``.
PROJECTION_INIT_GAIN = 0.1


def reference_width(module_height: int) -> int:
    """Feature width of the module working at ``module_height`` rows in the authors' models:
    1024 up to 64 rows, 512 up to 256, 128 up to 512, 32 beyond (1024 rows)."""
    if module_height <= 64:
        return 1024
    if module_height <= 256:
        return 512
    if module_height <= 512:
        return 128
    return 32


def _scaled_width(module_height: int, multiplier: float) -> int:
    return max(MIN_WIDTH, round(reference_width(module_height) * multiplier))


@dataclass
class CRNConfig:
    """Hyper-parameters of a :class:`CRN`; every field is JSON-serialisable.

    ``height`` x ``width`` is the output (finest module) resolution; it must equal
    ``(base_height, base_width) * 2^(n-1)`` for some n >= 1, the number of modules.
    ``num_classes`` excludes the void channel the network adds (input has num_classes + 1).
    ``widths`` (one per module, coarsest first) overrides the reference widths and is used as
    given (``width_multiplier`` only scales the reference widths).
    """

    height: int
    width: int
    num_classes: int = 19
    num_variants: int = 9
    width_multiplier: float = 1.0
    widths: tuple[int, ...] | None = None
    base_height: int = 4
    base_width: int = 8
    activation_checkpointing: bool = False
    ignore_index: int = 255
    projection_init: str = "small"
    """``"small"`` (:func:`init_projection`: untrained output near mid-gray) or ``"xavier"`` (the
    authors' Glorot-uniform init: untrained output about as varied as a photo)."""
    noise_channels: int = 0
    """Channels of Gaussian noise concatenated to the label input of every module at least
    ``noise_min_height`` rows high (0 = none, the paper's deterministic CRN). Noise is what a
    network can shape into texture whose phase no layout determines (cf. StyleGAN's per-layer
    noise inputs, Karras et al. 2019, Sec. 3.2); :meth:`CRN.forward` draws it, seeded by ``noise_seed``."""
    noise_min_height: int = 32

    def __post_init__(self) -> None:
        if self.widths is not None:
            self.widths = tuple(int(w) for w in self.widths)  # JSON gives lists back
        if self.base_height < 4 or self.base_width < 1:
            raise ValueError(
                f"base size must be at least 4 rows and 1 column, got {self.base_height}x{self.base_width}"
            )
        ratio = self.height // self.base_height
        valid = (
            self.height % self.base_height == 0
            and ratio >= 1
            and ratio & (ratio - 1) == 0
            and self.width == self.base_width * ratio
        )
        if not valid:
            raise ValueError(
                f"CRN output size {self.height}x{self.width} is not the base size "
                f"{self.base_height}x{self.base_width} times a power of two (e.g. "
                f"{self.base_height * 64}x{self.base_width * 64} for 7 modules); change height/width "
                f"or base_height/base_width"
            )
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        if self.num_variants < 1:
            raise ValueError(f"num_variants must be >= 1, got {self.num_variants}")
        if self.projection_init not in ("small", "xavier"):
            raise ValueError(f"projection_init must be 'small' or 'xavier', got {self.projection_init!r}")
        if self.noise_channels < 0 or self.noise_min_height < 1:
            raise ValueError(
                f"noise_channels must be >= 0 and noise_min_height >= 1, got {self.noise_channels} "
                f"and {self.noise_min_height}"
            )
        if not self.width_multiplier > 0:
            raise ValueError(f"width_multiplier must be > 0, got {self.width_multiplier}")
        if self.widths is not None:
            if len(self.widths) != self.num_modules or min(self.widths) < 1:
                raise ValueError(
                    f"widths must give {self.num_modules} positive widths (one per module, "
                    f"coarsest first), got {self.widths}"
                )

    @property
    def num_modules(self) -> int:
        """n = log2(height / base_height) + 1."""
        return int(math.log2(self.height // self.base_height)) + 1

    @property
    def label_channels(self) -> int:
        """Channels of the label input: the classes plus void."""
        return self.num_classes + 1

    def module_noise_channels(self) -> list[int]:
        """Noise channels each module takes (coarsest first): ``noise_channels`` from
        ``noise_min_height`` rows up, else 0."""
        return [self.noise_channels if h >= self.noise_min_height else 0 for h, _ in self.module_sizes()]

    def module_sizes(self) -> list[tuple[int, int]]:
        """(h_i, w_i) = base * 2^i for every module, coarsest first."""
        return [(self.base_height * 2**i, self.base_width * 2**i) for i in range(self.num_modules)]

    def module_widths(self) -> list[int]:
        """Feature width of every module, coarsest first (no allocation)."""
        if self.widths is not None:
            return list(self.widths)
        return [_scaled_width(h, self.width_multiplier) for h, _ in self.module_sizes()]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON (``CRNConfig(**d)`` restores it)."""
        d = dataclasses.asdict(self)
        if d["widths"] is not None:
            d["widths"] = list(d["widths"])
        return d


class CRNModule(nn.Module):
    """Refinement module M_i (Sec. 3.3): [upsample previous features, concat labels] then two
    3x3 conv -> layer norm -> LReLU(0.2) layers of width ``width``."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(in_channels, width)
        self.conv2 = ConvNormAct(width, width)

    def forward(self, labels: Tensor, previous: Tensor | None = None) -> Tensor:
        """``labels``: label map at this module's size; ``previous``: features of M_{i-1}
        (None for M_0), bilinearly upsampled here with align_corners=True."""
        x = labels
        if previous is not None:
            up = F.interpolate(previous, size=labels.shape[-2:], mode="bilinear", align_corners=True)
            x = torch.cat([up, labels], dim=1)
        return self.conv2(self.conv1(x))


def init_projection(projection: nn.Conv2d) -> None:
    """Small init of the final 1x1 conv: N(0, (gain / sqrt(fan_in))^2) weights, zero bias.

    Unit-scale features then give raw outputs y of standard deviation about 0.1, i.e. images
    (y + 1) / 2 within a few percent of mid-gray 0.5.
    """
    fan_in = projection.in_channels * projection.kernel_size[0] * projection.kernel_size[1]
    nn.init.normal_(projection.weight, std=PROJECTION_INIT_GAIN / math.sqrt(fan_in))
    if projection.bias is not None:
        nn.init.zeros_(projection.bias)


def resize_images(images: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resampling (align_corners=False) of ... x 3 x H x W images to ``size``;
    antialiased when shrinking."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    lead = images.shape[:-3]
    flat = images.reshape(-1, *images.shape[-3:])
    shrink = size[0] < flat.shape[-2] or size[1] < flat.shape[-1]
    out = F.interpolate(flat, size=size, mode="bilinear", align_corners=False, antialias=shrink)
    return out.reshape(*lead, *out.shape[-3:])


def to_uint8(images: Tensor) -> Tensor:
    """[0, 1] float images (any shape) -> uint8 0..255, clamped and rounded."""
    return (images.detach().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


class CRN(nn.Module):
    """Cascaded Refinement Network: label map -> k photographic images (Sec. 3.3).

    ``forward(labels, out_size=None)`` -> B x k x 3 x H x W images, ``(y + 1) / 2`` unclipped;
    ``labels`` is an integer B x H x W train-id map (``ignore_index`` = void) or a float
    B x (C+1) x H x W one-hot map of any H x W. See the module docstring for resampling.
    """

    def __init__(self, config: CRNConfig) -> None:
        super().__init__()
        self.config = config
        widths = config.module_widths()
        self.cascade = nn.ModuleList()
        previous_width = 0
        for width, noise in zip(widths, config.module_noise_channels(), strict=True):
            self.cascade.append(CRNModule(previous_width + config.label_channels + noise, width))
            previous_width = width
        self.projection = nn.Conv2d(widths[-1], 3 * config.num_variants, kernel_size=1, bias=True)
        if config.projection_init == "xavier":
            nn.init.xavier_uniform_(self.projection.weight)
            nn.init.zeros_(cast(Tensor, self.projection.bias))  # bias=True above
        else:
            init_projection(self.projection)

    @property
    def grid_size(self) -> tuple[int, int]:
        """The (height, width) the network runs at."""
        return (self.config.height, self.config.width)

    @property
    def num_variants(self) -> int:
        return self.config.num_variants

    def prepare_labels(self, labels: Tensor) -> Tensor:
        """Label input -> float B x (C+1) x height x width on the model's device and dtype.

        Id maps are resampled nearest-neighbour before one-hot encoding (hard labels, as the
        finest module saw in training); float maps are area-resampled.
        """
        cfg = self.config
        if labels.is_floating_point():
            maps = area_resize(to_label_channels(labels, cfg.num_classes, cfg.ignore_index), self.grid_size)
        else:
            ids = resize_label_ids(labels, self.grid_size)
            maps = one_hot_with_void(ids, cfg.num_classes, cfg.ignore_index)
        weight = self.projection.weight
        return maps.to(device=weight.device, dtype=weight.dtype)

    def _run_module(self, module: nn.Module, labels: Tensor, previous: Tensor | None) -> Tensor:
        """One module, recomputed in the backward pass when activation checkpointing is on."""
        if self.config.activation_checkpointing and torch.is_grad_enabled():
            return checkpoint(module, labels, previous, use_reentrant=False)
        return module(labels, previous)

    @staticmethod
    def split_variants(raw: Tensor, num_variants: int) -> Tensor:
        """B x 3k x H x W -> B x k x 3 x H x W; image j = channels (j, k + j, 2k + j)."""
        b, c, h, w = raw.shape
        if c != 3 * num_variants:
            raise ValueError(f"expected {3 * num_variants} channels, got {c}")
        return raw.view(b, 3, num_variants, h, w).transpose(1, 2).contiguous()

    def _with_noise(self, level: Tensor, channels: int, generator: torch.Generator | None) -> Tensor:
        """The module's label input with ``channels`` planes of N(0, 1) noise appended."""
        if channels == 0:
            return level
        b, _, h, w = level.shape
        noise = torch.randn(b, channels, h, w, generator=generator, device=level.device, dtype=level.dtype)
        return torch.cat([level, noise], dim=1)

    def forward(self, labels: Tensor, out_size: tuple[int, int] | None = None, noise_seed: int | None = None) -> Tensor:
        """``noise_seed`` makes the noise inputs (if the config has any) reproducible; ``None``
        draws them from the global random stream (training)."""
        in_size = (int(labels.shape[-2]), int(labels.shape[-1]))
        target = in_size if out_size is None else (int(out_size[0]), int(out_size[1]))
        maps = self.prepare_labels(labels)
        pyramid = label_pyramid(maps, self.config.module_sizes())
        generator = None
        if noise_seed is not None and self.config.noise_channels:
            generator = torch.Generator(device=maps.device).manual_seed(int(noise_seed))
        features: Tensor | None = None
        for module, level, noise in zip(self.cascade, pyramid, self.config.module_noise_channels(), strict=True):
            features = self._run_module(module, self._with_noise(level, noise, generator), features)
        assert features is not None
        raw = self.projection(features)
        images = self.split_variants((raw + 1.0) / 2.0, self.config.num_variants)
        return resize_images(images, target)

    @torch.no_grad()
    def synthesize(self, labels: Tensor, out_size: tuple[int, int] | None = None, noise_seed: int = 0) -> Tensor:
        """Inference: :meth:`forward` without gradients, clamped to [0, 1]; the same layout and
        ``noise_seed`` always give the same images."""
        return self.forward(labels, out_size, noise_seed=noise_seed).clamp_(0.0, 1.0)

    def extra_repr(self) -> str:
        c = self.config
        return f"{c.height}x{c.width}, modules={c.num_modules}, classes={c.num_classes}+void, k={c.num_variants}"


def grow(model: CRN, new_width: int | None = None) -> CRN:
    """A CRN with one more, finer module (double resolution), for coarse-to-fine training.

    Paper Sec. 4: the 512x1024 model fine-tunes the 256x512 one with an added module. All
    existing modules' weights are copied; the new finest module and the final projection (its
    input width changes) are freshly initialised. ``new_width`` sets the new module's width
    (default: the reference width at its height, scaled by ``width_multiplier``).
    """
    cfg = model.config
    new_h = cfg.base_height * 2**cfg.num_modules
    if cfg.widths is None and new_width is None:
        widths = None
    else:
        width = new_width if new_width is not None else _scaled_width(new_h, cfg.width_multiplier)
        widths = tuple(cfg.module_widths()) + (int(width),)
    new_cfg = dataclasses.replace(cfg, height=cfg.height * 2, width=cfg.width * 2, widths=widths)
    weight = model.projection.weight
    grown = CRN(new_cfg).to(device=weight.device, dtype=weight.dtype)
    for old_module, new_module in zip(model.cascade, grown.cascade, strict=False):
        new_module.load_state_dict(old_module.state_dict())
    grown.train(model.training)
    return grown
