"""Finding image and label-map files: one extension list, one lister.

Hidden files and folders (``.name``) are skipped everywhere; the order is sorted, so runs repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["IMAGE_EXTENSIONS", "NOT_LABEL_MAPS", "list_images", "list_label_files", "list_label_maps", "list_photos"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
"""Photo and label-map files, matched in any case."""
NOT_LABEL_MAPS = ("_instanceIds.png", "_labelTrainIds.png", "_leftImg8bit.png")
"""Cityscapes files that live beside label maps but are not label-id / colour maps."""


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


def list_label_files(folder: str | Path) -> list[Path]:
    """The images under ``folder`` that may be label maps (Cityscapes photos and instance maps left out)."""
    return [p for p in list_images(folder) if not p.name.endswith(NOT_LABEL_MAPS)]


def list_photos(path: str | Path) -> list[Path]:
    """An image file, or the images under a folder (recursively, hidden files skipped)."""
    return _file_or_listing(path, "image", list_images, f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under")


def list_label_maps(path: str | Path) -> list[Path]:
    """A label-map file, or the label maps in a folder (Cityscapes ``*_labelIds.png`` preferred)."""
    return _file_or_listing(path, "label map", _preferred_label_maps, "no label maps (PNG images) found in")


def _preferred_label_maps(folder: Path) -> list[Path]:
    files = list_label_files(folder)
    id_maps = [p for p in files if p.name.endswith("_labelIds.png")]
    return id_maps or files


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
