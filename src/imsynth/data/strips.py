"""Working on huge maps in strips of rows: small temporaries whatever the map's size.

Label-map decoding (:mod:`imsynth.data.labels`) packs colours, counts them, looks them up and
converts PIL images to arrays here, a strip of about :data:`STRIP_PIXELS` pixels at a time, so a
map costs a few bytes per pixel (an 8000 x 8000 colour map: 0.75 GB in all instead of 3 GB).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image

__all__ = [
    "STRIP_PIXELS",
    "color_counts",
    "histogram",
    "image_array",
    "nearest_colors",
    "pack_rgb",
    "row_strips",
    "unpack_rgb",
]

STRIP_PIXELS = 1 << 18
"""Pixels a decoding step handles at once: a huge map is decoded in strips of rows this large."""


def row_strips(height: int, width: int) -> Iterator[slice]:
    """Row slices of about :data:`STRIP_PIXELS` pixels covering ``height`` rows."""
    step = max(1, STRIP_PIXELS // max(1, width))
    for top in range(0, height, step):
        yield slice(top, min(height, top + step))


def image_array(image: Image.Image) -> np.ndarray:
    """``np.array(image)``, converted in strips of rows: no full-size temporary copy of the pixels."""
    width, height = image.size
    first = np.asarray(image.crop((0, 0, width, 1)))
    array = np.empty((height, width, *first.shape[2:]), dtype=first.dtype)
    for rows in row_strips(height, width):
        array[rows] = np.asarray(image.crop((0, rows.start, width, rows.stop)))
    return array


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """``...x3`` uint8 colours -> int32 ``0xRRGGBB``."""
    return (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """int32 ``0xRRGGBB`` -> ``Nx3`` float32 colours."""
    return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=1).astype(np.float32)


def color_counts(rgb: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The distinct packed colours of an ``HxWx3`` map (where ``mask``), sorted, and their pixel counts."""
    parts = []
    for rows in row_strips(rgb.shape[0], rgb.shape[1]):
        packed = pack_rgb(rgb[rows]) if mask is None else pack_rgb(rgb[rows][mask[rows]])
        parts.append(np.unique(packed, return_counts=True))
    values = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int32)
    unique, inverse = np.unique(values, return_inverse=True)
    counts = np.bincount(
        inverse, weights=np.concatenate([p[1] for p in parts]) if parts else None, minlength=len(unique)
    )
    return unique, counts.astype(np.int64)


def nearest_colors(colors: np.ndarray, palette: np.ndarray, chunk: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest palette colour for each colour (``Nx3`` float32), and its distance."""
    nearest = np.empty(len(colors), dtype=np.int64)
    distance = np.empty(len(colors), dtype=np.float32)
    for start in range(0, len(colors), chunk):
        dist = np.linalg.norm(colors[start : start + chunk, None, :] - palette[None, :, :], axis=2)
        nearest[start : start + chunk] = dist.argmin(axis=1)
        distance[start : start + chunk] = dist.min(axis=1)
    return nearest, distance


def histogram(values: np.ndarray, length: int) -> np.ndarray:
    """Counts of each integer value ``0..length-1`` (``np.bincount`` in chunks: no full-size int64 copy)."""
    flat = np.asarray(values).reshape(-1)
    counts = np.zeros(length, dtype=np.int64)
    for start in range(0, flat.size, STRIP_PIXELS):
        chunk = flat[start : start + STRIP_PIXELS].astype(np.intp, copy=False)
        counts += np.bincount(chunk, minlength=length)[:length]
    return counts
