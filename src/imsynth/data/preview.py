"""Contact sheets: a quick look at layout/photo pairs of a Cityscapes-format dataset."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from imsynth.data.cityscapes import find_pairs
from imsynth.data.labels import LabelSpace, get_label_space
from imsynth.utils.images import tile_grid


def contact_sheet(root: str | Path, split: str = "val", count: int = 8, columns: int = 2,
                  label_space: LabelSpace | None = None, cell_size: tuple[int, int] | None = None) -> np.ndarray:
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
