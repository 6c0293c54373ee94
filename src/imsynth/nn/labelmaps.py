"""Semantic label maps as network input (Chen & Koltun 2017, Sec. 3.1 and Sec. 3.3).

A layout is given to a network as a one-hot tensor with one channel per class plus one
"void" channel (pixels of no training class; ``void = 1 - sum of the class channels``); for
Cityscapes' 19 train classes that is 20 channels. Every channel vector sums to 1.

Coarser scales of the cascade see the layout **area-downsampled** (averaged), so each coarse
pixel holds the fraction of its footprint covered by every class -- soft, still summing to 1.

Functions here:

* :func:`one_hot_with_void` -- train-id map (B x H x W integers) -> B x (C+1) x H x W;
* :func:`add_void_channel` -- B x C x H x W class maps -> B x (C+1) x H x W;
* :func:`to_label_channels` -- either of the above, or a B x (C+1) x H x W map passed through;
* :func:`resize_label_ids` -- nearest-neighbour resampling of an id map (labels stay hard);
* :func:`area_resize` / :func:`label_pyramid` -- area averaging to one size / to many sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "one_hot_with_void",
    "add_void_channel",
    "to_label_channels",
    "resize_label_ids",
    "area_resize",
    "label_pyramid",
]

Size = tuple[int, int]


def _squeeze_ids(ids: Tensor) -> Tensor:
    """Accept B x H x W or B x 1 x H x W id maps; return B x H x W."""
    if ids.dim() == 4 and ids.size(1) == 1:
        ids = ids[:, 0]
    if ids.dim() != 3:
        raise ValueError(f"a label-id map must be B x H x W (or B x 1 x H x W), got {tuple(ids.shape)}")
    return ids


def one_hot_with_void(
    ids: Tensor, num_classes: int, ignore_index: int = 255, dtype: torch.dtype = torch.float32
) -> Tensor:
    """One-hot encode a train-id map into ``num_classes + 1`` channels (last one = void).

    Values ``0 .. num_classes-1`` set their class channel; ``ignore_index`` sets the void
    channel. Any other value is an error (it would silently become void otherwise): a
    ``ValueError`` naming the values for a CPU tensor; on a GPU a device-side assertion, so that
    a training step never waits for the device to read the check's result back (a host
    synchronisation per call).
    """
    ids = _squeeze_ids(ids)
    if ids.is_floating_point() or ids.is_complex():
        raise TypeError(f"label ids must be an integer tensor, got {ids.dtype}")
    ids = ids.long()
    valid = (ids >= 0) & (ids < num_classes)
    invalid = ~valid & (ids != ignore_index)
    message = f"label ids must lie in [0, {num_classes}) or equal ignore_index={ignore_index}"
    if ids.device.type != "cpu":
        torch._assert_async(~invalid.any(), message)
    elif bool(invalid.any()):
        bad = torch.unique(ids[invalid])[:10].tolist()
        raise ValueError(f"{message}; found {bad}")
    index = torch.where(valid, ids, torch.full_like(ids, num_classes))
    return F.one_hot(index, num_classes + 1).permute(0, 3, 1, 2).to(dtype)


def add_void_channel(class_maps: Tensor) -> Tensor:
    """Append ``void = max(0, 1 - sum_c class_maps[c])`` to B x C x H x W class maps."""
    void = (1.0 - class_maps.sum(dim=1, keepdim=True)).clamp_min(0.0)
    return torch.cat([class_maps, void], dim=1)


def to_label_channels(labels: Tensor, num_classes: int, ignore_index: int = 255) -> Tensor:
    """Any supported label input -> float B x (C+1) x H x W with a void channel last.

    * integer B x H x W (or B x 1 x H x W) train ids -> :func:`one_hot_with_void`;
    * float B x (C+1) x H x W -> returned unchanged;
    * float B x C x H x W (no void channel) -> :func:`add_void_channel`.
    """
    if not labels.is_floating_point():
        return one_hot_with_void(labels, num_classes, ignore_index)
    if labels.dim() != 4:
        raise ValueError(f"a float label map must be B x (C+1) x H x W, got {tuple(labels.shape)}")
    if labels.size(1) == num_classes + 1:
        return labels
    if labels.size(1) == num_classes:
        return add_void_channel(labels)
    raise ValueError(
        f"a float label map needs {num_classes + 1} channels ({num_classes} classes + void) "
        f"or {num_classes}, got {labels.size(1)}"
    )


def resize_label_ids(ids: Tensor, size: Size) -> Tensor:
    """Nearest-neighbour (pixel-centre aligned) resampling of an id map; dtype is kept."""
    ids = _squeeze_ids(ids)
    if tuple(ids.shape[-2:]) == tuple(size):
        return ids
    # float32 holds every id below 2**24 exactly; nearest sampling never mixes values.
    resized = F.interpolate(ids[:, None].float(), size=size, mode="nearest-exact")
    return resized[:, 0].to(ids.dtype)


def area_resize(maps: Tensor, size: Size) -> Tensor:
    """Area-average B x C x H x W maps to ``size``: each output pixel is the mean over its
    footprint (exact block means for integer factors; replication when upsampling)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=size, mode="area")


def label_pyramid(maps: Tensor, sizes: Sequence[Size]) -> list[Tensor]:
    """Area-downsampled copies of ``maps`` at every size in ``sizes`` (order kept).

    Built from the finest size down: a size exactly half of the previous one is obtained by a
    2x2 average (``avg_pool2d``), any other by area resampling of the finest level, so the
    result equals the direct area average of the finest map in both cases.
    """
    order = sorted(range(len(sizes)), key=lambda i: sizes[i][0] * sizes[i][1], reverse=True)
    out: list[Tensor | None] = [None] * len(sizes)
    finest_height, finest_width = sizes[order[0]]
    finest = area_resize(maps, (finest_height, finest_width))
    previous = finest
    for i in order:
        h, w = sizes[i]
        if tuple(previous.shape[-2:]) == (2 * h, 2 * w):
            level = F.avg_pool2d(previous, kernel_size=2)
        else:
            level = area_resize(finest, (h, w))
        out[i] = level
        previous = level
    return [level for level in out if level is not None]
