"""CRN training recipe: the Cascaded Refinement Network trained with the feature-matching
(perceptual) loss of Eq. 1 and, for k > 1 outputs, the diversity loss of Sec. 3.4.

This module wires the pieces (:mod:`imsynth.models.crn`, :mod:`imsynth.losses.perceptual`,
:mod:`imsynth.models.backbones`) into a :class:`~imsynth.training.method.TrainingMethod`; the
generic trainer does the rest.

Two recipes. ``paper`` (:data:`PAPER_RECIPE`) is Chen & Koltun's: Adam 1e-4, the feature-matching
and diversity losses alone. The default (:data:`PHOTOGRAPHIC_RECIPE`) adds what an ablation at equal
budget showed the paper's loss lacks for photographic output (README, "What makes the photos
photographic"; ``benchmarks/photographic_ablation.py``): per-class texture statistics, noise inputs
to the finer modules, the authors' Xavier projection init, and a multi-scale conditional PatchGAN
with discriminator feature matching (pix2pixHD). The config dataclasses' own defaults stay the
paper's, so stored run configs that predate a field keep their meaning.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from imsynth.data.datasets import CityscapesPairs
from imsynth.data.labels import get_label_space
from imsynth.losses.perceptual import DiversityLoss, FeatureMatchingLoss
from imsynth.losses.texture import texture_weights_for
from imsynth.methods.adversary import AdversarialConfig, ConditionalAdversary
from imsynth.methods.pairs import LayoutPairsConfig, layout_pairs
from imsynth.models.crn import CRN, CRNConfig
from imsynth.nn.labelmaps import one_hot_with_void
from imsynth.training.config import Recipe, TrainConfig
from imsynth.training.distributed import environment, mean_over_ranks
from imsynth.training.method import TrainingMethod
from imsynth.training.optim import make_optimizer
from imsynth.utils.console import say


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
    layers: list[str] | None = None
    """The backbone's layers to compare (None: its defaults, e.g. EfficientNet-Lite's stage1, 2, 3, 5, 7)."""
    texture_scales: list[float] | None = None
    """Per-class texture-statistics terms (:mod:`imsynth.losses.texture`), one factor per level like
    ``layer_weights``, on the backbone's calibrated texture weights (each term then weighs as much as
    the image term on degraded photos, the paper's balancing rule); ``None`` = none, the paper's loss."""
    texture_weights: list[float] | None = None
    """Absolute texture weights per level; when given they replace ``texture_scales``."""
    texture_statistics: str = "meanstd"
    """``"meanstd"`` (per-channel mean and standard deviation) or ``"gram"`` (Gram matrices)."""
    image_downsample: int = 1
    """Compare the images (level 0) after f x f area averaging (1 = pixel by pixel, the paper)."""


@dataclass
class CRNDataConfig(LayoutPairsConfig):
    """Where the training pairs come from (a Cityscapes-format root) and how they are augmented."""


@dataclass
class CRNMethodConfig:
    model: CRNConfig = field(default_factory=lambda: CRNConfig(height=256, width=512))
    loss: PerceptualLossConfig = field(default_factory=PerceptualLossConfig)
    data: CRNDataConfig = field(default_factory=CRNDataConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)


def build_loss_network(config: PerceptualLossConfig) -> nn.Module:
    """The frozen feature extractor named by ``config`` (``"auto"`` must be resolved first)."""
    from imsynth.models.backbones import build_feature_extractor

    layers: dict[str, Any] = {"layers": list(config.layers)} if config.layers else {}
    if config.backbone == "vgg19":
        return build_feature_extractor(
            "vgg19",
            weights=config.vgg_weights,
            pooling=config.vgg_pooling,
            preprocess=config.vgg_preprocess,
            download=config.vgg_weights is None,  # asked for by name: fetch torchvision's file if missing
            **layers,
        )
    return build_feature_extractor(config.backbone, **layers)


def build_criterion(
    config: PerceptualLossConfig, num_variants: int, extractor: nn.Module
) -> FeatureMatchingLoss | DiversityLoss:
    """The paper's loss for k images: Eq. 1 for k = 1 (unless texture or low-pass image terms are
    asked for, which need the per-class form), the diversity loss of Sec. 3.4 otherwise."""
    texture = config.texture_weights
    if texture is None and config.texture_scales is not None:
        texture = texture_weights_for(extractor, config.texture_scales, config.texture_statistics)
    if num_variants == 1 and not texture and config.image_downsample == 1:
        return FeatureMatchingLoss(extractor, config.layer_weights)
    return DiversityLoss(
        extractor,
        config.layer_weights,
        min_weight=config.min_weight,
        mean_weight=config.mean_weight,
        texture_weights=texture,
        image_downsample=config.image_downsample,
        texture_statistics=config.texture_statistics,
    )


def resolve_backbone(config: PerceptualLossConfig) -> None:
    """Replace ``backbone="auto"`` by the concrete network that will be used (recorded in runs)."""
    if config.backbone != "auto":
        return
    if config.vgg_weights:
        config.backbone = "vgg19"
        return
    from imsynth.models.backbones import resolve_default_backbone

    config.backbone = resolve_default_backbone()


#: Chen & Koltun's settings: Adam, lr 1e-4 (Sec. 3.5 and the released code), their losses alone.
PAPER_RECIPE = Recipe(lr=1e-4, betas=(0.9, 0.999), description="Chen & Koltun's loss, init and optimizer")

#: The default: the paper's cascade and losses plus what the photographic-output ablation chose.
PHOTOGRAPHIC_RECIPE = Recipe(
    lr=2e-4,
    betas=(0.9, 0.999),
    method_config={
        "model": {"projection_init": "xavier", "noise_channels": 4, "noise_min_height": 32},
        "loss": {"texture_scales": [2.0, 2.0, 2.0, 2.0, 2.0, 2.0]},
        "adversarial": {"weight": 1.0, "discriminator": {"ndf": 32, "n_layers": 3, "num_scales": 2}},
    },
    description="texture statistics, noise inputs, Xavier projection, multi-scale PatchGAN",
)


class CRNMethod(TrainingMethod[CRNMethodConfig]):
    """One CRN step: synthesize k images from the label map, back-propagate the perceptual or
    diversity loss against the real photo, one Adam update (the paper's optimizer)."""

    name = "crn"
    config_class = CRNMethodConfig
    recipe = PHOTOGRAPHIC_RECIPE
    recipes = {"paper": PAPER_RECIPE}

    def __init__(self, config: CRNMethodConfig) -> None:
        resolve_backbone(config.loss)
        super().__init__(config)
        self.generator: CRN | None = None
        self.discriminator: nn.Module | None = None
        self.adversary = (
            ConditionalAdversary(config.adversarial, config.model.label_channels)
            if config.adversarial.enabled
            else None
        )
        if self.adversary is not None:
            config.adversarial.discriminator.check_image_size(config.model.height, config.model.width)
        self.criterion: FeatureMatchingLoss | DiversityLoss | None = None
        self._loss: nn.Module | None = None  # the criterion as the step calls it (compiled when the run compiles)
        self._rebalanced_weights: list[float] | None = None
        # Running sums of the unweighted per-layer terms, kept on the device (no synchronisation per step).
        self._term_sums: torch.Tensor | list[float] = []
        self._term_count = 0

    def build_dataset(self, seed: int = 0) -> CityscapesPairs:
        """Photo / label pairs of a Cityscapes-format root at the model's size, randomly flipped."""
        return layout_pairs(self.config.data, self.config.model.height, self.config.model.width, seed)

    def build_models(self) -> dict[str, nn.Module]:
        self.generator = CRN(self.config.model)
        models: dict[str, nn.Module] = {"generator": self.generator}
        if self.adversary is not None:
            self.discriminator = self.adversary.build_discriminator()
            models["discriminator"] = self.discriminator
        return models

    def optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        assert self.generator is not None
        self.optimizer = make_optimizer(self.generator, train)
        optimizers = {"generator": self.optimizer}
        if self.adversary is not None:
            assert self.discriminator is not None
            optimizers["discriminator"] = self.adversary.make_optimizer(self.discriminator, train.lr)
        return optimizers

    def on_train_start(self) -> None:
        extractor = build_loss_network(self.config.loss).to(self.device)
        ctx = self._ctx  # None outside a trainer
        if ctx is not None and ctx.channels_last:  # the generator's output arrives channels-last: one layout
            extractor.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        loss = self.config.loss
        if self._rebalanced_weights:
            loss = dataclasses.replace(loss, layer_weights=list(self._rebalanced_weights))
        self.criterion = build_criterion(loss, self.config.model.num_variants, extractor)
        self._loss = ctx.compile(self.criterion) if ctx is not None else self.criterion

    def compute_loss(
        self, batch: dict[str, Any], fakes: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of one batch: diversity loss (k > 1, per-class min over the variants) or Eq. 1.
        ``fakes``: the generator's output for the batch, if already computed."""
        assert self.generator is not None and self.criterion is not None
        labels, real = batch["label"], batch["image"]
        if fakes is None:
            fakes = self.generator(labels)
        criterion = self._loss if self._loss is not None else self.criterion
        if isinstance(self.criterion, DiversityLoss):
            return criterion(fakes, real, self._label_maps(labels, real.dtype))
        return criterion(fakes[:, 0], real)

    def _label_maps(self, labels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        cfg = self.config.model
        return one_hot_with_void(labels, cfg.num_classes, cfg.ignore_index).to(dtype)

    def training_step(self, batch: dict[str, Any], step: int) -> dict[str, torch.Tensor]:
        assert self.generator is not None
        scalars: dict[str, torch.Tensor] = {}
        with self.ctx.autocast():
            fakes = self.generator(batch["label"])
        if self.adversary is not None:  # pix2pixHD order: D's update, then G's against the updated D
            assert self.discriminator is not None
            maps = self._label_maps(batch["label"], batch["image"].dtype)
            scalars.update(self.adversary.discriminator_step(self.ctx, self.discriminator, maps, batch["image"], fakes))
        with self.ctx.autocast():
            loss, terms = self.compute_loss(batch, fakes)
            if self.adversary is not None:
                assert self.discriminator is not None
                adversarial, adversarial_terms = self.adversary.generator_terms(
                    self.discriminator, maps, batch["image"], fakes
                )
                loss = loss + adversarial
                terms = {**terms, **adversarial_terms}
        self.ctx.optimize(loss, self.optimizer)
        if self.config.loss.rebalance_at_step is not None and self._rebalanced_weights is None:
            self._accumulate_terms(terms)
            if step + 1 >= self.config.loss.rebalance_at_step:
                self._rebalance()
        return {"loss": loss.detach(), **{f"loss/{k}": v for k, v in terms.items()}, **scalars}

    def _accumulate_terms(self, terms: dict[str, torch.Tensor]) -> None:
        """Add this step's unweighted per-layer terms to the running sums (on the device, no sync)."""
        weights = self.criterion.layer_weights  # type: ignore[union-attr]
        zero = torch.zeros((), dtype=torch.float64, device=self.device)
        raw = torch.stack(
            [terms[f"layer{l}"].detach().to(torch.float64) / w if w else zero for l, w in enumerate(weights)]
        )
        sums = self._term_sums
        if isinstance(sums, list):  # none yet, or as restored from a checkpoint
            sums = torch.tensor(sums, dtype=torch.float64, device=self.device) if sums else torch.zeros_like(raw)
        self._term_sums = sums + raw
        self._term_count += 1

    def _term_sum_list(self) -> list[float]:
        sums = self._term_sums
        return sums.tolist() if isinstance(sums, torch.Tensor) else list(sums)

    def _rebalance(self) -> None:
        """lambda_l <- lambda_0 * mean_0 / mean_l: every weighted term matches the image term's mean."""
        means = [total / max(1, self._term_count) for total in self._term_sum_list()]
        # Under DDP every process saw its share of the batches: use the means over all of them.
        means = mean_over_ranks(torch.tensor(means, dtype=torch.float64, device=self.device), environment()).tolist()
        old = self.criterion.layer_weights  # type: ignore[union-attr]
        new = [old[0] * means[0] / m if m > 0 else w for w, m in zip(old, means, strict=True)]
        self._rebalanced_weights = new
        self.criterion.layer_weights = new  # type: ignore[union-attr]
        say(
            f"imsynth: CRN loss weights rebalanced after {self._term_count} steps: "
            + ", ".join(f"{w:.4g}" for w in new)
        )

    def state_dict_extra(self) -> dict[str, Any]:
        return {
            "rebalanced_weights": self._rebalanced_weights,
            "term_sums": self._term_sum_list(),
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
