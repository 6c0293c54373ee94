"""Decoding label-map images into id maps: palette, grayscale-id, RGB(A) colour maps.

Real-world colour maps are messy (palette PNGs, RGBA exports, anti-aliased brushes, JPEG artefacts):
:func:`decode_colors` snaps each colour to the nearest palette colour within a tolerance and otherwise
fails with an error that counts the bad pixels and names the offending colours. :class:`LabelSpace`
offers these as methods (``space.load(path)``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from PIL import Image

from imsynth.data.imagefile import ImageReadError, open_image
from imsynth.data.labels.errors import LabelDecodeError
from imsynth.data.strips import (
    color_counts,
    image_array,
    nearest_colors,
    pack_rgb,
    row_strips,
    unpack_rgb,
)

__all__ = ["DEFAULT_COLOR_TOLERANCE", "MapKind", "decode_colors", "decode_image", "load_label_map"]

DEFAULT_COLOR_TOLERANCE = 40.0
"""Largest RGB Euclidean distance from a palette colour that is still snapped to it."""
DEFAULT_MAX_ARTEFACT_FRACTION = 0.05
"""Largest share of pixels beyond the tolerance accepted as edge artefacts (see ``decode_colors``)."""
ARTEFACT_RADIUS = 2
"""Pixels of JPEG chroma smear around an edge (see :func:`_isolated_artefacts`)."""

MapKind = Literal["auto", "color", "ids"]


class Palette(Protocol):
    """What decoding needs of a label space (:class:`~imsynth.data.labels.space.LabelSpace` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def void_id(self) -> int: ...
    @property
    def palette(self) -> tuple[np.ndarray, np.ndarray]: ...
    @property
    def valid_ids(self) -> np.ndarray: ...
    @property
    def id_colors(self) -> np.ndarray: ...
    def check_ids(self, ids: np.ndarray) -> None: ...


def decode_colors(
    space: Palette,
    rgb: np.ndarray,
    tolerance: float = DEFAULT_COLOR_TOLERANCE,
    max_artefact_fraction: float = DEFAULT_MAX_ARTEFACT_FRACTION,
) -> np.ndarray:
    """Colour map (HxWx3) -> id map, snapping each colour to the nearest palette colour.

    Anti-aliased edges and JPEG artefacts shift colours a little; a colour within ``tolerance``
    (RGB Euclidean distance) of a palette colour takes that colour's class. JPEG ringing at class
    edges can go farther: such pixels are still snapped when every one of them touches a pixel
    of a palette colour within 2 pixels and they are at most ``max_artefact_fraction`` of the
    map. Otherwise -- a region of an unknown colour -- :class:`LabelDecodeError` names them.
    The map is processed in strips of rows, so the temporaries stay small for huge maps.
    """
    if not tolerance >= 0:  # also refuses NaN, which would accept every colour
        raise ValueError(f"colour tolerance must be a number >= 0, got {tolerance}")
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise LabelDecodeError(f"expected an HxWx3 colour map, got shape {rgb.shape}")
    unique, counts = color_counts(rgb)
    pal_colors, pal_ids = space.palette
    nearest, distance = nearest_colors(unpack_rgb(unique), pal_colors.astype(np.float32))
    too_far = distance > tolerance
    ids = np.empty(rgb.shape[:2], dtype=np.uint8)
    far = np.zeros(rgb.shape[:2], dtype=bool) if too_far.any() else None
    for rows in row_strips(rgb.shape[0], rgb.shape[1]):
        index = np.searchsorted(unique, pack_rgb(rgb[rows]))
        ids[rows] = pal_ids[nearest[index]]
        if far is not None:
            far[rows] = too_far[index]
    if far is not None and not _isolated_artefacts(far, max_artefact_fraction):
        far_idx = np.flatnonzero(too_far)
        far_idx = far_idx[np.argsort(-counts[far_idx], kind="stable")]
        n_bad, total = int(counts[far_idx].sum()), int(ids.size)
        listed = ", ".join(
            f"#{int(unique[i]):06x} {tuple(int(v) for v in unpack_rgb(unique[i : i + 1])[0])} ({int(counts[i])} px)"
            for i in far_idx[:5]
        )
        raise LabelDecodeError(
            f"{n_bad} of {total} pixels ({100.0 * n_bad / total:.2f}%) have colours farther than "
            f"{tolerance:g} from every colour of label space {space.name!r}; first offending colours: {listed}. "
            "Fix: repaint them with palette colours, pass the right label-space file (--label-space FILE), "
            "or raise the tolerance (--color-tolerance)."
        )
    return ids


def decode_image(
    space: Palette,
    image: Image.Image,
    *,
    kind: MapKind = "auto",
    tolerance: float = DEFAULT_COLOR_TOLERANCE,
) -> np.ndarray:
    """A label-map image of any common form -> id map (HxW uint8).

    * ``P`` (palette) PNGs: if each used index's palette entry is that id's colour, the indices are
      the ids; otherwise the palette colours are decoded.
    * ``L``/``I`` grayscale: ids (Cityscapes ``*_labelIds.png``).
    * ``RGB``/``RGBA``: colours (transparent pixels become void). An RGB image whose three channels
      are equal is read as ids when its values are not all palette colours.
    ``kind`` forces ``"color"`` or ``"ids"``.
    """
    mode = image.mode
    if mode == "P" and kind != "color":
        indices = image_array(image)
        raw = image.getpalette() or []
        palette = np.zeros((256, 3), dtype=np.uint8)
        palette.reshape(-1)[: min(len(raw), 768)] = raw[:768]
        used = np.unique(indices)
        if kind == "ids" or (space.valid_ids[used].all() and np.array_equal(palette[used], space.id_colors[used])):
            space.check_ids(indices)
            return indices.astype(np.uint8)
        return decode_colors(space, palette[indices], tolerance)
    if mode in ("L", "I", "I;16", "I;16B", "F", "1"):
        if kind == "color":
            return decode_colors(space, np.repeat(np.asarray(image.convert("L"))[..., None], 3, axis=2), tolerance)
        ids = image_array(image)
        if ids.dtype.kind == "f" and not np.all(ids == np.round(ids)):
            raise LabelDecodeError("floating-point label map with fractional values: save ids as integers")
        space.check_ids(ids)
        return ids.astype(np.uint8, copy=False)
    if mode in ("LA", "PA", "RGBA", "La"):
        rgba = image if mode == "RGBA" else image.convert("RGBA")
        transparent = image_array(rgba.getchannel("A")) < 128
        rgb = image_array(rgba.convert("RGB"))
        if transparent.any() and not transparent.all():
            # Transparent pixels often hold junk colours: give them the commonest opaque colour so
            # they neither fail decoding nor change whether the map reads as ids; they become void.
            colors, counts = color_counts(rgb, ~transparent)
            rgb[transparent] = unpack_rgb(colors[counts.argmax() : counts.argmax() + 1])[0]
        elif transparent.all():
            rgb[...] = space.id_colors[space.void_id]
        ids = _decode_rgb(space, rgb, kind, tolerance)
        ids[transparent] = space.void_id
        return ids
    return _decode_rgb(space, image_array(image if mode == "RGB" else image.convert("RGB")), kind, tolerance)


def _decode_rgb(space: Palette, rgb: np.ndarray, kind: MapKind, tolerance: float) -> np.ndarray:
    gray = all(
        np.array_equal(rgb[rows, :, 0], rgb[rows, :, 1]) and np.array_equal(rgb[rows, :, 1], rgb[rows, :, 2])
        for rows in row_strips(rgb.shape[0], rgb.shape[1])
    )
    if kind == "ids" or (kind == "auto" and gray and not _all_palette_colors(space, rgb)):
        ids = rgb[..., 0]
        space.check_ids(ids)
        return ids.astype(np.uint8)
    return decode_colors(space, rgb, tolerance)


def _all_palette_colors(space: Palette, rgb: np.ndarray) -> bool:
    colors, _ = color_counts(rgb)
    return bool(np.isin(colors, pack_rgb(space.palette[0])).all())


def load_label_map(
    space: Palette, path: str | Path, *, kind: MapKind = "auto", tolerance: float = DEFAULT_COLOR_TOLERANCE
) -> np.ndarray:
    """Read a label-map file into an id map; unreadable or too large files raise :class:`LabelDecodeError`.

    The file is opened with :func:`~imsynth.data.imagefile.open_image` (size checked before decoding).
    """
    try:
        with open_image(path) as image:
            return decode_image(space, image, kind=kind, tolerance=tolerance)
    except ImageReadError as exc:
        raise LabelDecodeError(str(exc)) from None
    except LabelDecodeError as exc:
        raise LabelDecodeError(f"{path}: {exc}") from None


def _isolated_artefacts(far: np.ndarray, max_fraction: float) -> bool:
    """True if the far-from-palette pixels are few and each lies near a palette-coloured pixel.

    "Near" is within :data:`ARTEFACT_RADIUS` pixels (Chebyshev): JPEG's 2x chroma subsampling
    smears colours up to two pixels from an edge. A region of an unknown colour wider than
    ``2 * ARTEFACT_RADIUS`` pixels always has interior pixels farther away and is rejected.
    """
    if far.sum() > max_fraction * far.size:
        return False
    r = ARTEFACT_RADIUS
    near = np.pad(~far, r, constant_values=False)
    # Separable max filter: rows, then columns.
    h, w = far.shape
    rows = np.zeros((h + 2 * r, w), dtype=bool)
    for dx in range(2 * r + 1):
        rows |= near[:, dx : dx + w]
    close = np.zeros_like(far)
    for dy in range(2 * r + 1):
        close |= rows[dy : dy + h]
    return bool(close[far].all())
