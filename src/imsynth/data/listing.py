"""Finding image and label-map files: one extension list, one lister.

Hidden files and folders (``.name``) are skipped everywhere; the order is sorted, so runs repeat.

A folder of label maps may mix plain maps (colour-coded or ids, any name) with Cityscapes files, where
one scene has several files: ``<scene>_gtFine_labelIds.png`` (used), ``<scene>_gtFine_color.png`` (the
same layout in colours: used only when the scene has no labelIds map) and side files that are not label
maps (``_instanceIds``, ``_labelTrainIds``, the ``_leftImg8bit`` photo). :func:`list_label_maps` returns
every map to use and, for each file it leaves out, why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from imsynth.data.cityscapes import parse_label_name
from imsynth.data.labels import MapKind

__all__ = [
    "IMAGE_EXTENSIONS",
    "NOT_LABEL_MAPS",
    "LabelMapFile",
    "LabelMapListing",
    "list_images",
    "list_label_maps",
    "list_photos",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
"""Photo and label-map files, matched in any case."""
NOT_LABEL_MAPS = {
    "_instanceIds.png": "instance ids, not a label map",
    "_labelTrainIds.png": "train ids, not label ids (the scene's labelIds map is read instead)",
    "_leftImg8bit.png": "a photo, not a label map",
}
"""Cityscapes files that live beside label maps but are not label-id / colour maps, and why."""


def list_images(folder: str | Path, recursive: bool = True) -> list[Path]:
    """Image files (by extension, any case) in ``folder`` (and its sub-folders), hidden ones skipped, sorted."""
    folder = Path(folder)
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    found = [
        p
        for p in candidates
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(found)


def list_photos(path: str | Path) -> list[Path]:
    """An image file, or the images under a folder (recursively, hidden files skipped)."""
    return _file_or_listing(path, "image", list_images, f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under")


@dataclass(frozen=True)
class LabelMapFile:
    """A label map and how to decode it (``"ids"``/``"color"`` from a Cityscapes name, else ``"auto"``)."""

    path: Path
    kind: MapKind = "auto"


@dataclass
class LabelMapListing:
    """The label maps found, and the files passed over with the reason for each."""

    maps: list[LabelMapFile] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def list_label_maps(path: str | Path) -> LabelMapListing:
    """A label-map file, or every label map under a folder (recursively, hidden files skipped).

    Per Cityscapes scene (folder and stem) the labelIds map is used and its colour map skipped; every
    other image file is a label map of its own. ``FileNotFoundError`` if ``path`` is neither a file
    nor a folder; a folder without maps gives an empty listing (its ``skipped`` may say why).
    """
    path = Path(path)
    if path.is_file():
        parsed = parse_label_name(path)
        return LabelMapListing([LabelMapFile(path, parsed[1] if parsed else "auto")])
    if not path.is_dir():
        raise FileNotFoundError(f"no such label map or folder: {path}")
    listing = LabelMapListing()
    files = list_images(path)
    with_ids = {(p.parent, parsed[0]) for p in files if (parsed := parse_label_name(p)) and parsed[1] == "ids"}
    for file in files:
        side = next((reason for suffix, reason in NOT_LABEL_MAPS.items() if file.name.endswith(suffix)), None)
        parsed = parse_label_name(file)
        if side is not None:
            listing.skipped.append((file, side))
        elif parsed is None:
            listing.maps.append(LabelMapFile(file))
        elif parsed[1] == "ids" or (file.parent, parsed[0]) not in with_ids:
            listing.maps.append(LabelMapFile(file, parsed[1]))
        else:
            listing.skipped.append((file, "the scene's labelIds map is used instead"))
    return listing


def _file_or_listing(path: str | Path, what: str, lister: Callable[[Path], list[Path]], none_found: str) -> list[Path]:
    """``[path]`` for a file, ``lister(path)`` for a folder; ``FileNotFoundError`` for nothing found."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no such {what} or folder: {path}")
    files = lister(path)
    if not files:
        raise FileNotFoundError(f"{none_found} {path}")
    return files
