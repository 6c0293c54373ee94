"""Image array helpers shared by the CLI, the trainer's samples and the reports.

Convention: tensors are float ``[B]x3xHxW`` in [0, 1]; arrays on disk are uint8 ``HxWx3``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


def tensor_to_uint8(image: torch.Tensor) -> np.ndarray:
    """``3xHxW`` (or ``HxW``) float in [0, 1] -> ``HxWx3`` (or ``HxW``) uint8, clamped and rounded."""
    array = image.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()
    return array.permute(1, 2, 0).numpy() if array.ndim == 3 else array.numpy()


def uint8_to_tensor(image: np.ndarray) -> torch.Tensor:
    """``HxWx3`` uint8 -> ``3xHxW`` float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div(255)


def tile_grid(
    rows: Sequence[Sequence[np.ndarray]],
    *,
    pad: int = 4,
    background: int = 255,
    column_titles: Sequence[str] | None = None,
    cell_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Arrange uint8 images (HxW or HxWx3) in rows into one uint8 RGB image.

    Cells are resized (nearest, which keeps label colours exact) to ``cell_size`` or to the first
    image's size; ``column_titles`` adds a caption strip above the first row.
    """
    if not rows or not rows[0]:
        raise ValueError("tile_grid needs at least one image")
    h, w = cell_size or rows[0][0].shape[:2]
    ncols = max(len(r) for r in rows)
    title_h = 16 if column_titles else 0
    canvas = np.full((title_h + len(rows) * (h + pad) + pad, ncols * (w + pad) + pad, 3), background, np.uint8)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            cell = np.asarray(cell)
            if cell.ndim == 2:
                cell = np.repeat(cell[..., None], 3, axis=2)
            if cell.shape[:2] != (h, w):
                cell = np.asarray(Image.fromarray(cell).resize((w, h), Image.Resampling.NEAREST))
            y, x = title_h + pad + r * (h + pad), pad + c * (w + pad)
            canvas[y : y + h, x : x + w] = cell[..., :3]
    if column_titles:
        image = Image.fromarray(canvas)
        draw = ImageDraw.Draw(image)
        font = ImageFont.load_default()
        for c, title in enumerate(column_titles):
            draw.text((pad + c * (w + pad) + 2, 2), str(title), fill=(0, 0, 0), font=font)
        canvas = np.asarray(image)
    return canvas
