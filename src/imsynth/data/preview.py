"""Contact sheets: a quick look at layout/photo pairs of a Cityscapes-format dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from imsynth.data.cityscapes import find_pairs
from imsynth.data.labels import LabelSpace, get_label_space
from imsynth.utils.images import tile_grid


def contact_sheet(
    root: str | Path,
    split: str = "val",
    count: int = 8,
    columns: int = 2,
    label_space: LabelSpace | None = None,
    cell_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """A grid of ``count`` (colour-coded layout | photo) pairs, ``columns`` pairs per row."""
    space = label_space or get_label_space()
    samples = find_pairs(root, split)[:count]
    if not samples:
        raise ValueError(f"no image/label pairs in split {split!r} of {root}")
    cells = []
    for sample in samples:
        with Image.open(sample.image_path) as photo:
            photo_array = np.asarray(photo.convert("RGB"))
        cells += [space.colorize(space.load(sample.label_path)), photo_array]
    per_row = 2 * columns
    rows = [cells[i : i + per_row] for i in range(0, len(cells), per_row)]
    titles = ["layout", "photo"] * columns
    return tile_grid(rows, column_titles=titles, cell_size=cell_size)


def streets_sheet(
    size: tuple[int, int] = (256, 512), scenes: int = 4, appearances: int = 3, seed: int = 0
) -> np.ndarray:
    """Rendered directly: ``scenes`` (layout | photo) pairs, two per row, then one layout under ``appearances``
    different appearance seeds (label -> photo is one-to-many)."""
    from imsynth.data.streets import render_layout, render_photo

    space = get_label_space()
    cells = []
    for i in range(scenes):
        layout = render_layout(seed + i, *size)
        cells += [space.colorize(layout.ids), render_photo(layout, seed + i)]
    rows = [cells[i : i + 4] for i in range(0, len(cells), 4)]  # two scenes per row
    shared = render_layout(seed + scenes, *size)
    variants = [render_photo(shared, seed + 1000 + j) for j in range(appearances)]
    sheet = tile_grid(rows, column_titles=["layout", "photo"] * min(2, scenes))
    same_layout = tile_grid(
        [[space.colorize(shared.ids), *variants]],
        column_titles=["one layout", *[f"appearance {j + 1}" for j in range(appearances)]],
    )
    width = max(sheet.shape[1], same_layout.shape[1])
    pad = lambda a: np.pad(a, ((0, 0), (0, width - a.shape[1]), (0, 0)), constant_values=255)  # noqa: E731
    return np.concatenate([pad(sheet), pad(same_layout)], axis=0)
