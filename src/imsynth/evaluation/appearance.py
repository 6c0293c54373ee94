"""Is a synthesized image as textured, contrasty and colourful as a real photo of the same layout?

A synthesis that follows the layout with flat, hazy fills scores well on segmentation-based
metrics but is not photographic. These statistics measure exactly that, per class region and
per image, and are reported as ratios *synthesized / real* over the same layouts (1 = like the
real photos; below 1 flatter, hazier or greyer; above 1 noisier or more saturated):

* **Texture**: the mean absolute 3x3 Laplacian (``kornia.filters.laplacian``, the 8-neighbour
  kernel, unnormalised) of the luminance ``Y = 0.299 R + 0.587 G + 0.114 B`` in [0, 1], over the
  pixels of each class region **eroded by 2 px** (a pixel counts when its whole 5x5 neighbourhood
  has its class, so region boundaries, which any layout-following image has, are not texture).
  Pooled over all images (and all variants) per class. The overall texture ratio is the mean of
  the per-class ratios over :data:`TEXTURE_CLASSES` (road, sidewalk, building, vegetation, car),
  the classes covering most of a street scene.
* **Contrast**: the standard deviation of ``Y`` over the image (overall), or over the eroded
  region (per class), averaged over images.
* **Colourfulness**: Hasler & Suesstrunk (2003), ``sqrt(sd_rg^2 + sd_yb^2) + 0.3 sqrt(mu_rg^2 +
  mu_yb^2)`` on the 0-255 scale (:func:`imsynth.evaluation.colorization_metrics.colorfulness`),
  over the image or the eroded region.

Ratios of means, not means of ratios: one near-black real photo cannot blow a ratio up. None of
these can be read alone: adding noise to an output raises its texture, but worsens its Fréchet and
feature distances, which is why reports show them together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from imsynth.evaluation.colorization_metrics import colorfulness

__all__ = [
    "TEXTURE_CLASSES",
    "EROSION_RADIUS",
    "MIN_REGION_PIXELS",
    "AppearanceStatistics",
    "appearance_ratios",
    "luminance",
    "texture_map",
]

#: The classes whose texture ratios are averaged into the overall texture ratio.
TEXTURE_CLASSES = ("road", "sidewalk", "building", "vegetation", "car")
#: Class regions are eroded by this many pixels before their statistics are taken.
EROSION_RADIUS = 2
#: A region (one class in one image) with fewer eroded pixels adds no per-class contrast/colourfulness.
MIN_REGION_PIXELS = 64

_LUMA = (0.299, 0.587, 0.114)


def _as_float_images(images: np.ndarray | Tensor) -> Tensor:
    """B x H x W x 3 uint8 (numpy, as synthesizers return them) or B x 3 x H x W float in [0, 1]
    -> B x 3 x H x W float64 in [0, 1]."""
    if isinstance(images, np.ndarray):
        tensor = torch.from_numpy(np.require(images, requirements=["C", "W"]))
        if tensor.dim() == 3:
            tensor = tensor.unsqueeze(0)
        tensor = tensor.permute(0, 3, 1, 2)
    else:
        tensor = images if images.dim() == 4 else images.unsqueeze(0)
    if tensor.dtype == torch.uint8:
        return tensor.double() / 255.0
    return tensor.double().clamp(0.0, 1.0)


def luminance(images: Tensor) -> Tensor:
    """B x 3 x H x W RGB in [0, 1] -> B x 1 x H x W luma (Rec. 601 weights, ``kornia.color.rgb_to_grayscale``)."""
    import kornia

    return kornia.color.rgb_to_grayscale(images, rgb_weights=torch.tensor(_LUMA, dtype=images.dtype))


def texture_map(images: Tensor) -> Tensor:
    """|3x3 Laplacian| of the luminance, B x H x W (border pixels replicate their neighbours)."""
    import kornia

    return kornia.filters.laplacian(luminance(images), 3, border_type="replicate", normalized=False).abs()[:, 0]


def _interior(labels: Tensor, radius: int) -> Tensor:
    """True where the label map is constant over the (2r+1)^2 window and the window lies inside the
    image: the pixels of every class region eroded by ``radius``."""
    x = labels.double().unsqueeze(1)
    size = 2 * radius + 1
    high = torch.nn.functional.max_pool2d(x, size, stride=1, padding=radius)
    low = -torch.nn.functional.max_pool2d(-x, size, stride=1, padding=radius)
    inside = (high == low)[:, 0]
    inside[:, :radius] = False
    inside[:, -radius:] = False
    inside[:, :, :radius] = False
    inside[:, :, -radius:] = False
    return inside


@dataclass
class AppearanceStatistics:
    """Texture, contrast and colourfulness of a set of images, overall and per class.

    ``add(images, labels)``: images B x H x W x 3 uint8 (or B x 3 x H x W float in [0, 1]) and
    their layouts as train-id maps (B x H x W, or one H x W map shared by all B images, e.g. the
    k variants of one layout); ids outside ``0..num_classes-1`` (void) are skipped.
    """

    num_classes: int
    texture_sum: np.ndarray = field(init=False)
    texture_pixels: np.ndarray = field(init=False)
    class_contrast: list[list[float]] = field(init=False)
    class_colourfulness: list[list[float]] = field(init=False)
    contrast: list[float] = field(default_factory=list)
    colourfulness: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.texture_sum = np.zeros(self.num_classes)
        self.texture_pixels = np.zeros(self.num_classes, dtype=np.int64)
        self.class_contrast = [[] for _ in range(self.num_classes)]
        self.class_colourfulness = [[] for _ in range(self.num_classes)]

    @property
    def images(self) -> int:
        return len(self.contrast)

    def add(self, images: np.ndarray | Tensor, labels: np.ndarray | Tensor) -> None:
        x = _as_float_images(images)
        ids = torch.as_tensor(
            np.require(labels, requirements=["C", "W"]) if isinstance(labels, np.ndarray) else labels
        ).long()
        if ids.dim() == 2:
            ids = ids.unsqueeze(0).expand(x.shape[0], -1, -1)
        if ids.shape[0] != x.shape[0] or ids.shape[-2:] != x.shape[-2:]:
            raise ValueError(
                f"labels {tuple(ids.shape)} do not match images {tuple(x.shape)} (need one H x W map per image)"
            )
        y = luminance(x)[:, 0]
        texture = texture_map(x)
        inside = _interior(ids, EROSION_RADIUS) & (ids >= 0) & (ids < self.num_classes)
        pixels = x.permute(0, 2, 3, 1).numpy()  # B x H x W x 3 in [0, 1]
        for b in range(x.shape[0]):
            self.contrast.append(float(y[b].std(unbiased=False)))
            self.colourfulness.append(colorfulness(pixels[b]))
            classes = ids[b][inside[b]]
            if classes.numel() == 0:
                continue
            self.texture_sum += torch.bincount(
                classes, weights=texture[b][inside[b]], minlength=self.num_classes
            ).numpy()
            counts = torch.bincount(classes, minlength=self.num_classes)
            self.texture_pixels += counts.numpy()
            for c in torch.nonzero(counts >= MIN_REGION_PIXELS).flatten().tolist():
                region = inside[b] & (ids[b] == c)
                self.class_contrast[c].append(float(y[b][region].std(unbiased=False)))
                self.class_colourfulness[c].append(colorfulness(pixels[b][region.numpy()]))

    def class_texture(self) -> np.ndarray:
        """Mean |Laplacian| per class (NaN where a class never had interior pixels)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.texture_pixels > 0, self.texture_sum / np.maximum(self.texture_pixels, 1), np.nan)

    def summary(self, class_names: Sequence[str]) -> dict[str, object]:
        """The absolute statistics as plain JSON data."""
        texture = self.class_texture()
        return {
            "images": self.images,
            "contrast": float(np.mean(self.contrast)) if self.contrast else None,
            "colourfulness": float(np.mean(self.colourfulness)) if self.colourfulness else None,
            "class_texture": {n: float(t) for n, t in zip(class_names, texture, strict=True) if np.isfinite(t)},
        }


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if np.isfinite(a) and np.isfinite(b) and b > 0 else None


def _mean_or_nan(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def appearance_ratios(
    synthesized: AppearanceStatistics,
    real: AppearanceStatistics,
    class_names: Sequence[str],
    texture_classes: Sequence[str] = TEXTURE_CLASSES,
) -> dict[str, object]:
    """Synthesized over real: ``texture_ratio`` (mean over ``texture_classes`` present in both; all
    classes present in both if none of them is), ``contrast_ratio``, ``colourfulness_ratio`` and per
    class ``class_texture_ratio`` / ``class_contrast_ratio`` / ``class_colourfulness_ratio``."""
    if synthesized.num_classes != real.num_classes or len(class_names) != real.num_classes:
        raise ValueError("synthesized and real statistics need the same classes")
    texture = {
        name: _ratio(s, r)
        for name, s, r in zip(class_names, synthesized.class_texture(), real.class_texture(), strict=True)
    }
    contrast, colour = {}, {}
    for c, name in enumerate(class_names):
        contrast[name] = _ratio(_mean_or_nan(synthesized.class_contrast[c]), _mean_or_nan(real.class_contrast[c]))
        colour[name] = _ratio(
            _mean_or_nan(synthesized.class_colourfulness[c]), _mean_or_nan(real.class_colourfulness[c])
        )
    chosen = [value for n in texture_classes if (value := texture.get(n)) is not None]
    if not chosen:
        chosen = [v for v in texture.values() if v is not None]
    return {
        "texture_ratio": float(np.mean(chosen)) if chosen else None,
        "contrast_ratio": _ratio(_mean_or_nan(synthesized.contrast), _mean_or_nan(real.contrast)),
        "colourfulness_ratio": _ratio(_mean_or_nan(synthesized.colourfulness), _mean_or_nan(real.colourfulness)),
        "class_texture_ratio": {k: v for k, v in texture.items() if v is not None},
        "class_contrast_ratio": {k: v for k, v in contrast.items() if v is not None},
        "class_colourfulness_ratio": {k: v for k, v in colour.items() if v is not None},
    }
