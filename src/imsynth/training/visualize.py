"""Sample grids: one row per example, one column per named image (e.g. label | real | synthesized)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["image_grid"]


def image_grid(columns: Mapping[str, torch.Tensor], max_rows: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile image batches into one ``(H, W, 3)`` uint8 array.

    Each value is an ``(N, 1 | 3, H, W)`` (or ``(N, H, W)``) tensor with values in [0, 1]; every
    column is resized (nearest neighbour) to the size of the first one. Padding is white.
    """
    if not columns:
        raise ValueError("image_grid needs at least one image batch")
    batches = [_as_rgb(name, images) for name, images in columns.items()]
    rows = min(b.shape[0] for b in batches)
    if max_rows is not None:
        rows = min(rows, max_rows)
    height, width = batches[0].shape[-2:]
    batches = [
        b[:rows] if b.shape[-2:] == (height, width) else F.interpolate(b[:rows], size=(height, width), mode="nearest")
        for b in batches
    ]

    grid = torch.ones(3, rows * (height + pad) + pad, len(batches) * (width + pad) + pad)
    for col, batch in enumerate(batches):
        for row in range(rows):
            top, left = pad + row * (height + pad), pad + col * (width + pad)
            grid[:, top : top + height, left : left + width] = batch[row]
    return (grid.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)


def _as_rgb(name: str, images: torch.Tensor) -> torch.Tensor:
    """Detach to float32 CPU, clamp to [0, 1] and make 3 channels."""
    images = images.detach().to("cpu", torch.float32)
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"sample image {name!r} must be (N, 1|3, H, W), got shape {tuple(images.shape)}")
    images = images.nan_to_num(0.0).clamp(0.0, 1.0)
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
