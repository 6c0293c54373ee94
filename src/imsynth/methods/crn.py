"""CRN training recipe: the Cascaded Refinement Network trained with the feature-matching
(perceptual) loss of Eq. 1 and, for k > 1 outputs, the diversity loss of Sec. 3.4.

This module wires the pieces (:mod:`imsynth.models.crn`, :mod:`imsynth.losses.perceptual`,
:mod:`imsynth.models.backbones`) into a :class:`~imsynth.training.method.TrainingMethod`; the
generic trainer does the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from imsynth.data.labels import get_label_space
from imsynth.losses.perceptual import DiversityLoss, FeatureMatchingLoss
from imsynth.models.crn import CRN, CRNConfig
from imsynth.nn.labelmaps import one_hot_with_void
from imsynth.training.config import TrainConfig
from imsynth.training.distributed import environment, mean_over_ranks
from imsynth.training.method import TrainingMethod
from imsynth.training.optim import make_optimizer


@dataclass
class PerceptualLossConfig:
    """Which pretrained network measures feature distances, and how its layers are weighted.

    ``backbone="auto"`` picks VGG-19 when its weights are found (``vgg_weights``, the environment
    variable ``IMSYNTH_VGG19_WEIGHTS`` or the torch hub cache), else the offline default
    EfficientNet-Lite0; the resolved name is what the run config records.
    """

    backbone: str = "auto"
    vgg_weights: str | None = None
    vgg_pooling: str = "avg"  # the CRN authors replace VGG's max pooling by average pooling
    vgg_preprocess: str = "torchvision"  # "caffe" for MatConvNet-converted weights
    layer_weights: list[float] | None = None  # None: the backbone's defaults (image + each layer)
    min_weight: float = 0.999  # diversity loss: 0.999 * min over k + 0.001 * mean over k
    mean_weight: float = 0.001
    rebalance_at_step: int | None = None
    """Paper Sec. 3.3: after an initial phase (100 epochs), set each lambda_l to the inverse of its
    term's running mean so every layer contributes equally; the weights are then frozen. ``None``
    keeps the given/default weights (already calibrated this way for the shipped backbones)."""


@dataclass
class CRNDataConfig:
    """Where the training pairs come from (a Cityscapes-format root) and how they are augmented."""

    root: str = ""
    split: str = "train"
    label_space: str | dict[str, Any] = "cityscapes"  # a built-in name or the space itself (never a path)
    flip: bool = True


@dataclass
class CRNMethodConfig:
    model: CRNConfig = field(default_factory=lambda: CRNConfig(height=256, width=512))
    loss: PerceptualLossConfig = field(default_factory=PerceptualLossConfig)
    data: CRNDataConfig = field(default_factory=CRNDataConfig)


def build_loss_network(config: PerceptualLossConfig) -> nn.Module:
    """The frozen feature extractor named by ``config`` (``"auto"`` must be resolved first)."""
    from imsynth.models.backbones import build_feature_extractor

    if config.backbone == "vgg19":
        return build_feature_extractor(
            "vgg19", weights=config.vgg_weights, pooling=config.vgg_pooling, preprocess=config.vgg_preprocess
        )
    return build_feature_extractor(config.backbone)


def resolve_backbone(config: PerceptualLossConfig) -> None:
    """Replace ``backbone="auto"`` by the concrete network that will be used (recorded in runs)."""
    if config.backbone != "auto":
        return
    if config.vgg_weights:
        config.backbone = "vgg19"
        return
    from imsynth.models.backbones import resolve_default_backbone

    config.backbone = resolve_default_backbone()


class CRNMethod(TrainingMethod[CRNMethodConfig]):
    """One CRN step: synthesize k images from the label map, back-propagate the perceptual or
    diversity loss against the real photo, one Adam update (the paper's optimizer)."""

    name = "crn"
    config_class = CRNMethodConfig

    def __init__(self, config: CRNMethodConfig) -> None:
        resolve_backbone(config.loss)
        super().__init__(config)
        self.generator: CRN | None = None
        self.criterion: nn.Module | None = None
        self._rebalanced_weights: list[float] | None = None
        self._term_sums: list[float] = []  # running sums of the unweighted per-layer terms
        self._term_count = 0

    def build_models(self) -> dict[str, nn.Module]:
        self.generator = CRN(self.config.model)
        return {"generator": self.generator}

    def optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        assert self.generator is not None
        self.optimizer = make_optimizer(self.generator, train)
        return {"generator": self.optimizer}

    def on_train_start(self) -> None:
        extractor = build_loss_network(self.config.loss).to(self.device)
        weights = self._rebalanced_weights or self.config.loss.layer_weights
        if self.config.model.num_variants > 1:
            self.criterion = DiversityLoss(
                extractor, weights, min_weight=self.config.loss.min_weight, mean_weight=self.config.loss.mean_weight
            )
        else:
            self.criterion = FeatureMatchingLoss(extractor, weights)

    def compute_loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of one batch: diversity loss (k > 1, per-class min over the variants) or Eq. 1."""
        assert self.generator is not None and self.criterion is not None
        labels, real = batch["label"], batch["image"]
        fakes = self.generator(labels)
        if isinstance(self.criterion, DiversityLoss):
            masks = one_hot_with_void(labels, self.config.model.num_classes, self.config.model.ignore_index)
            return self.criterion(fakes, real, masks.to(real.dtype))
        return self.criterion(fakes[:, 0], real)

    def training_step(self, batch: dict[str, Any], step: int) -> dict[str, torch.Tensor]:
        with self.ctx.autocast():
            loss, terms = self.compute_loss(batch)
        self.ctx.optimize(loss, self.optimizer)
        if self.config.loss.rebalance_at_step is not None and self._rebalanced_weights is None:
            self._accumulate_terms(terms)
            if step + 1 >= self.config.loss.rebalance_at_step:
                self._rebalance()
        return {"loss": loss.detach(), **{f"loss/{k}": v for k, v in terms.items()}}

    def _accumulate_terms(self, terms: dict[str, torch.Tensor]) -> None:
        weights = self.criterion.layer_weights  # type: ignore[union-attr]
        raw = [float(terms[f"layer{l}"]) / w if w else 0.0 for l, w in enumerate(weights)]
        self._term_sums = [a + b for a, b in zip(self._term_sums, raw)] if self._term_sums else raw
        self._term_count += 1

    def _rebalance(self) -> None:
        """lambda_l <- lambda_0 * mean_0 / mean_l: every weighted term matches the image term's mean."""
        means = [total / max(1, self._term_count) for total in self._term_sums]
        # Under DDP every process saw its share of the batches: use the means over all of them.
        means = mean_over_ranks(torch.tensor(means, dtype=torch.float64, device=self.device), environment()).tolist()
        old = self.criterion.layer_weights  # type: ignore[union-attr]
        new = [old[0] * means[0] / m if m > 0 else w for w, m in zip(old, means)]
        self._rebalanced_weights = new
        self.criterion.layer_weights = new  # type: ignore[union-attr]
        print(
            f"imsynth: CRN loss weights rebalanced after {self._term_count} steps: "
            + ", ".join(f"{w:.4g}" for w in new)
        )

    def state_dict_extra(self) -> dict[str, Any]:
        return {
            "rebalanced_weights": self._rebalanced_weights,
            "term_sums": self._term_sums,
            "term_count": self._term_count,
        }

    def load_state_dict_extra(self, state: dict[str, Any]) -> None:
        self._rebalanced_weights = state.get("rebalanced_weights")
        self._term_sums = list(state.get("term_sums", []))
        self._term_count = int(state.get("term_count", 0))
        if self.criterion is not None and self._rebalanced_weights is not None:
            self.criterion.layer_weights = list(self._rebalanced_weights)

    def sample(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        assert self.generator is not None
        space = get_label_space(self.config.data.label_space)
        label_rgb = torch.stack(
            [
                torch.from_numpy(space.colorize_train(t.cpu().numpy())).permute(2, 0, 1).float() / 255
                for t in batch["label"]
            ]
        )
        fakes = self.generator.synthesize(batch["label"])
        columns = {"label": label_rgb, "real": batch["image"]}
        for j in range(min(3, fakes.shape[1])):
            columns[f"variant {j}"] = fakes[:, j]
        return columns
