"""Paired geometric transforms: the same resize, crop and flip applied to a photo and its label map.

Photos are resampled smoothly (area averaging when shrinking, bilinear when enlarging); label maps
are always sampled with nearest neighbour, so no interpolated (invalid) class ids ever appear.

Randomness is explicit: every random transform takes a ``numpy.random.Generator`` or a
``torch.Generator`` and uses nothing global. A transform is done in two steps,

1. :func:`plan_geometry` draws the random parameters once into a :class:`Geometry`, and
2. :func:`apply_to_image` / :func:`apply_to_label` apply that geometry to any number of planes,

which is how several planes (photo + label, or pix2pix's A + B) stay aligned.
Arrays are ``HxWx3`` uint8 for images and ``HxW`` uint8 for label maps; sizes are ``(height, width)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from PIL import Image

Size = tuple[int, int]
"""``(height, width)``."""
SizeSpec = int | tuple[int, int]
"""An exact ``(height, width)``, or an int: the shorter side (resize) / a square (crop)."""
RandomSource = np.random.Generator | torch.Generator


@dataclass(frozen=True)
class PairTransformConfig:
    """What to do to every pair: resize, then crop, then maybe flip horizontally.

    * ``size`` -- resize target when no crop follows (``(h, w)``, or an int for the shorter side);
    * ``load_size`` -- resize target before cropping (pix2pix jitter: ``load_size=286, crop_size=256``);
      give at most one of ``size`` and ``load_size``;
    * ``crop_size`` -- crop to ``(h, w)`` (an int: a square); ``crop`` picks ``"random"`` or ``"center"``;
    * ``flip`` -- mirror left-right with probability 1/2.
    """

    size: SizeSpec | None = None
    load_size: SizeSpec | None = None
    crop_size: SizeSpec | None = None
    crop: Literal["random", "center"] = "random"
    flip: bool = False

    def __post_init__(self) -> None:
        if self.size is not None and self.load_size is not None:
            raise ValueError("give either size (resize only) or load_size (resize before cropping), not both")
        if self.crop not in ("random", "center"):
            raise ValueError(f"crop must be 'random' or 'center', got {self.crop!r}")
        for name in ("size", "load_size", "crop_size"):
            value = getattr(self, name)
            if value is not None and min(_as_pair(value)) <= 0:
                raise ValueError(f"{name} must be positive, got {value!r}")

    @classmethod
    def pix2pix(cls, load_size: SizeSpec = 286, crop_size: SizeSpec = 256, flip: bool = True) -> PairTransformConfig:
        """The pix2pix training jitter: resize to ``load_size``, random crop ``crop_size``, random flip."""
        return cls(load_size=load_size, crop_size=crop_size, crop="random", flip=flip)

    @property
    def resize(self) -> SizeSpec | None:
        return self.size if self.size is not None else self.load_size

    @property
    def is_random(self) -> bool:
        return self.flip or (self.crop_size is not None and self.crop == "random")


@dataclass(frozen=True)
class Geometry:
    """Drawn parameters of one transform: resize to ``resize``, crop ``(top, left, h, w)``, flip."""

    resize: Size | None = None
    crop: tuple[int, int, int, int] | None = None
    flip: bool = False


# ------------------------------------------------------------------------------ helpers
def _as_pair(size: SizeSpec) -> Size:
    return (int(size), int(size)) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))


def resolve_resize(size: SizeSpec, source: Size) -> Size:
    """The ``(h, w)`` a resize to ``size`` gives: exact for a pair, aspect-preserving for an int."""
    if not isinstance(size, (int, np.integer)):
        return _as_pair(size)
    h, w = source
    scale = int(size) / min(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def _randint(rng: RandomSource, high: int) -> int:
    """A uniform integer in ``[0, high]`` (inclusive) from either kind of generator."""
    if isinstance(rng, torch.Generator):
        return int(torch.randint(0, high + 1, (), generator=rng))
    return int(rng.integers(0, high + 1))


def _coin(rng: RandomSource) -> bool:
    if isinstance(rng, torch.Generator):
        return bool(torch.rand((), generator=rng) < 0.5)
    return bool(rng.random() < 0.5)


def as_image_array(image: np.ndarray | Image.Image) -> np.ndarray:
    """A PIL image or array -> ``HxWx3`` uint8 array."""
    if isinstance(image, Image.Image):
        image = np.array(image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 image, got {array.dtype} {array.shape}")
    return array


def as_label_array(label: np.ndarray | Image.Image) -> np.ndarray:
    """A PIL image (mode ``L``/``P``) or array -> ``HxW`` uint8 id map."""
    array = np.array(label) if isinstance(label, Image.Image) else np.asarray(label)
    if array.ndim != 2 or array.dtype != np.uint8:
        raise ValueError(f"expected an HxW uint8 label map, got {array.dtype} {array.shape}")
    return array


# ------------------------------------------------------------------------------ plan and apply
def plan_geometry(config: PairTransformConfig, source: Size, rng: RandomSource | None = None) -> Geometry:
    """Draw the parameters of ``config`` for an input of size ``source`` (crop offsets, then flip).

    ``rng`` may be omitted only when ``config`` has nothing random.
    """
    if config.is_random and rng is None:
        raise ValueError("this transform is random (random crop or flip): pass a generator")
    resized = resolve_resize(config.resize, source) if config.resize is not None else None
    h, w = resized or source
    crop = None
    if config.crop_size is not None:
        ch, cw = _as_pair(config.crop_size)
        if ch > h or cw > w:
            raise ValueError(f"cannot crop {ch}x{cw} from a {h}x{w} image: set load_size/size at least as large")
        if config.crop == "random":
            top, left = _randint(rng, h - ch), _randint(rng, w - cw)  # type: ignore[arg-type]
        else:
            top, left = (h - ch) // 2, (w - cw) // 2
        crop = (top, left, ch, cw)
    flip = _coin(rng) if config.flip else False  # type: ignore[arg-type]
    return Geometry(resize=resized if resized != source else None, crop=crop, flip=flip)


def _image_filter(source: Size, target: Size) -> Image.Resampling:
    """Area averaging when shrinking in both directions (no aliasing), else bilinear."""
    shrinking = target[0] <= source[0] and target[1] <= source[1]
    return Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR


def _apply(array: np.ndarray, geometry: Geometry, nearest: bool) -> np.ndarray:
    if geometry.resize is not None and geometry.resize != array.shape[:2]:
        th, tw = geometry.resize
        resample = Image.Resampling.NEAREST if nearest else _image_filter(array.shape[:2], geometry.resize)
        array = np.array(Image.fromarray(array).resize((tw, th), resample))
    if geometry.crop is not None:
        top, left, ch, cw = geometry.crop
        array = array[top : top + ch, left : left + cw]
    if geometry.flip:
        array = array[:, ::-1]
    return np.ascontiguousarray(array)


def apply_to_image(image: np.ndarray | Image.Image, geometry: Geometry) -> np.ndarray:
    """Resample a photo (area/bilinear), crop and flip it."""
    return _apply(as_image_array(image), geometry, nearest=False)


def apply_to_label(label: np.ndarray | Image.Image, geometry: Geometry) -> np.ndarray:
    """Resample a label map (nearest neighbour: ids stay valid), crop and flip it."""
    return _apply(as_label_array(label), geometry, nearest=True)


def _check_same_size(image: np.ndarray, label: np.ndarray | None) -> None:
    if label is not None and image.shape[:2] != label.shape[:2]:
        raise ValueError(f"image is {image.shape[0]}x{image.shape[1]} but label is {label.shape[0]}x{label.shape[1]}")


# ------------------------------------------------------------------------------ pair transforms
Pair = tuple[np.ndarray, np.ndarray | None]


def transform_pair(
    image: np.ndarray | Image.Image,
    label: np.ndarray | Image.Image | None,
    config: PairTransformConfig,
    rng: RandomSource | None = None,
) -> Pair:
    """Apply ``config`` to a photo and (optionally) its label map with one draw of parameters."""
    image = as_image_array(image)
    label = None if label is None else as_label_array(label)
    _check_same_size(image, label)
    geometry = plan_geometry(config, image.shape[:2], rng)
    return apply_to_image(image, geometry), None if label is None else apply_to_label(label, geometry)


def resize_pair(image: np.ndarray | Image.Image, label: np.ndarray | Image.Image | None, size: SizeSpec) -> Pair:
    """Resize to ``(h, w)``, or the shorter side to an int, keeping the aspect ratio."""
    return transform_pair(image, label, PairTransformConfig(size=size))


def center_crop_pair(image: np.ndarray | Image.Image, label: np.ndarray | Image.Image | None, size: SizeSpec) -> Pair:
    """Crop the central ``size`` window."""
    return transform_pair(image, label, PairTransformConfig(crop_size=size, crop="center"))


def random_crop_pair(
    image: np.ndarray | Image.Image, label: np.ndarray | Image.Image | None, size: SizeSpec, rng: RandomSource
) -> Pair:
    """Crop a ``size`` window at a uniformly random position."""
    return transform_pair(image, label, PairTransformConfig(crop_size=size, crop="random"), rng)


def random_flip_pair(
    image: np.ndarray | Image.Image, label: np.ndarray | Image.Image | None, rng: RandomSource
) -> Pair:
    """Mirror both left-right with probability 1/2."""
    return transform_pair(image, label, PairTransformConfig(flip=True), rng)


def jitter_pair(
    image: np.ndarray | Image.Image,
    label: np.ndarray | Image.Image | None,
    rng: RandomSource,
    load_size: SizeSpec = 286,
    crop_size: SizeSpec = 256,
    flip: bool = True,
) -> Pair:
    """pix2pix jitter: resize to ``load_size``, random-crop ``crop_size``, random flip."""
    return transform_pair(image, label, PairTransformConfig.pix2pix(load_size, crop_size, flip), rng)
