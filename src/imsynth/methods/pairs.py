"""The training data of the layout methods (CRN, the FCN-score segmenter): Cityscapes-format pairs."""

from __future__ import annotations

from typing import Protocol

from imsynth.data.datasets import CityscapesPairs

__all__ = ["PairSource", "layout_pairs"]


class PairSource(Protocol):
    """A method's data config: a Cityscapes-format root, its split, label space and flips."""

    root: str
    split: str
    label_space: str
    flip: bool


def layout_pairs(data: PairSource, height: int, width: int, seed: int = 0) -> CityscapesPairs:
    """Photo / label pairs of ``data.root`` resized to the model's ``height x width``, randomly flipped."""
    return CityscapesPairs(data.root, data.split, data.label_space, size=(height, width), flip=data.flip, seed=seed)
