"""Torch datasets that stream photos and label maps from disk.

Every dataset lists its files when built and reads them in ``__getitem__``: nothing is held in
memory, no file handle stays open, and instances pickle cleanly into ``DataLoader`` workers.

Conventions shared by all datasets:

* images are float tensors ``3xHxW`` in **[0, 1]** (models that want [-1, 1] rescale themselves);
* label maps come as ``"label"`` (long ``HxW`` train ids, 255 = ignore) and ``"ids"`` (long label ids);
* every item has a ``"name"`` (the file stem, or the relative path for :class:`ImageFolder`);
* random augmentation (random crop, flip) for item ``i`` is drawn from a generator seeded with
  ``mix_seed(seed, epoch, i)``, so an item depends only on ``(seed, epoch, index)`` -- not on worker
  count, worker id or the order items are read. Call :meth:`SeededDataset.set_epoch` at the start of
  each epoch (with ``persistent_workers=True`` workers keep the copy they started with, so set the
  epoch before creating the loader's iterator, or rebuild it).

Problems raise :class:`DatasetError` (a ``ValueError``) naming the offending folder or file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from imsynth.data.cityscapes import IMAGE_DIR, IMAGE_SUFFIX, CityscapesSample, list_splits, scan_pairs
from imsynth.data.imagefile import ImageReadError, open_image
from imsynth.data.labels import CITYSCAPES, DEFAULT_COLOR_TOLERANCE, LabelDecodeError, LabelSpace, get_label_space
from imsynth.data.listing import IMAGE_EXTENSIONS, list_images
from imsynth.data.transforms import (
    Geometry,
    PairTransformConfig,
    SizeSpec,
    apply_to_image,
    apply_to_label,
    plan_geometry,
)
from imsynth.utils.images import uint8_to_tensor
from imsynth.utils.seeding import mix_seed

STREETS_HINT = "to render the embedded street dataset run `imsynth data streets --out DIR`"
CropMode = Literal["random", "center"]


class DatasetError(ValueError):
    """A dataset that cannot be built or an item that cannot be read; the message names the path."""


# ------------------------------------------------------------------------------ reading files
def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB: transparency composited onto white, 16-bit scaled to 8-bit."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        if values.size and values.max() > 255:
            values = values / 257.0
        return Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8)).convert("RGB")
    if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def read_rgb(path: Path) -> np.ndarray:
    """Read a photo as ``HxWx3`` uint8 (EXIF orientation applied); :class:`DatasetError` if unreadable."""
    try:
        with open_image(path) as image:
            return np.array(to_rgb(ImageOps.exif_transpose(image)))
    except ImageReadError as exc:
        raise DatasetError(f"cannot read image {exc}") from None


def _require_folder(path: Path, what: str) -> None:
    if not path.exists():
        raise DatasetError(f"{what} {path} does not exist")
    if not path.is_dir():
        raise DatasetError(f"{what} {path} is not a folder")


def _first(names: Sequence[str], count: int = 5) -> str:
    shown = ", ".join(names[:count])
    return shown + (f", ... ({len(names) - count} more)" if len(names) > count else "")


def _patterns() -> str:
    return ", ".join(f"*{ext}" for ext in IMAGE_EXTENSIONS)


# ------------------------------------------------------------------------------ base class
class SeededDataset(Dataset):
    """A dataset whose augmentation depends only on ``(seed, epoch, index)``."""

    transform: PairTransformConfig

    def __init__(self, transform: PairTransformConfig, seed: int = 0) -> None:
        self.transform = transform
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation of ``epoch`` (call before iterating each epoch)."""
        self.epoch = int(epoch)

    def item_rng(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` in the current epoch."""
        return np.random.default_rng(mix_seed(self.seed, self.epoch, index))

    def geometry(self, index: int, size: tuple[int, int], path: Path) -> Geometry:
        """Draw item ``index``'s transform for an input of ``size``; errors name ``path``."""
        try:
            return plan_geometry(self.transform, size, self.item_rng(index))
        except ValueError as exc:
            raise DatasetError(f"{path}: {exc}") from None


def _transform(size: SizeSpec | None, crop_size: SizeSpec | None, crop: CropMode, flip: bool) -> PairTransformConfig:
    try:
        return PairTransformConfig(size=size, crop_size=crop_size, crop=crop, flip=flip)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None


def _label_tensors(space: LabelSpace, ids: np.ndarray) -> dict[str, torch.Tensor]:
    return {
        "label": torch.from_numpy(space.ids_to_train(ids).astype(np.int64)),
        "ids": torch.from_numpy(ids.astype(np.int64)),
    }


# ------------------------------------------------------------------------------ Cityscapes
class CityscapesPairs(SeededDataset):
    """Photo / label-map pairs of a Cityscapes-format root (real Cityscapes or the embedded streets).

    Items: ``{"image": 3xHxW float [0,1], "label": HxW long train ids (255 = ignore),
    "ids": HxW long label ids, "name": stem}``. Pairs are resized to ``size`` (``(h, w)``, an int
    for the shorter side, or ``None`` to keep the file size), then optionally cropped to
    ``crop_size`` and flipped. Unmatched files are an error unless ``skip_unmatched``.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        label_space: LabelSpace | str | Path | Mapping[str, Any] = CITYSCAPES,
        size: SizeSpec | None = (256, 512),
        *,
        crop_size: SizeSpec | None = None,
        crop: CropMode = "random",
        flip: bool = False,
        seed: int = 0,
        tolerance: float = DEFAULT_COLOR_TOLERANCE,
        skip_unmatched: bool = False,
    ) -> None:
        super().__init__(_transform(size, crop_size, crop, flip), seed)
        self.root = Path(root)
        self.split = split
        self.label_space = get_label_space(label_space)
        self.tolerance = tolerance
        _require_folder(self.root, "dataset root")
        scan = scan_pairs(self.root, split)
        if not scan.samples and not scan.problems:
            present = list_splits(self.root)
            raise DatasetError(
                f"no images found under {self.root} (looked for *{IMAGE_SUFFIX} in {IMAGE_DIR}/{split}/*/)"
                + (f"; splits present: {', '.join(present)}" if present else "")
                + f"; {STREETS_HINT}"
            )
        if scan.problems and not skip_unmatched:
            parts = []
            if scan.images_without_labels:
                names = [p.stem for p in scan.images_without_labels]
                parts.append(f"{len(names)} photos without a label map ({_first(names)})")
            if scan.labels_without_images:
                names = [p.stem for p in scan.labels_without_images]
                parts.append(f"{len(names)} label maps without a photo ({_first(names)})")
            raise DatasetError(
                f"unmatched pairs in {self.root} split {split!r}: {'; '.join(parts)}. "
                "Pass skip_unmatched=True to use only the matched pairs."
            )
        if not scan.samples:
            raise DatasetError(f"no photo of {self.root} split {split!r} has a label map")
        self.samples: list[CityscapesSample] = scan.samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        sample = self.samples[index]
        image = read_rgb(sample.image_path)
        try:
            ids = self.label_space.load(sample.label_path, kind=sample.label_kind, tolerance=self.tolerance)
        except LabelDecodeError as exc:
            raise DatasetError(str(exc)) from None
        if image.shape[:2] != ids.shape:
            raise DatasetError(
                f"{sample.stem}: photo {sample.image_path} is {image.shape[0]}x{image.shape[1]} (HxW) but label map "
                f"{sample.label_path} is {ids.shape[0]}x{ids.shape[1]}"
            )
        geometry = self.geometry(index, image.shape[:2], sample.image_path)
        ids = apply_to_label(ids, geometry)
        return {
            "image": uint8_to_tensor(apply_to_image(image, geometry)),
            **_label_tensors(self.label_space, ids),
            "name": sample.stem,
        }


# ------------------------------------------------------------------------------ pix2pix pairs
class _ABPairs(SeededDataset):
    """Shared item logic of the two pix2pix-style datasets: same geometry for A and B."""

    direction: Literal["AtoB", "BtoA"]

    def _init_direction(self, direction: str) -> None:
        if direction not in ("AtoB", "BtoA"):
            raise DatasetError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        self.direction = direction  # type: ignore[assignment]

    def _item(self, index: int, a: np.ndarray, b: np.ndarray, name: str, path: Path) -> dict:
        if self.direction == "BtoA":
            a, b = b, a
        geometry = self.geometry(index, a.shape[:2], path)
        return {
            "A": uint8_to_tensor(apply_to_image(a, geometry)),
            "B": uint8_to_tensor(apply_to_image(b, geometry)),
            "name": name,
        }


class AlignedPairs(_ABPairs):
    """pix2pix "aligned" images: A (left half) and B (right half) side by side in one file.

    Files are ``root/*.jpg|png|...`` or, with ``split``, ``root/<split>/*``. Items:
    ``{"A": 3xHxW, "B": 3xHxW, "name": stem}`` in [0, 1]; ``direction="BtoA"`` swaps them.
    Jitter as in pix2pix: ``load_size=286, crop_size=256, flip=True``.
    """

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        direction: Literal["AtoB", "BtoA"] = "AtoB",
        *,
        load_size: SizeSpec | None = None,
        crop_size: SizeSpec | None = None,
        crop: CropMode = "random",
        flip: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__(_transform(load_size, crop_size, crop, flip), seed)
        self._init_direction(direction)
        self.root = Path(root)
        _require_folder(self.root, "dataset root")
        self.folder = self.root if split is None else self.root / split
        if split is not None and not self.folder.is_dir():
            subfolders = sorted(p.name for p in self.root.iterdir() if p.is_dir())
            raise DatasetError(
                f"no split folder {self.folder} (subfolders: {', '.join(subfolders) or 'none'}); "
                "pass split=None to read images directly from the root"
            )
        self.paths = list_images(self.folder, recursive=False)
        if not self.paths:
            raise DatasetError(f"no images found under {self.folder} (looked for {_patterns()})")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        path = self.paths[index]
        image = read_rgb(path)
        width = image.shape[1]
        if width % 2:
            raise DatasetError(
                f"aligned image {path} is {width} pixels wide: an A|B image needs an even width "
                "(A the left half, B the right half)"
            )
        return self._item(index, image[:, : width // 2], image[:, width // 2 :], path.stem, path)


class PairedFolders(_ABPairs):
    """Two folders of images matched by file stem: ``root_a/x.png`` pairs with ``root_b/x.jpg``.

    Items: ``{"A", "B", "name"}`` as for :class:`AlignedPairs`. Stems present in only one folder are
    an error unless ``skip_unmatched``; A and B of a pair must have the same size.
    """

    def __init__(
        self,
        root_a: str | Path,
        root_b: str | Path,
        direction: Literal["AtoB", "BtoA"] = "AtoB",
        *,
        load_size: SizeSpec | None = None,
        crop_size: SizeSpec | None = None,
        crop: CropMode = "random",
        flip: bool = False,
        seed: int = 0,
        skip_unmatched: bool = False,
    ) -> None:
        super().__init__(_transform(load_size, crop_size, crop, flip), seed)
        self._init_direction(direction)
        self.root_a, self.root_b = Path(root_a), Path(root_b)
        by_stem_a = self._by_stem(self.root_a)
        by_stem_b = self._by_stem(self.root_b)
        only_a = sorted(by_stem_a.keys() - by_stem_b.keys())
        only_b = sorted(by_stem_b.keys() - by_stem_a.keys())
        if (only_a or only_b) and not skip_unmatched:
            parts = [
                f"{len(names)} only in {root} ({_first(names)})"
                for names, root in ((only_a, self.root_a), (only_b, self.root_b))
                if names
            ]
            raise DatasetError(
                f"unmatched pairs: {'; '.join(parts)}. Pass skip_unmatched=True to use the matched ones."
            )
        stems = sorted(by_stem_a.keys() & by_stem_b.keys())
        if not stems:
            raise DatasetError(f"no file stem appears in both {self.root_a} and {self.root_b}")
        self.pairs: list[tuple[str, Path, Path]] = [(s, by_stem_a[s], by_stem_b[s]) for s in stems]

    @staticmethod
    def _by_stem(folder: Path) -> dict[str, Path]:
        _require_folder(folder, "image folder")
        paths = list_images(folder, recursive=False)
        if not paths:
            raise DatasetError(f"no images found under {folder} (looked for {_patterns()})")
        by_stem: dict[str, Path] = {}
        for path in paths:
            if path.stem in by_stem:
                other = by_stem[path.stem].name
                raise DatasetError(f"two images named {path.stem!r} in {folder}: {other}, {path.name}")
            by_stem[path.stem] = path
        return by_stem

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        stem, path_a, path_b = self.pairs[index]
        a, b = read_rgb(path_a), read_rgb(path_b)
        if a.shape != b.shape:
            raise DatasetError(
                f"{stem}: {path_a} is {a.shape[0]}x{a.shape[1]} (HxW) but {path_b} is {b.shape[0]}x{b.shape[1]}"
            )
        return self._item(index, a, b, stem, path_a)


# ------------------------------------------------------------------------------ plain photos
class ImageFolder(SeededDataset):
    """A folder of photos (jpg/png/webp/bmp, any colour mode), e.g. for colorization.

    Items: ``{"image": 3xHxW float [0,1] RGB, "name": relative path without extension}``.
    ``size`` resizes (``(h, w)``, or an int for the shorter side); ``crop_size`` then crops
    (``crop="center"`` or ``"random"``); ``flip`` mirrors at random. Batching needs equal sizes, so
    give an exact ``size`` or a ``crop_size`` when photos differ in shape.
    """

    def __init__(
        self,
        root: str | Path,
        size: SizeSpec | None = None,
        *,
        recursive: bool = True,
        crop_size: SizeSpec | None = None,
        crop: CropMode = "center",
        flip: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__(_transform(size, crop_size, crop, flip), seed)
        self.root = Path(root)
        _require_folder(self.root, "image folder")
        self.paths = list_images(self.root, recursive)
        if not self.paths:
            where = "recursively" if recursive else "non-recursively"
            raise DatasetError(f"no images found under {self.root} (looked {where} for {_patterns()})")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        path = self.paths[index]
        image = read_rgb(path)
        geometry = self.geometry(index, image.shape[:2], path)
        name = path.relative_to(self.root).with_suffix("").as_posix()
        return {"image": uint8_to_tensor(apply_to_image(image, geometry)), "name": name}
