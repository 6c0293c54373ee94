"""The training data of the layout methods (CRN, the FCN-score segmenter): Cityscapes-format pairs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imsynth.data.datasets import CityscapesPairs

__all__ = ["LayoutPairsConfig", "layout_pairs"]


@dataclass
class LayoutPairsConfig:
    """Where the photo / label pairs come from (a Cityscapes-format root) and whether they are flipped."""

    root: str = ""
    split: str = "train"
    label_space: str | dict[str, Any] = "cityscapes"  # a built-in name or the space itself (never a path)
    flip: bool = True


def layout_pairs(data: LayoutPairsConfig, height: int, width: int, seed: int = 0) -> CityscapesPairs:
    """Photo / label pairs of ``data.root`` resized to the model's ``height x width``, randomly flipped."""
    return CityscapesPairs(data.root, data.split, data.label_space, size=(height, width), flip=data.flip, seed=seed)
