"""Writing rendered street scenes to disk in the Cityscapes directory format.

Layout of the output (exactly what Cityscapes loaders expect)::

    root/leftImg8bit/<split>/<city>/<city>_<seq:06d>_<frame:06d>_leftImg8bit.png
    root/gtFine/<split>/<city>/<city>_<seq:06d>_<frame:06d>_gtFine_labelIds.png   (mode "L")
    root/gtFine/<split>/<city>/<city>_<seq:06d>_<frame:06d>_gtFine_color.png      (RGB)
    root/streets.json

Every image of every split has its own layout seed, derived from ``(seed, split name, index)``
with :class:`numpy.random.SeedSequence`, so splits never share layouts and the output does not
depend on the number of worker processes. Each file is written atomically.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .layout import check_seed, check_size, render_layout
from .render import render_photo

RENDERER_VERSION = "1.0"
FRAME = 19  # Cityscapes annotates frame 19 of each 30-frame snippet

SPLIT_CITIES: dict[str, tuple[str, ...]] = {
    "train": ("procville", "rasterburg", "voxelheim", "polygonia"),
    "val": ("seedham", "noisewick"),
    "test": ("pixelmund", "vertexford"),
}
"""Invented city names per split (Cityscapes splits never share a city either)."""


def split_cities(split: str) -> tuple[str, ...]:
    """The city names used for ``split``."""
    if split in SPLIT_CITIES:
        return SPLIT_CITIES[split]
    clean = "".join(ch for ch in split.lower() if ch.isalnum()) or "extra"
    return (f"{clean}ville",)


def scene_seeds(seed: int, split: str, index: int) -> tuple[int, int]:
    """``(layout seed, appearance seed)`` of image ``index`` of ``split`` in a dataset seeded ``seed``."""
    ss = np.random.SeedSequence([check_seed(seed), zlib.crc32(split.encode("utf-8")), int(index)])
    a, b = ss.generate_state(2, dtype=np.uint64)
    return int(a >> np.uint64(1)), int(b >> np.uint64(1))


def scene_stem(split: str, index: int) -> tuple[str, str]:
    """``(city, file stem)`` of image ``index`` of ``split``: cities take turns, the sequence
    number counts the images of one city."""
    cities = split_cities(split)
    city = cities[index % len(cities)]
    return city, f"{city}_{index // len(cities):06d}_{FRAME:06d}"


def _write_one(task: tuple[str, str, int, int, int, int]) -> str:
    root, split, index, seed, height, width = task
    from imsynth.data.labels import CITYSCAPES
    from imsynth.utils.io import save_image

    city, stem = scene_stem(split, index)
    layout_seed, appearance_seed = scene_seeds(seed, split, index)
    layout = render_layout(layout_seed, height, width)
    photo = render_photo(layout, appearance_seed)
    ids = np.ascontiguousarray(layout.ids)
    base = Path(root)
    save_image(base / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", photo)
    gt = base / "gtFine" / split / city
    save_image(gt / f"{stem}_gtFine_labelIds.png", ids)
    save_image(gt / f"{stem}_gtFine_color.png", CITYSCAPES.colorize(ids))
    return stem


def is_streets_dataset(root: str | os.PathLike) -> bool:
    """True when ``root`` holds a rendered street dataset (its ``streets.json`` is written last)."""
    return (Path(root) / "streets.json").is_file()


def ensure_streets_dataset(
    root: str | os.PathLike, n_train: int, n_val: int, size: tuple[int, int], seed: int = 0
) -> bool:
    """Render the street dataset into ``root`` unless it is already there (all cores); True if rendered."""
    if is_streets_dataset(root):
        return False
    splits = {"train": n_train, "val": n_val}
    write_streets_dataset(root, splits, height=size[0], width=size[1], seed=seed, workers=os.cpu_count() or 1)
    return True


def write_streets_dataset(
    root: str | os.PathLike,
    splits: Mapping[str, int] | None = None,
    height: int = 256,
    width: int = 512,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
) -> Path:
    """Render ``splits`` (name -> image count) into ``root`` in the Cityscapes format; return ``root``.

    ``splits`` defaults to ``{"train": 500, "val": 100}``. ``workers > 1`` renders in a process
    pool; the files are identical for any number of workers.
    """
    from imsynth.utils.io import write_json

    if splits is None:
        splits = {"train": 500, "val": 100}
    height, width = check_size(height, width)
    seed = check_seed(seed, "dataset seed")
    if not isinstance(splits, Mapping) or not splits:
        raise ValueError(f"splits must be a non-empty mapping of split name -> image count, got {splits!r}")
    for name, count in splits.items():
        if not isinstance(name, str) or not name or any(ch in name for ch in "/\\") or name in (".", ".."):
            raise ValueError(f"split name {name!r} is not a valid folder name (e.g. 'train', 'val')")
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f"split {name!r}: image count must be a non-negative integer, got {count!r}")
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tasks = [(str(root), split, i, seed, height, width) for split, n in splits.items() for i in range(int(n))]
    from imsynth.utils.console import progress as progress_bar

    bar = progress_bar(total=len(tasks), desc="rendering streets", unit="image", enabled=progress)
    try:
        if workers == 1 or len(tasks) <= 1:
            for task in tasks:
                _write_one(task)
                bar.update(1)
        else:
            import multiprocessing as mp

            with mp.get_context().Pool(processes=min(int(workers), len(tasks))) as pool:
                for _ in pool.imap_unordered(_write_one, tasks, chunksize=4):
                    bar.update(1)
    finally:
        bar.close()
    write_json(
        root / "streets.json",
        {
            "format": "cityscapes",
            "renderer": "imsynth.data.streets",
            "renderer_version": RENDERER_VERSION,
            "height": height,
            "width": width,
            "seed": seed,
            "splits": {name: int(n) for name, n in splits.items()},
            "cities": {name: list(split_cities(name)) for name in splits},
            "label_space": "cityscapes",
        },
    )
    return root
