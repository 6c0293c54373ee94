"""Finding label maps under a folder: every map, one per Cityscapes scene, the rest named.

A folder may mix plain label maps (colour-coded or ids, any name) with Cityscapes files, where
one scene has several files: ``<scene>_gtFine_labelIds.png`` (used), ``<scene>_gtFine_color.png``
(the same layout in colours: used only when the scene has no labelIds map) and side files that
are not label maps (``_instanceIds``, ``_labelTrainIds``, the ``_leftImg8bit`` photo).
:func:`list_label_maps` returns the maps to use and, for each file it leaves out, why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from imsynth.data.cityscapes import parse_label_name
from imsynth.data.labels import MapKind

__all__ = ["LABEL_EXTENSIONS", "LabelMapFile", "LabelMapListing", "list_label_maps"]

LABEL_EXTENSIONS = (".png", ".bmp", ".gif", ".tif", ".tiff", ".jpg", ".jpeg", ".webp")
NOT_LABEL_MAPS = {
    "_instanceIds.png": "instance ids, not a label map",
    "_labelTrainIds.png": "train ids, not label ids (the scene's labelIds map is read instead)",
    "_leftImg8bit.png": "a photo, not a label map",
}


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


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def list_label_maps(path: str | Path) -> LabelMapListing:
    """A label-map file, or every label map under a folder (recursively, hidden files skipped).

    Per Cityscapes scene (folder and stem) the labelIds map is used and its colour map skipped;
    every other image file is a label map of its own.
    """
    path = Path(path)
    if path.is_file():
        parsed = parse_label_name(path)
        return LabelMapListing([LabelMapFile(path, parsed[1] if parsed else "auto")])
    listing = LabelMapListing()
    files = sorted(
        p for p in path.rglob("*") if p.suffix.lower() in LABEL_EXTENSIONS and p.is_file() and not _is_hidden(p, path)
    )
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
