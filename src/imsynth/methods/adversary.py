"""An optional conditional adversary for feed-forward synthesis methods (pix2pixHD's recipe).

Wang et al. ("High-Resolution Image Synthesis and Semantic Manipulation with Conditional GANs",
CVPR 2018, Sec. 3.2) train a layout-to-photo generator against a multi-scale PatchGAN
(:class:`~imsynth.models.discriminators.MultiScaleDiscriminator`) that sees the (label map, image)
pair, with the least-squares GAN loss and a discriminator feature-matching term (Eq. 4, weight 10).
:class:`ConditionalAdversary` packages that so a method can add it to its own loss:

    D = adversary.build_discriminator()                                # a model of the method
    adversary.discriminator_step(ctx, D, labels, real, fakes)         # D's update, fakes detached
    g_loss, terms = adversary.generator_terms(D, labels, real, fakes)   # add g_loss to G's loss

The method holds ``D`` as an attribute, so the trainer can wrap it (DDP, compile) like any model,
and passes it in.

``fakes`` may hold k images per layout (B x k x 3 x H x W): every one is judged against the real
photo of its layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from imsynth.losses.gan import GANMode, discriminator_feature_matching, multiscale_adversarial_loss
from imsynth.models.discriminators import MultiScaleDiscriminator, MultiScaleDiscriminatorConfig
from imsynth.nn.freeze import frozen
from imsynth.training.context import TrainContext

__all__ = ["AdversarialConfig", "ConditionalAdversary"]


@dataclass
class AdversarialConfig:
    """The adversarial term; ``weight = 0`` (default) turns it off.

    ``weight`` multiplies G's LSGAN loss, ``feature_matching_weight`` D's feature matching
    (pix2pixHD: 1 and 10 against its VGG term of weight 10). ``lr`` defaults to the generator's;
    ``betas`` are pix2pixHD's (0.5, 0.999).
    """

    weight: float = 0.0
    feature_matching_weight: float = 10.0
    mode: GANMode = "lsgan"
    lr: float | None = None
    betas: tuple[float, float] = (0.5, 0.999)
    discriminator: MultiScaleDiscriminatorConfig = field(default_factory=MultiScaleDiscriminatorConfig)

    def __post_init__(self) -> None:
        if self.weight < 0 or self.feature_matching_weight < 0:
            raise ValueError("adversarial weights must be >= 0")
        if self.mode not in ("lsgan", "vanilla"):
            raise ValueError(f"adversarial mode must be 'lsgan' or 'vanilla', got {self.mode!r}")
        self.betas = (float(self.betas[0]), float(self.betas[1]))

    @property
    def enabled(self) -> bool:
        return self.weight > 0


def _pairs(labels: Tensor, images: Tensor) -> Tensor:
    """(B x P x H x W label maps, B x k x 3 x H x W images) -> (B k) x (P + 3) x H x W pairs."""
    b, k = images.shape[:2]
    maps = labels.unsqueeze(1).expand(b, k, *labels.shape[1:])
    return torch.cat([maps, images], dim=2).reshape(b * k, -1, *images.shape[-2:])


class ConditionalAdversary:
    """A multi-scale conditional discriminator's update, and the generator's terms."""

    def __init__(self, config: AdversarialConfig, label_channels: int) -> None:
        self.config = config
        self.label_channels = label_channels
        self.optimizer: torch.optim.Optimizer | None = None

    def build_discriminator(self) -> MultiScaleDiscriminator:
        return MultiScaleDiscriminator(self.label_channels + 3, self.config.discriminator)

    def make_optimizer(self, discriminator: nn.Module, generator_lr: float) -> torch.optim.Optimizer:
        lr = self.config.lr if self.config.lr is not None else generator_lr
        self.optimizer = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=self.config.betas)
        return self.optimizer

    @staticmethod
    def _judge(
        discriminator: nn.Module, labels: Tensor, real: Tensor, fakes: Tensor
    ) -> tuple[list[list[Tensor]], list[list[Tensor]]]:
        """D on the real pair and the k fake pairs in one batch (instance norm keeps samples apart)."""
        b = real.shape[0]
        pairs = torch.cat([_pairs(labels, real.unsqueeze(1)), _pairs(labels, fakes)])
        outputs = discriminator(pairs)
        real_out = [[t[:b] for t in scale] for scale in outputs]
        fake_out = [[t[b:] for t in scale] for scale in outputs]
        return real_out, fake_out

    def discriminator_step(
        self, ctx: TrainContext, discriminator: nn.Module, labels: Tensor, real: Tensor, fakes: Tensor
    ) -> dict[str, Tensor]:
        """One update of D on (real, detached fakes); returns its logged terms."""
        assert self.optimizer is not None, "call make_optimizer first"
        with ctx.autocast():
            real_out, fake_out = self._judge(discriminator, labels, real, fakes.detach())
            loss_real = multiscale_adversarial_loss(real_out, True, self.config.mode)
            loss_fake = multiscale_adversarial_loss(fake_out, False, self.config.mode)
            loss = 0.5 * (loss_real + loss_fake)
        ctx.optimize(loss, self.optimizer)
        return {"loss_d": loss.detach(), "loss/d_real": loss_real.detach(), "loss/d_fake": loss_fake.detach()}

    def generator_terms(
        self, discriminator: nn.Module, labels: Tensor, real: Tensor, fakes: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """``weight * LSGAN(D(fakes) -> real) + feature_matching_weight * FM``, gradients into the
        fakes only (D is frozen inside)."""
        k = fakes.shape[1]
        with frozen(discriminator):
            real_out, fake_out = self._judge(discriminator, labels, real, fakes)
        real_out = [[t.detach().repeat_interleave(k, dim=0) for t in scale] for scale in real_out]
        adversarial = multiscale_adversarial_loss(fake_out, True, self.config.mode)
        matching = discriminator_feature_matching(fake_out, real_out)
        loss = self.config.weight * adversarial + self.config.feature_matching_weight * matching
        return loss, {"g_adv": adversarial.detach(), "g_fm": matching.detach()}
