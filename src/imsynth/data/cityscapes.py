"""The Cityscapes directory convention, in one place.

A Cityscapes-format dataset root holds photos and label maps side by side::

    leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png        photo (stem = <city>_<seq>_<frame>)
    gtFine/<split>/<city>/<stem>_gtFine_labelIds.png         label ids (grayscale, preferred)
    gtFine/<split>/<city>/<stem>_gtFine_color.png            colour-coded labels (fallback)
    gtCoarse/<split>/<city>/<stem>_gtCoarse_labelIds.png     coarse annotations (used when no gtFine)

:func:`scan_pairs` matches photos with label maps and reports, as structured
:class:`PairingProblem` records, photos without labels and labels without photos;
:func:`find_pairs` returns just the matched :class:`CityscapesSample` list. Both are sorted,
so two scans of the same tree give the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

IMAGE_DIR = "leftImg8bit"
IMAGE_SUFFIX = "_leftImg8bit.png"
ANNOTATIONS = ("gtFine", "gtCoarse")
"""Annotation folders, most preferred first."""
LABEL_KINDS: tuple[tuple[str, Literal["ids", "color"]], ...] = (("labelIds", "ids"), ("color", "color"))
"""Label-file variants ``<stem>_<annotation>_<variant>.png``, most preferred first, and how to decode them."""

LabelKind = Literal["ids", "color"]
ProblemKind = Literal["image without label", "label without image"]


@dataclass(frozen=True)
class CityscapesSample:
    """One photo and its label map; ``label_kind`` says whether the map holds ids or colours."""

    stem: str
    city: str
    image_path: Path
    label_path: Path
    label_kind: LabelKind


@dataclass(frozen=True)
class PairingProblem:
    """A photo without a label map, or a label map without a photo."""

    path: Path
    kind: ProblemKind
    stem: str

    @property
    def message(self) -> str:
        if self.kind == "image without label":
            looked = f"{'/'.join(ANNOTATIONS)} *_labelIds.png or *_color.png"
            return f"photo {self.stem} has no label map (looked for {looked})"
        return f"label map {self.stem} has no photo ({IMAGE_DIR}/.../{self.stem}{IMAGE_SUFFIX})"


@dataclass(frozen=True)
class PairScan:
    """The result of :func:`scan_pairs`: matched samples and what could not be matched."""

    samples: list[CityscapesSample] = field(default_factory=list)
    problems: list[PairingProblem] = field(default_factory=list)

    @property
    def images_without_labels(self) -> list[PairingProblem]:
        return [p for p in self.problems if p.kind == "image without label"]

    @property
    def labels_without_images(self) -> list[PairingProblem]:
        return [p for p in self.problems if p.kind == "label without image"]


# ------------------------------------------------------------------------------ path builders
def image_path(root: str | Path, split: str, city: str, stem: str) -> Path:
    """``root/leftImg8bit/<split>/<city>/<stem>_leftImg8bit.png``."""
    return Path(root) / IMAGE_DIR / split / city / f"{stem}{IMAGE_SUFFIX}"


def label_ids_path(root: str | Path, split: str, city: str, stem: str, annotation: str = "gtFine") -> Path:
    """``root/<annotation>/<split>/<city>/<stem>_<annotation>_labelIds.png``."""
    return Path(root) / annotation / split / city / f"{stem}_{annotation}_labelIds.png"


def label_color_path(root: str | Path, split: str, city: str, stem: str, annotation: str = "gtFine") -> Path:
    """``root/<annotation>/<split>/<city>/<stem>_<annotation>_color.png``."""
    return Path(root) / annotation / split / city / f"{stem}_{annotation}_color.png"


def parse_label_name(path: str | Path) -> tuple[str, LabelKind] | None:
    """``<stem>_gtFine_labelIds.png`` -> ``(stem, "ids")``; ``None`` for other files (instanceIds, ...)."""
    name = Path(path).name
    for annotation in ANNOTATIONS:
        for variant, kind in LABEL_KINDS:
            suffix = f"_{annotation}_{variant}.png"
            if name.endswith(suffix) and len(name) > len(suffix):
                return name[: -len(suffix)], kind
    return None


# ------------------------------------------------------------------------------ scanning
def is_cityscapes_root(path: str | Path) -> bool:
    """True if ``path`` is a folder holding ``leftImg8bit/`` or an annotation folder."""
    path = Path(path)
    return path.is_dir() and any((path / name).is_dir() for name in (IMAGE_DIR, *ANNOTATIONS))


def list_splits(root: str | Path) -> list[str]:
    """Split names (``train``, ``val``, ...) that have a folder under photos or annotations, sorted."""
    root = Path(root)
    splits = {
        child.name
        for top in (IMAGE_DIR, *ANNOTATIONS)
        if (root / top).is_dir()
        for child in (root / top).iterdir()
        if child.is_dir() and not child.name.startswith(".")
    }
    return sorted(splits)


def _label_files(root: Path, split: str) -> dict[tuple[str, str], tuple[Path, LabelKind]]:
    """``(city, stem) -> (label path, kind)``, keeping the most preferred file of each stem."""
    chosen: dict[tuple[str, str], tuple[int, Path, LabelKind]] = {}
    for rank_annotation, annotation in enumerate(ANNOTATIONS):
        folder = root / annotation / split
        if not folder.is_dir():
            continue
        for rank_variant, (variant, kind) in enumerate(LABEL_KINDS):
            suffix = f"_{annotation}_{variant}.png"
            for path in folder.glob(f"*/*{suffix}"):
                key = (path.parent.name, path.name[: -len(suffix)])
                rank = rank_annotation * len(LABEL_KINDS) + rank_variant
                if key not in chosen or rank < chosen[key][0]:
                    chosen[key] = (rank, path, kind)
    return {key: (path, kind) for key, (_, path, kind) in chosen.items()}


def scan_pairs(root: str | Path, split: str) -> PairScan:
    """Match every photo of ``split`` with its label map; list what stays unmatched.

    A missing root or split gives an empty scan (callers decide how to report that).
    """
    root = Path(root)
    images: dict[tuple[str, str], Path] = {}
    image_folder = root / IMAGE_DIR / split
    if image_folder.is_dir():
        for path in image_folder.glob(f"*/*{IMAGE_SUFFIX}"):
            images[(path.parent.name, path.name[: -len(IMAGE_SUFFIX)])] = path
    labels = _label_files(root, split)

    samples = [
        CityscapesSample(stem, city, images[(city, stem)], *labels[(city, stem)])
        for city, stem in sorted(images.keys() & labels.keys())
    ]
    problems = [
        PairingProblem(images[key], "image without label", key[1]) for key in sorted(images.keys() - labels.keys())
    ]
    problems += [
        PairingProblem(labels[key][0], "label without image", key[1]) for key in sorted(labels.keys() - images.keys())
    ]
    return PairScan(samples, problems)


def find_pairs(root: str | Path, split: str) -> list[CityscapesSample]:
    """The matched (photo, label map) samples of ``split``, sorted by (city, stem)."""
    return scan_pairs(root, split).samples
