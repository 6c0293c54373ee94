"""Sample grids: one row per example, one column per named image (e.g. label | real | synthesized)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from imsynth.utils.images import tensor_to_uint8, tile_grid
from imsynth.utils.seeding import preserved_rng

if TYPE_CHECKING:
    from imsynth.training.method import TrainingMethod

__all__ = ["image_grid", "sample_grid"]


def image_grid(columns: Mapping[str, torch.Tensor], max_rows: int | None = None, pad: int = 2) -> np.ndarray:
    """Tile image batches into one ``(H, W, 3)`` uint8 array.

    Each value is an ``(N, 1 | 3, H, W)`` (or ``(N, H, W)``) tensor with values in [0, 1]; the cells
    are laid out by :func:`imsynth.utils.images.tile_grid` (nearest-neighbour resizing to the first
    image's size, white padding) under a caption strip naming each column.
    """
    if not columns:
        raise ValueError("image_grid needs at least one image batch")
    batches = [_as_rgb(name, images) for name, images in columns.items()]
    rows = min(b.shape[0] for b in batches)
    if max_rows is not None:
        rows = min(rows, max_rows)
    cells = [[tensor_to_uint8(batch[row]) for batch in batches] for row in range(rows)]
    return tile_grid(cells, pad=pad, column_titles=list(columns))


def sample_grid(
    method: TrainingMethod[Any], models: Mapping[str, nn.Module], batch: Any, max_rows: int | None = None
) -> np.ndarray | None:
    """``method.sample(batch)`` as an :func:`image_grid` (``None`` when it draws nothing).

    ``models`` (the method's) run in eval mode without gradients and the random streams are left
    as they were, so rendering samples changes nothing of the training run.
    """
    modes = {name: model.training for name, model in models.items()}
    for model in models.values():
        model.eval()
    try:
        with torch.no_grad(), preserved_rng(), method.unwrapped():
            images = method.sample(batch)
    finally:
        for name, model in models.items():
            model.train(modes[name])
    return image_grid(images, max_rows=max_rows) if images else None


def _as_rgb(name: str, images: torch.Tensor) -> torch.Tensor:
    """Detach to float32 CPU, clamp to [0, 1] and make 3 channels."""
    images = images.detach().to("cpu", torch.float32)
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"sample image {name!r} must be (N, 1|3, H, W), got shape {tuple(images.shape)}")
    images = images.nan_to_num(0.0).clamp(0.0, 1.0)
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
