"""Colorization recipe of Zhang, Isola & Efros (ECCV 2016): "Colorful Image Colorization".

One training step (Sec. 2): convert the photo batch to Lab; the network sees ``L - 50`` and
predicts a distribution over the Q quantized ab bins at 1/4 resolution; the target is the
ground-truth ab, brought to that resolution by 4x4 average pooling and soft-encoded over its 5
nearest bins; the loss is the class-rebalanced multinomial cross-entropy (Eq. 2-4). Images with
no colour get weight 0. ``model.head="regression"`` trains the L2 baseline (Eq. 1) instead.

The reference optimizer is Adam, lr 3e-5, betas (0.9, 0.99), weight decay 1e-3, batch 40 of
176 x 176 crops, ~450k iterations on ImageNet (Sec. 3). Short CPU runs of a narrow network
learn faster with lr ~1e-3.

The colour prior ``p`` (``imsynth prior``) is part of the method config, so a run, its
checkpoints and the model's buffers all carry it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from imsynth.color.bins import QuantizationConfig, ab_bins
from imsynth.color.encoding import DecodeConfig, soft_encode
from imsynth.color.lab import L_CENTER, lightness_only, rgb_to_lab
from imsynth.color.prior import RebalanceConfig, class_weights, has_color
from imsynth.losses.colorization import ab_l2_loss, rebalanced_cross_entropy
from imsynth.models.colorizer import OUTPUT_STRIDE, ColorizerConfig, ColorizerNet, colorize_tensor
from imsynth.training.config import Recipe
from imsynth.training.method import SingleOptimizerMethod

__all__ = [
    "REFERENCE_LR",
    "REFERENCE_BETAS",
    "REFERENCE_WEIGHT_DECAY",
    "ColorizerDataConfig",
    "ColorizerMethodConfig",
    "ColorizerMethod",
    "color_targets",
    "training_dataset",
    "folder_prior",
]

REFERENCE_LR = 3e-5
REFERENCE_BETAS = (0.9, 0.99)
REFERENCE_WEIGHT_DECAY = 1e-3


@dataclass
class ColorizerDataConfig:
    """A folder of photos: resized (shorter side ``load_size``), randomly cropped, maybe flipped."""

    root: str = ""
    load_size: int = 256
    crop_size: int = 176
    flip: bool = True

    def __post_init__(self) -> None:
        if self.crop_size % 8:
            raise ValueError(f"crop_size must be a multiple of 8 (the network's stride), got {self.crop_size}")
        if self.load_size < self.crop_size:
            raise ValueError(f"load_size ({self.load_size}) must be at least crop_size ({self.crop_size})")


@dataclass
class ColorizerMethodConfig:
    """Everything that defines a colorizer run; ``prior`` is ``p`` over the bins (empty for none)."""

    model: ColorizerConfig = field(default_factory=ColorizerConfig)
    quantization: QuantizationConfig = field(default_factory=QuantizationConfig)
    rebalance: RebalanceConfig = field(default_factory=RebalanceConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    data: ColorizerDataConfig = field(default_factory=ColorizerDataConfig)
    prior: list[float] = field(default_factory=list)
    prior_source: str = ""


@dataclass
class ColorTargets:
    """What one batch of photos gives the loss."""

    lightness: Tensor  # (N, 1, H, W): L - 50, the network input
    ab: Tensor  # (N, 2, H/4, W/4): ground-truth ab at the output resolution
    colored: Tensor  # (N,) bool: images with some colour (the others get no loss)


def color_targets(rgb: Tensor) -> ColorTargets:
    """Split an RGB batch ``(N, 3, H, W)`` in [0, 1] into the network input and the ab targets."""
    lab = rgb_to_lab(rgb.float())
    ab = lab[:, 1:]
    return ColorTargets(lab[:, :1] - L_CENTER, F.avg_pool2d(ab, OUTPUT_STRIDE), has_color(ab))


class ColorizerMethod(SingleOptimizerMethod[ColorizerMethodConfig]):
    """Zhang et al.'s classification colorizer (or the L2 regression baseline) on the shared trainer."""

    name = "colorizer"
    config_class = ColorizerMethodConfig
    recipe = Recipe(lr=REFERENCE_LR, betas=REFERENCE_BETAS, weight_decay=REFERENCE_WEIGHT_DECAY)
    optimizer_name = "colorizer"

    def __init__(self, config: ColorizerMethodConfig) -> None:
        centers = ab_bins(config.quantization)
        if config.model.head == "classification":
            if config.model.num_bins == 0:
                config.model.num_bins = centers.shape[0]
            if config.model.num_bins != centers.shape[0]:
                raise ValueError(
                    f"model.num_bins={config.model.num_bins} but the quantization gives {centers.shape[0]} bins"
                )
            if config.prior and len(config.prior) != centers.shape[0]:
                raise ValueError(
                    f"the prior has {len(config.prior)} bins but the quantization gives "
                    f"{centers.shape[0]}; recompute it with the same grid"
                )
            if not config.prior and config.rebalance.weighting != "none":
                raise ValueError(
                    "class rebalancing needs the colour prior of the training set: compute it "
                    "(`imsynth prior` or imsynth.color.prior.compute_prior) and pass it as "
                    "config.prior, or set rebalance.weighting='none'"
                )
        super().__init__(config)
        self.centers = centers
        self.net: ColorizerNet | None = None
        self.weights: Tensor | None = None

    def _prior(self) -> Tensor | None:
        return torch.tensor(self.config.prior, dtype=torch.float64) if self.config.prior else None

    def build_models(self) -> dict[str, nn.Module]:
        prior = self._prior()
        if self.config.model.head == "classification":
            self.net = ColorizerNet(self.config.model, self.centers, None if prior is None else prior / prior.sum())
        else:
            self.net = ColorizerNet(self.config.model)
        return {"colorizer": self.net}

    def on_train_start(self) -> None:
        prior = self._prior()
        if self.config.model.head == "classification":
            weights = (
                torch.ones(self.centers.shape[0])
                if prior is None
                else class_weights(prior, self.centers, self.config.rebalance)
            )
            self.weights = weights.to(self.device)
            self.centers = self.centers.to(self.device)

    def compute_loss(self, batch: dict[str, Any], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        """Eq. 2 (classification) or Eq. 1 (regression) on one batch of photos."""
        assert self.net is not None
        targets = color_targets(batch["image"])
        output = self.net(targets.lightness)
        image_weight = targets.colored.to(output.dtype)[:, None, None]
        if self.config.model.head == "regression":
            return ab_l2_loss(output, targets.ab, image_weight.expand(-1, *output.shape[-2:])), {}
        if self.weights is None:
            self.on_train_start()
        assert self.weights is not None
        q = self.config.quantization
        encoded = soft_encode(targets.ab, self.centers, q.neighbors, q.sigma)
        pixel_weights = self.weights[encoded.argmax(dim=1)] * image_weight
        loss = rebalanced_cross_entropy(output, encoded, pixel_weights)
        return loss, {"loss/unweighted_ce": rebalanced_cross_entropy(output.detach(), encoded).detach()}

    def build_dataset(self, seed: int = 0) -> Dataset[Any]:
        return training_dataset(self.config.data, seed)

    def sample(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        assert self.net is not None
        rgb = batch["image"]
        return {
            "input L": lightness_only(rgb),
            "real": rgb,
            "colorized": colorize_tensor(self.net, rgb, self.config.decode),
        }


# ----------------------------------------------------------------------------- data


def training_dataset(data: ColorizerDataConfig, seed: int = 0):
    """The photos of ``data.root`` (recursively): shorter side ``load_size``, random ``crop_size`` crops."""
    from imsynth.data.datasets import ImageFolder

    return ImageFolder(
        data.root, size=data.load_size, crop_size=data.crop_size, crop="random", flip=data.flip, seed=seed
    )


def folder_prior(
    root: str, quantization: QuantizationConfig, load_size: int | None = 256, workers: int = 0, progress: bool = False
):
    """The colour prior of a photo folder, each photo resized to shorter side ``load_size`` (as in training)."""
    from torch.utils.data import DataLoader

    from imsynth.color.prior import compute_prior
    from imsynth.data.datasets import ImageFolder

    dataset = ImageFolder(root, size=load_size)
    loader = DataLoader(dataset, batch_size=1, num_workers=workers)
    images: Iterable[Tensor] = (item["image"] for item in loader)
    if progress:
        from imsynth.utils.console import progress as progress_bar

        images = progress_bar(images, total=len(dataset), desc="colour prior", unit="image")
    return compute_prior(images, quantization, source=str(root))
