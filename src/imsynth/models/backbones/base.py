"""Common interface of the frozen ImageNet feature extractors used by perceptual losses/metrics."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FeatureExtractor(nn.Module):
    """Frozen, always-eval ImageNet network returning features at named layers.

    ``forward(images)`` takes RGB images in ``[0, 1]`` of shape ``Bx3xHxW``, applies the
    preprocessing its weights expect and returns a list of feature maps, one per entry of
    ``layer_names``. Parameters never require grad, but the computation is differentiable with
    respect to the input, so the extractor can sit inside a training loss.

    Subclasses implement :meth:`preprocess` and :meth:`extract` (features of a preprocessed
    batch) and, where the network has one, :meth:`_logits_from_preprocessed` /
    :meth:`_pooled_from_preprocessed`.

    Attributes
    ----------
    name:
        Backbone name (``"vgg19"``, ``"efficientnet_lite0"``, ...).
    layer_names:
        Names of the returned layers, in order.
    default_layer_weights:
        ``1 + len(layer_names)`` weights for the CRN-style loss: first the image itself, then
        each layer.
    default_texture_weights:
        The same for the per-class texture-statistics terms (:mod:`imsynth.losses.texture`), or
        ``None`` where no calibration ships (they are then measured when a loss needs them).
    input_size:
        Resolution the classifier was trained at (for :func:`imagenet_eval_transform`).
    """

    name: str = "feature_extractor"
    input_size: int = 224

    def __init__(self) -> None:
        super().__init__()
        self.layer_names: list[str] = []
        self.default_layer_weights: list[float] = []
        self.default_texture_weights: list[float] | None = None

    # -- freezing -----------------------------------------------------------------------------
    def _freeze(self) -> None:
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> FeatureExtractor:  # noqa: ARG002 - always eval
        """Kept in eval mode whatever ``mode`` says (BatchNorm statistics stay frozen)."""
        return super().train(False)

    # -- interface ----------------------------------------------------------------------------
    @staticmethod
    def _check_input(images: Tensor) -> None:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected RGB images of shape Bx3xHxW in [0, 1], got {tuple(images.shape)}")

    def preprocess(self, images: Tensor) -> Tensor:
        raise NotImplementedError

    def extract(self, x: Tensor) -> list[Tensor]:
        raise NotImplementedError

    def forward(self, images: Tensor) -> list[Tensor]:
        self._check_input(images)
        return self.extract(self.preprocess(images))

    def _logits_from_preprocessed(self, x: Tensor) -> Tensor:
        raise NotImplementedError(f"{self.name} extractor has no ImageNet classifier")

    def _pooled_from_preprocessed(self, x: Tensor) -> Tensor:
        raise NotImplementedError(f"{self.name} extractor has no pooled features")

    def imagenet_logits(self, images: Tensor) -> Tensor:
        """ImageNet-1k logits (``Bx1000``) for images in ``[0, 1]`` at any resolution."""
        self._check_input(images)
        return self._logits_from_preprocessed(self.preprocess(images))

    def pooled_features(self, images: Tensor) -> Tensor:
        """Global-average-pooled last feature map before the classifier, ``BxD``."""
        self._check_input(images)
        return self._pooled_from_preprocessed(self.preprocess(images))

    @property
    def pooled_dim(self) -> int:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"name={self.name!r}, layers={self.layer_names}"


def imagenet_eval_transform(images: Tensor, size: int, crop_fraction: float = 0.875) -> Tensor:
    """Standard ImageNet evaluation view: centre crop of ``crop_fraction`` of the shorter side,
    resized (bicubic, antialiased) to ``size x size``.

    ``images``: ``Bx3xHxW`` (or ``3xHxW``) float in ``[0, 1]``, or ``uint8`` (scaled to [0, 1]).
    ``crop_fraction=0.875`` is the usual resize-256/crop-224 view.
    """
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    squeeze = images.dim() == 3
    if squeeze:
        images = images.unsqueeze(0)
    h, w = images.shape[-2:]
    crop = max(1, int(round(min(h, w) * crop_fraction)))
    top = (h - crop) // 2
    left = (w - crop) // 2
    images = images[..., top : top + crop, left : left + crop]
    if crop != size:
        images = F.interpolate(
            images, size=(size, size), mode="bicubic", align_corners=False, antialias=crop > size
        ).clamp(0.0, 1.0)
    return images.squeeze(0) if squeeze else images


def numpy_image_to_tensor(image) -> Tensor:
    """HxWx3 ``uint8``/float numpy image -> ``1x3xHxW`` float tensor in ``[0, 1]``."""
    t = torch.as_tensor(image)
    if t.dtype == torch.uint8:
        t = t.float() / 255.0
    else:
        t = t.float()
    if t.dim() == 2:
        t = t.unsqueeze(-1).expand(-1, -1, 3)
    return t.permute(2, 0, 1).unsqueeze(0).contiguous()


def same_padding_amounts(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow ``padding='SAME'``: output ``ceil(size/stride)``, extra pixel at the end."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2
