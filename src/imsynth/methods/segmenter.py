"""Training recipe of the FCN-score segmenter: per-pixel cross-entropy on *real* photos.

The FCN-score protocol (Isola et al., pix2pix, CVPR 2017, Sec. 4.2) needs a segmentation network
trained on the real photos of the dataset, never on synthesized ones; its accuracy on the real
held-out photos is the upper bound any synthesized image can reach. The network is
:class:`~imsynth.models.segmenter.Segmenter`; the loss is the mean cross-entropy over the pixels
of a trained class (the label space's ignore id, 255 for Cityscapes, is skipped). One Adam optimizer;
the generic trainer does the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from imsynth.data.datasets import CityscapesPairs
from imsynth.data.labels import get_label_space
from imsynth.methods.pairs import LayoutPairsConfig, layout_pairs
from imsynth.models.segmenter import Segmenter, SegmenterConfig
from imsynth.training.config import Recipe
from imsynth.training.method import SingleOptimizerMethod

__all__ = ["SegmenterDataConfig", "SegmenterMethodConfig", "SegmenterMethod", "colorize_train_ids"]


@dataclass
class SegmenterDataConfig(LayoutPairsConfig):
    """The real photo / label pairs to learn from (a Cityscapes-format root), and the split scored after."""

    val_split: str = "val"


@dataclass
class SegmenterMethodConfig:
    model: SegmenterConfig = field(default_factory=SegmenterConfig)
    data: SegmenterDataConfig = field(default_factory=SegmenterDataConfig)


def colorize_train_ids(train: torch.Tensor, label_space: str | dict[str, Any]) -> torch.Tensor:
    """``B x H x W`` train ids -> ``B x 3 x H x W`` label colours in [0, 1] (for sample grids)."""
    space = get_label_space(label_space)
    return torch.stack(
        [torch.from_numpy(space.colorize_train(t.cpu().numpy())).permute(2, 0, 1).float() / 255 for t in train]
    ).to(train.device)


class SegmenterMethod(SingleOptimizerMethod[SegmenterMethodConfig]):
    """Cross-entropy (the label space's ignore id skipped) of the segmenter's logits against the real layout."""

    name = "segmenter"
    config_class = SegmenterMethodConfig
    optimizer_name = "segmenter"
    recipe = Recipe(lr=1e-3, betas=(0.9, 0.999), batch_size=4)

    def __init__(self, config: SegmenterMethodConfig) -> None:
        super().__init__(config)
        self.net: Segmenter | None = None
        self.ignore_index = get_label_space(config.data.label_space).ignore_index

    def build_dataset(self, seed: int = 0) -> CityscapesPairs:
        """The real photo / label pairs of a Cityscapes-format root at the model's size, randomly flipped."""
        return layout_pairs(self.config.data, self.config.model.height, self.config.model.width, seed)

    def build_models(self) -> dict[str, nn.Module]:
        self.net = Segmenter(self.config.model)
        return {"segmenter": self.net}

    def compute_loss(self, batch: dict[str, Any], step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        assert self.net is not None
        logits = self.net(batch["image"])
        target = batch["label"]
        loss = F.cross_entropy(logits, target, ignore_index=self.ignore_index)
        with torch.no_grad():
            valid = target != self.ignore_index
            correct = (logits.argmax(dim=1) == target) & valid
            accuracy = correct.sum().float() / valid.sum().clamp(min=1)
        return loss, {"pixel_accuracy": accuracy}

    def sample(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        assert self.net is not None
        space = self.config.data.label_space
        return {
            "photo": batch["image"],
            "layout": colorize_train_ids(batch["label"], space),
            "prediction": colorize_train_ids(self.net.predict(batch["image"]), space),
        }
