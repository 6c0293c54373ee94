"""The Cityscapes label table (official labelIds, trainIds and colours), the built-in label spaces, and how a
run config names one (a built-in's name or the space's contents: :func:`label_space_to_store`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imsynth.data.labels.space import LabelClass, LabelSpace
from imsynth.data.strips import histogram

__all__ = [
    "CITYSCAPES",
    "StoredLabelSpace",
    "get_label_space",
    "iter_class_histogram",
    "label_space_to_store",
    "stored_label_space",
]


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
    classes = (LabelClass(name, i, color, None if t == 255 else t, cat) for name, i, t, cat, color in table)
    return LabelSpace("cityscapes", tuple(classes))


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
