"""Label spaces: which classes a layout may contain, their ids, train ids and colours.

Three representations of one semantic layout are used throughout imsynth:

* **id map** -- ``HxW`` integers, the label ids of the space (Cityscapes ``labelIds``: 0..33);
* **train map** -- ``HxW`` contiguous class indices ``0..C-1`` of the classes a model learns, with
  the space's ``ignore_index`` for void pixels (Cityscapes ``trainIds``: 19 classes, 255);
* **colour map** -- ``HxWx3`` RGB, each class in its official colour (Cityscapes ``*_color.png``),
* and, for networks, a **one-hot tensor** ``(C+1)xHxW``: one channel per train class plus a void channel
  (CRN, Sec. 3.2 of Chen & Koltun: "the label map is one-hot over the classes plus void").

:class:`LabelSpace` carries its class count ``C`` and its void/ignore id and converts between the
representations; decoding images is in :mod:`imsynth.data.labels.decode`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from imsynth.data.labels import decode
from imsynth.data.labels.decode import DEFAULT_COLOR_TOLERANCE, MapKind
from imsynth.data.labels.errors import LabelDecodeError
from imsynth.data.strips import histogram
from imsynth.nn.labelmaps import one_hot_with_void

__all__ = ["IGNORE_INDEX", "LabelClass", "LabelSpace"]

IGNORE_INDEX = 255
"""The default ignore id of train maps (Cityscapes' trainId 255); a label space may choose another."""


@dataclass(frozen=True)
class LabelClass:
    """One semantic class: its id in label maps, its colour, and its train id (``None``: not trained)."""

    name: str
    id: int
    color: tuple[int, int, int]
    train_id: int | None = None
    category: str = ""

    @property
    def ignored(self) -> bool:
        return self.train_id is None


def _parse_color(value: object) -> tuple[int, int, int]:
    """``"#rrggbb"`` or ``[r, g, b]`` -> an RGB triple of integers in 0..255."""
    if isinstance(value, str):
        text = value.strip().lstrip("#")
        if len(text) != 6:
            raise ValueError(f"colour {value!r}: expected '#rrggbb' or [r, g, b]")
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise ValueError(f"colour {value!r}: expected three integers in 0..255")
    red, green, blue = (int(v) for v in value)
    if not all(0 <= v <= 255 for v in (red, green, blue)):
        raise ValueError(f"colour {value!r}: expected three integers in 0..255")
    return red, green, blue


@dataclass(frozen=True)
class LabelSpace:
    """An ordered set of :class:`LabelClass` with conversions between label representations.

    ``ignore_index`` is the train-map value of pixels of no trained class (at least ``num_classes``);
    ``void_id`` is the id written for them when going back to id maps.
    """

    name: str
    classes: tuple[LabelClass, ...]
    ignore_index: int = IGNORE_INDEX
    void_id: int = 0

    def __post_init__(self) -> None:
        ids = [c.id for c in self.classes]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"label space {self.name!r}: duplicate ids {dup}")
        if any(not 0 <= i <= 255 for i in ids):
            raise ValueError(f"label space {self.name!r}: ids must be in 0..255 (uint8 maps)")
        train = sorted(c.train_id for c in self.classes if c.train_id is not None)
        if len(set(train)) != len(train) or train != list(range(len(train))):
            raise ValueError(f"label space {self.name!r}: train ids must be 0..C-1, each used once, got {train}")
        if not len(train) <= self.ignore_index <= 255:
            raise ValueError(
                f"label space {self.name!r}: ignore_index {self.ignore_index} must lie in {len(train)}..255 "
                f"(not a train id, fits a uint8 train map)"
            )
        if self.void_id not in ids:
            raise ValueError(f"label space {self.name!r}: void id {self.void_id} is not one of its ids")

    # ----------------------------------------------------------------- lookups
    @property
    def num_classes(self) -> int:
        """Number of trained classes C (the one-hot tensor has C + 1 channels with void)."""
        return sum(not c.ignored for c in self.classes)

    @cached_property
    def train_classes(self) -> tuple[LabelClass, ...]:
        trained = [(c.train_id, c) for c in self.classes if c.train_id is not None]
        return tuple(c for _, c in sorted(trained, key=lambda item: item[0]))

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
        for train_id, c in enumerate(self.train_classes):
            lut[c.id] = train_id
        return lut

    @cached_property
    def _train_to_id_lut(self) -> np.ndarray:
        lut = np.full(256, self.void_id, dtype=np.uint8)
        for train_id, c in enumerate(self.train_classes):
            lut[train_id] = c.id
        return lut

    @cached_property
    def id_colors(self) -> np.ndarray:
        """256x3 uint8: the colour of every id (black for ids the space does not use)."""
        lut = np.zeros((256, 3), dtype=np.uint8)
        for c in self.classes:
            lut[c.id] = c.color
        return lut

    @cached_property
    def valid_ids(self) -> np.ndarray:
        """256 booleans: which ids the space defines."""
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
        return self.id_colors[np.asarray(ids, dtype=np.int64)]

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
        bad = ~self.valid_ids & (counts > 0)
        if bad.any():
            values = np.flatnonzero(bad)
            order = values[np.argsort(-counts[values], kind="stable")][:5]
            listed = ", ".join(f"{int(v)} ({int(counts[v])} px)" for v in order)
            raise LabelDecodeError(
                f"{int(counts[values].sum())} pixels have ids that label space {self.name!r} does not define: "
                f"{listed}. Valid ids: {sorted(c.id for c in self.classes)}. If this map uses another labelling, "
                "pass its label-space file (--label-space FILE)."
            )

    def one_hot(self, ids: np.ndarray | torch.Tensor, *, with_void: bool = True) -> torch.Tensor:
        """Id map (HxW) -> float one-hot tensor ``(C [+1 void]) x H x W`` over the train classes."""
        train = torch.as_tensor(self.ids_to_train(np.asarray(ids)), dtype=torch.long)
        one_hot = one_hot_with_void(train[None], self.num_classes, self.ignore_index)[0]
        return one_hot if with_void else one_hot[: self.num_classes]

    def from_one_hot(self, one_hot: torch.Tensor) -> np.ndarray:
        """One-hot or soft scores ``(C [+1]) x H x W`` -> id map (argmax; the void channel -> void id)."""
        train = one_hot.argmax(dim=0).cpu().numpy()
        train = np.where(train >= self.num_classes, self.ignore_index, train)
        return self.train_to_ids(train)

    # ------------------------------------------------------------------ images (see labels.decode)
    def decode_colors(
        self,
        rgb: np.ndarray,
        tolerance: float = DEFAULT_COLOR_TOLERANCE,
        max_artefact_fraction: float = decode.DEFAULT_MAX_ARTEFACT_FRACTION,
    ) -> np.ndarray:
        """Colour map (HxWx3) -> id map: :func:`imsynth.data.labels.decode.decode_colors`."""
        return decode.decode_colors(self, rgb, tolerance, max_artefact_fraction)

    def decode_image(
        self, image: Image.Image, *, kind: MapKind = "auto", tolerance: float = DEFAULT_COLOR_TOLERANCE
    ) -> np.ndarray:
        """A label-map image of any common form -> id map: :func:`imsynth.data.labels.decode.decode_image`."""
        return decode.decode_image(self, image, kind=kind, tolerance=tolerance)

    def load(
        self, path: str | Path, *, kind: MapKind = "auto", tolerance: float = DEFAULT_COLOR_TOLERANCE
    ) -> np.ndarray:
        """Read a label-map file into an id map; unreadable or too large files raise :class:`LabelDecodeError`."""
        return decode.load_label_map(self, path, kind=kind, tolerance=tolerance)

    def palette_image(self, ids: np.ndarray) -> Image.Image:
        """Id map -> palette ("P") PNG image whose indices are the ids and whose palette is the colours."""
        self.check_ids(ids)
        image = Image.fromarray(np.asarray(ids, dtype=np.uint8), mode="P")
        image.putpalette(self.id_colors.reshape(-1).tolist())
        return image

    # ---------------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ignore_index": self.ignore_index,
            "void_id": self.void_id,
            "classes": [
                {
                    "name": c.name,
                    "id": c.id,
                    "color": "#{:02x}{:02x}{:02x}".format(*c.color),
                    "train_id": self.ignore_index if c.train_id is None else c.train_id,
                    "category": c.category,
                }
                for c in self.classes
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelSpace:
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
        ignore_index = int(data.get("ignore_index", IGNORE_INDEX))
        explicit = any("train_id" in e for e in parsed)
        next_train = 0
        classes = []
        for entry in sorted(parsed, key=lambda e: int(e["id"])):
            train_id: int | None = None
            if explicit:
                given = int(entry.get("train_id", ignore_index))
                train_id = None if given == ignore_index else given
            elif not entry.get("ignore", False):
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
        return cls(str(data.get("name", "custom")), tuple(classes), ignore_index, void_id)

    @classmethod
    def from_file(cls, path: str | Path) -> LabelSpace:
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
