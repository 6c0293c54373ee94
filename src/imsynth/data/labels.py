"""Label spaces: which classes a layout may contain, their ids, train ids and colours.

Three representations of one semantic layout are used throughout imsynth:

* **id map** -- ``HxW`` integers, the label ids of the space (Cityscapes ``labelIds``: 0..33);
* **train map** -- ``HxW`` contiguous class indices ``0..C-1`` of the classes a model learns, with
  ``ignore_index`` (255) for void pixels (Cityscapes ``trainIds``: 19 classes);
* **colour map** -- ``HxWx3`` RGB, each class in its official colour (Cityscapes ``*_color.png``),
* and, for networks, a **one-hot tensor** ``(C+1)xHxW``: one channel per train class plus a void channel
  (CRN, Sec. 3.2 of Chen & Koltun: "the label map is one-hot over the classes plus void").

:class:`LabelSpace` converts between them. Real-world colour maps are messy (palette PNGs,
RGBA exports, anti-aliased brushes, JPEG artefacts); :meth:`LabelSpace.decode_colors` snaps each
colour to the nearest palette colour within a tolerance and otherwise fails with an error that
counts the bad pixels and names the offending colours.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from imsynth.data.imagefile import ImageReadError, open_image
from imsynth.data.strips import (
    color_counts,
    histogram,
    image_array,
    nearest_colors,
    pack_rgb,
    row_strips,
    unpack_rgb,
)

IGNORE_INDEX = 255
DEFAULT_COLOR_TOLERANCE = 40.0
"""Largest RGB Euclidean distance from a palette colour that is still snapped to it."""
DEFAULT_MAX_ARTEFACT_FRACTION = 0.05
ARTEFACT_RADIUS = 2
"""Largest share of pixels beyond the tolerance accepted as edge artefacts (see ``decode_colors``)."""

MapKind = Literal["auto", "color", "ids"]


class LabelDecodeError(ValueError):
    """A label map that cannot be decoded into the label space (unknown colours or ids)."""


@dataclass(frozen=True)
class LabelClass:
    """One semantic class: its id in label maps, its colour, and its train id (255 = not trained)."""

    name: str
    id: int
    color: tuple[int, int, int]
    train_id: int = IGNORE_INDEX
    category: str = ""

    @property
    def ignored(self) -> bool:
        return self.train_id == IGNORE_INDEX


def _parse_color(value: object) -> tuple[int, int, int]:
    if isinstance(value, str):
        text = value.strip().lstrip("#")
        if len(text) != 6:
            raise ValueError(f"colour {value!r}: expected '#rrggbb' or [r, g, b]")
        return tuple(int(text[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    rgb = tuple(int(v) for v in value)  # type: ignore[union-attr]
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise ValueError(f"colour {value!r}: expected three integers in 0..255")
    return rgb  # type: ignore[return-value]


@dataclass(frozen=True)
class LabelSpace:
    """An ordered set of :class:`LabelClass` with conversions between label representations."""

    name: str
    classes: tuple[LabelClass, ...]
    ignore_index: int = IGNORE_INDEX
    void_id: int = 0
    """Id written for pixels that belong to no trained class (decoding transparent pixels, train->id)."""

    def __post_init__(self) -> None:
        ids = [c.id for c in self.classes]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"label space {self.name!r}: duplicate ids {dup}")
        if any(not 0 <= i <= 255 for i in ids):
            raise ValueError(f"label space {self.name!r}: ids must be in 0..255 (uint8 maps)")
        train = sorted(c.train_id for c in self.classes if not c.ignored)
        if len(set(train)) != len(train) or train != list(range(len(train))):
            raise ValueError(f"label space {self.name!r}: train ids must be 0..C-1, each used once, got {train}")
        if self.void_id not in ids:
            raise ValueError(f"label space {self.name!r}: void id {self.void_id} is not one of its ids")

    # ----------------------------------------------------------------- lookups
    @property
    def num_classes(self) -> int:
        """Number of trained classes C (the one-hot tensor has C + 1 channels with void)."""
        return sum(not c.ignored for c in self.classes)

    @cached_property
    def train_classes(self) -> tuple[LabelClass, ...]:
        return tuple(sorted((c for c in self.classes if not c.ignored), key=lambda c: c.train_id))

    @property
    def train_names(self) -> list[str]:
        return [c.name for c in self.train_classes]

    def by_name(self, name: str) -> LabelClass:
        for c in self.classes:
            if c.name == name:
                return c
        raise KeyError(
            f"no class named {name!r} in label space {self.name!r}; classes: {[c.name for c in self.classes]}"
        )

    def id_of(self, name: str) -> int:
        return self.by_name(name).id

    @cached_property
    def _id_to_train_lut(self) -> np.ndarray:
        lut = np.full(256, self.ignore_index, dtype=np.uint8)
        for c in self.classes:
            lut[c.id] = c.train_id
        return lut

    @cached_property
    def _train_to_id_lut(self) -> np.ndarray:
        lut = np.full(256, self.void_id, dtype=np.uint8)
        for c in self.train_classes:
            lut[c.train_id] = c.id
        return lut

    @cached_property
    def _id_to_color_lut(self) -> np.ndarray:
        lut = np.zeros((256, 3), dtype=np.uint8)
        for c in self.classes:
            lut[c.id] = c.color
        return lut

    @cached_property
    def _valid_ids(self) -> np.ndarray:
        valid = np.zeros(256, dtype=bool)
        valid[[c.id for c in self.classes]] = True
        return valid

    @cached_property
    def palette(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct colours (Px3 uint8) and the id each decodes to.

        Several classes may share a colour (Cityscapes ids 0-4 are all black; polegroup is pole's
        grey). A shared colour decodes to the class that is trained, else to the lowest id.
        """
        chosen: dict[tuple[int, int, int], LabelClass] = {}
        for c in sorted(self.classes, key=lambda c: (c.ignored, c.id)):
            chosen.setdefault(c.color, c)
        colors = np.array(list(chosen.keys()), dtype=np.uint8).reshape(-1, 3)
        ids = np.array([c.id for c in chosen.values()], dtype=np.uint8)
        return colors, ids

    # ------------------------------------------------------------- conversions
    def ids_to_train(self, ids: np.ndarray) -> np.ndarray:
        """Id map -> train map (uint8; ``ignore_index`` for classes that are not trained)."""
        self.check_ids(ids)
        return self._id_to_train_lut[np.asarray(ids, dtype=np.int64)]

    def train_to_ids(self, train: np.ndarray) -> np.ndarray:
        """Train map -> id map (``void_id`` for ignore)."""
        return self._train_to_id_lut[np.asarray(train, dtype=np.int64) & 255]

    def colorize(self, ids: np.ndarray) -> np.ndarray:
        """Id map -> colour map (HxWx3 uint8)."""
        self.check_ids(ids)
        return self._id_to_color_lut[np.asarray(ids, dtype=np.int64)]

    def colorize_train(self, train: np.ndarray) -> np.ndarray:
        """Train map -> colour map."""
        return self.colorize(self.train_to_ids(train))

    def check_ids(self, ids: np.ndarray) -> None:
        """Raise :class:`LabelDecodeError` if the map holds ids that are not in this space."""
        arr = np.asarray(ids)
        if arr.size == 0:
            return
        if arr.min() < 0 or arr.max() > 255:
            raise LabelDecodeError(
                f"id map has values outside 0..255 (min {arr.min()}, max {arr.max()}); "
                f"label space {self.name!r} uses ids {sorted(c.id for c in self.classes)}"
            )
        counts = histogram(arr, 256)
        bad = ~self._valid_ids & (counts > 0)
        if bad.any():
            values = np.flatnonzero(bad)
            order = values[np.argsort(-counts[values], kind="stable")][:5]
            listed = ", ".join(f"{int(v)} ({int(counts[v])} px)" for v in order)
            raise LabelDecodeError(
                f"{int(counts[values].sum())} pixels have ids that label space {self.name!r} does not define: "
                f"{listed}. Valid ids: {sorted(c.id for c in self.classes)}. If this map uses another labelling, "
                "pass its label-space file (--label-space FILE)."
            )

    def decode_colors(
        self,
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
        pal_colors, pal_ids = self.palette
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
                f"{tolerance:g} from every colour of label space {self.name!r}; first offending colours: {listed}. "
                "Fix: repaint them with palette colours, pass the right label-space file (--label-space FILE), "
                "or raise the tolerance (--color-tolerance)."
            )
        return ids

    def one_hot(self, ids: np.ndarray | torch.Tensor, *, with_void: bool = True) -> torch.Tensor:
        """Id map (HxW) -> float one-hot tensor ``(C [+1 void]) x H x W`` over the train classes."""
        train = torch.as_tensor(self.ids_to_train(np.asarray(ids)), dtype=torch.long)
        return train_one_hot(train, self.num_classes, ignore_index=self.ignore_index, with_void=with_void)

    def from_one_hot(self, one_hot: torch.Tensor) -> np.ndarray:
        """One-hot or soft scores ``(C [+1]) x H x W`` -> id map (argmax; the void channel -> void id)."""
        train = one_hot.argmax(dim=0).cpu().numpy()
        train = np.where(train >= self.num_classes, self.ignore_index, train)
        return self.train_to_ids(train)

    # ------------------------------------------------------------------ images
    def decode_image(
        self,
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
            if kind == "ids" or (
                self._valid_ids[used].all() and np.array_equal(palette[used], self._id_to_color_lut[used])
            ):
                self.check_ids(indices)
                return indices.astype(np.uint8)
            return self.decode_colors(palette[indices], tolerance)
        if mode in ("L", "I", "I;16", "I;16B", "F", "1"):
            if kind == "color":
                return self.decode_colors(np.repeat(np.asarray(image.convert("L"))[..., None], 3, axis=2), tolerance)
            ids = image_array(image)
            if ids.dtype.kind == "f" and not np.all(ids == np.round(ids)):
                raise LabelDecodeError("floating-point label map with fractional values: save ids as integers")
            self.check_ids(ids)
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
                rgb[...] = self._id_to_color_lut[self.void_id]
            ids = self._decode_rgb(rgb, kind, tolerance)
            ids[transparent] = self.void_id
            return ids
        return self._decode_rgb(image_array(image if mode == "RGB" else image.convert("RGB")), kind, tolerance)

    def _decode_rgb(self, rgb: np.ndarray, kind: MapKind, tolerance: float) -> np.ndarray:
        gray = all(
            np.array_equal(rgb[rows, :, 0], rgb[rows, :, 1]) and np.array_equal(rgb[rows, :, 1], rgb[rows, :, 2])
            for rows in row_strips(rgb.shape[0], rgb.shape[1])
        )
        if kind == "ids" or (kind == "auto" and gray and not self._all_palette_colors(rgb)):
            ids = rgb[..., 0]
            self.check_ids(ids)
            return ids.astype(np.uint8)
        return self.decode_colors(rgb, tolerance)

    def _all_palette_colors(self, rgb: np.ndarray) -> bool:
        colors, _ = color_counts(rgb)
        return bool(np.isin(colors, pack_rgb(self.palette[0])).all())

    def load(
        self, path: str | Path, *, kind: MapKind = "auto", tolerance: float = DEFAULT_COLOR_TOLERANCE
    ) -> np.ndarray:
        """Read a label-map file into an id map; unreadable or too large files raise :class:`LabelDecodeError`.

        The file is opened with :func:`~imsynth.data.imagefile.open_image` (size checked before decoding).
        """
        try:
            with open_image(path) as image:
                return self.decode_image(image, kind=kind, tolerance=tolerance)
        except ImageReadError as exc:
            raise LabelDecodeError(str(exc)) from None
        except LabelDecodeError as exc:
            raise LabelDecodeError(f"{path}: {exc}") from None

    def palette_image(self, ids: np.ndarray) -> Image.Image:
        """Id map -> palette ("P") PNG image whose indices are the ids and whose palette is the colours."""
        self.check_ids(ids)
        image = Image.fromarray(np.asarray(ids, dtype=np.uint8), mode="P")
        image.putpalette(self._id_to_color_lut.reshape(-1).tolist())
        return image

    # ---------------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "ignore_index": self.ignore_index,
            "void_id": self.void_id,
            "classes": [
                {
                    "name": c.name,
                    "id": c.id,
                    "color": "#%02x%02x%02x" % c.color,
                    "train_id": c.train_id,
                    "category": c.category,
                }
                for c in self.classes
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "LabelSpace":
        """Build a space from ``{"name", "classes": [{"name", "id", "color", ["train_id" | "ignore"]}]}``.

        Classes without ``train_id`` get consecutive train ids in id order, unless ``"ignore": true``.
        """
        try:
            raw_classes = list(data["classes"])
        except (KeyError, TypeError):
            raise ValueError("label space needs a 'classes' list of {name, id, color}") from None
        parsed = []
        for i, entry in enumerate(raw_classes):
            missing = [k for k in ("name", "id", "color") if not isinstance(entry, dict) or entry.get(k) in (None, "")]
            if missing:
                raise ValueError(f"label space class #{i + 1} ({entry}): missing {', '.join(missing)}")
            parsed.append(entry)
        explicit = any("train_id" in e for e in parsed)
        next_train = 0
        classes = []
        for entry in sorted(parsed, key=lambda e: int(e["id"])):
            if explicit:
                train_id = int(entry.get("train_id", IGNORE_INDEX))
            elif entry.get("ignore", False):
                train_id = IGNORE_INDEX
            else:
                train_id, next_train = next_train, next_train + 1
            classes.append(
                LabelClass(
                    str(entry["name"]),
                    int(entry["id"]),
                    _parse_color(entry["color"]),
                    train_id,
                    str(entry.get("category", "")),
                )
            )
        ids = [c.id for c in classes]
        ignored = [c.id for c in classes if c.ignored]
        void_id = int(data.get("void_id", ignored[0] if ignored else min(ids)))
        return cls(
            str(data.get("name", "custom")), tuple(classes), int(data.get("ignore_index", IGNORE_INDEX)), void_id
        )

    @classmethod
    def from_file(cls, path: str | Path) -> "LabelSpace":
        """Read a user label space: JSON/YAML (see :meth:`from_dict`) or CSV with ``name,id,color[,ignore]``."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ValueError(f"cannot read label-space file {path}: {exc}") from None
        suffix = path.suffix.lower()
        try:
            if suffix == ".json":
                data = json.loads(text)
            elif suffix in (".yaml", ".yml"):
                import yaml

                try:
                    data = yaml.safe_load(text)
                except yaml.YAMLError as exc:
                    raise ValueError(f"not valid YAML ({exc})") from None
            elif suffix in (".csv", ".txt"):
                rows = [r for r in csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))]
                for row in rows:
                    row["ignore"] = str(row.get("ignore", "")).strip().lower() in ("1", "true", "yes")
                data = {"name": path.stem, "classes": rows}
            else:
                raise ValueError("use .json, .yaml or .csv")
            if not isinstance(data, dict):
                raise ValueError("expected a mapping with a 'classes' list of {name, id, color}")
            data.setdefault("name", path.stem)
            return cls.from_dict(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"label-space file {path}: {exc}") from None


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


def train_one_hot(
    train: torch.Tensor, num_classes: int, *, ignore_index: int = IGNORE_INDEX, with_void: bool = True
) -> torch.Tensor:
    """Train map (``[B]xHxW`` long) -> one-hot float ``[B]x(C+1)xHxW``; ignored pixels set the void channel."""
    train = train.long()
    valid = (train >= 0) & (train < num_classes)
    index = torch.where(valid, train, torch.full_like(train, num_classes))
    one_hot = torch.nn.functional.one_hot(index, num_classes + 1).movedim(-1, -3).float()
    return one_hot if with_void else one_hot.narrow(-3, 0, num_classes)


def _cityscapes() -> LabelSpace:
    """The official Cityscapes labels (labelIds 0..33, 19 trainIds, colours of cityscapesScripts)."""
    table: Sequence[tuple[str, int, int, str, tuple[int, int, int]]] = (
        ("unlabeled", 0, 255, "void", (0, 0, 0)),
        ("ego vehicle", 1, 255, "void", (0, 0, 0)),
        ("rectification border", 2, 255, "void", (0, 0, 0)),
        ("out of roi", 3, 255, "void", (0, 0, 0)),
        ("static", 4, 255, "void", (0, 0, 0)),
        ("dynamic", 5, 255, "void", (111, 74, 0)),
        ("ground", 6, 255, "void", (81, 0, 81)),
        ("road", 7, 0, "flat", (128, 64, 128)),
        ("sidewalk", 8, 1, "flat", (244, 35, 232)),
        ("parking", 9, 255, "flat", (250, 170, 160)),
        ("rail track", 10, 255, "flat", (230, 150, 140)),
        ("building", 11, 2, "construction", (70, 70, 70)),
        ("wall", 12, 3, "construction", (102, 102, 156)),
        ("fence", 13, 4, "construction", (190, 153, 153)),
        ("guard rail", 14, 255, "construction", (180, 165, 180)),
        ("bridge", 15, 255, "construction", (150, 100, 100)),
        ("tunnel", 16, 255, "construction", (150, 120, 90)),
        ("pole", 17, 5, "object", (153, 153, 153)),
        ("polegroup", 18, 255, "object", (153, 153, 153)),
        ("traffic light", 19, 6, "object", (250, 170, 30)),
        ("traffic sign", 20, 7, "object", (220, 220, 0)),
        ("vegetation", 21, 8, "nature", (107, 142, 35)),
        ("terrain", 22, 9, "nature", (152, 251, 152)),
        ("sky", 23, 10, "sky", (70, 130, 180)),
        ("person", 24, 11, "human", (220, 20, 60)),
        ("rider", 25, 12, "human", (255, 0, 0)),
        ("car", 26, 13, "vehicle", (0, 0, 142)),
        ("truck", 27, 14, "vehicle", (0, 0, 70)),
        ("bus", 28, 15, "vehicle", (0, 60, 100)),
        ("caravan", 29, 255, "vehicle", (0, 0, 90)),
        ("trailer", 30, 255, "vehicle", (0, 0, 110)),
        ("train", 31, 16, "vehicle", (0, 80, 100)),
        ("motorcycle", 32, 17, "vehicle", (0, 0, 230)),
        ("bicycle", 33, 18, "vehicle", (119, 11, 32)),
    )
    # ("license plate", -1) exists in cityscapesScripts only for instance annotations; it never
    # appears in labelIds images and is left out.
    return LabelSpace("cityscapes", tuple(LabelClass(n, i, c, t, cat) for n, i, t, cat, c in table))


CITYSCAPES: LabelSpace = _cityscapes()

_BUILTIN = {"cityscapes": CITYSCAPES}


StoredLabelSpace = str | dict[str, Any]
"""How a run config stores a label space: a built-in name, or the space itself (:meth:`LabelSpace.to_dict`)."""


def get_label_space(name_or_path: str | Path | LabelSpace | Mapping[str, Any] | None = None) -> LabelSpace:
    """``None``/``"cityscapes"`` -> :data:`CITYSCAPES`; a path -> :meth:`LabelSpace.from_file`; a dict -> the space."""
    if isinstance(name_or_path, LabelSpace):
        return name_or_path
    if name_or_path is None:
        return CITYSCAPES
    if isinstance(name_or_path, Mapping):
        return LabelSpace.from_dict(dict(name_or_path))
    key = str(name_or_path)
    if key.lower() in _BUILTIN:
        return _BUILTIN[key.lower()]
    if Path(key).exists():
        return LabelSpace.from_file(key)
    raise ValueError(f"unknown label space {key!r}: use 'cityscapes' or a .json/.yaml/.csv file of (name, id, color)")


def label_space_to_store(name_or_path: str | Path | LabelSpace) -> StoredLabelSpace:
    """What a run config records for ``--label-space``: a built-in's name, or a file's contents.

    Storing the contents makes a run (and its checkpoints) independent of the file: it may move or
    change, and a checkpoint never needs to name (and so make the loader read) a file.
    """
    if not isinstance(name_or_path, LabelSpace) and str(name_or_path).lower() in _BUILTIN:
        return str(name_or_path).lower()
    return get_label_space(name_or_path).to_dict()


def stored_label_space(value: StoredLabelSpace) -> LabelSpace:
    """The label space a run config stores; a file path (written by older versions) is refused, not read."""
    if isinstance(value, Mapping):
        return LabelSpace.from_dict(dict(value))
    if isinstance(value, str) and value.lower() in _BUILTIN:
        return _BUILTIN[value.lower()]
    raise ValueError(
        f"the label space is named by the file path {value!r} instead of being stored (runs trained before "
        "imsynth stored label spaces); a checkpoint may not make imsynth read a file, so train the model again "
        "with this version, which stores the label space itself"
    )


def iter_class_histogram(space: LabelSpace, ids: np.ndarray) -> Iterable[tuple[LabelClass, int]]:
    """(class, pixel count) for every class present in an id map, most frequent first."""
    counts = histogram(ids, 256)
    present = [(c, int(counts[c.id])) for c in space.classes if counts[c.id] > 0]
    return sorted(present, key=lambda item: -item[1])
