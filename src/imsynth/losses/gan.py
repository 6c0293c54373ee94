"""Adversarial objectives and the pix2pix loss (Isola et al., CVPR 2017, Sec. 3.1 and 3.3).

pix2pix trains ``G* = arg min_G max_D L_cGAN(G, D) + lambda * L_L1(G)`` (Eq. 4), with

* ``L_cGAN = E[log D(x, y)] + E[log(1 - D(x, G(x, z)))]`` (Eq. 1), D conditioned on the input x;
* ``L_L1 = E[||y - G(x, z)||_1]`` (Eq. 3), ``lambda = 100``.

As in the paper (Sec. 3.3), G is trained with the *non-saturating* loss -- maximise
``log D(x, G(x))`` rather than minimise ``log(1 - D(x, G(x)))`` -- and D's objective is divided
by 2 to slow D relative to G. Discriminators output logits; ``"vanilla"`` uses binary
cross-entropy on them, ``"lsgan"`` the least-squares loss of Mao et al. (2017) on the raw
outputs (targets 1 for real, 0 for fake).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "GANMode",
    "GANLossConfig",
    "adversarial_loss",
    "discriminator_loss",
    "generator_adversarial_loss",
    "reconstruction_l1",
    "discriminator_feature_matching",
    "multiscale_adversarial_loss",
    "Pix2PixLoss",
]

GANMode = Literal["vanilla", "lsgan"]


@dataclass
class GANLossConfig:
    """Which adversarial loss (``"vanilla"`` BCE-with-logits or ``"lsgan"``) and the L1 weight lambda."""

    gan_mode: GANMode = "vanilla"
    lambda_l1: float = 100.0

    def __post_init__(self) -> None:
        if self.gan_mode not in ("vanilla", "lsgan"):
            raise ValueError(f"gan_mode must be 'vanilla' or 'lsgan', got {self.gan_mode!r}")
        if self.lambda_l1 < 0:
            raise ValueError(f"lambda_l1 must be >= 0, got {self.lambda_l1}")


def adversarial_loss(prediction: Tensor, target_is_real: bool, mode: GANMode = "vanilla") -> Tensor:
    """Mean loss of discriminator outputs against the all-real (1) or all-fake (0) target.

    ``vanilla``: ``-log sigmoid(p)`` for real, ``-log(1 - sigmoid(p))`` for fake (logits p);
    ``lsgan``: ``(p - 1)^2`` for real, ``p^2`` for fake.
    """
    target = torch.full_like(prediction, 1.0 if target_is_real else 0.0)
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(prediction, target)
    if mode == "lsgan":
        return F.mse_loss(prediction, target)
    raise ValueError(f"unknown GAN mode {mode!r}; use 'vanilla' or 'lsgan'")


def discriminator_loss(real_prediction: Tensor, fake_prediction: Tensor, mode: GANMode = "vanilla") -> Tensor:
    """D's loss ``(loss(D(x, y), real) + loss(D(x, G(x)), fake)) / 2`` -- halved (Sec. 3.3)."""
    return 0.5 * (adversarial_loss(real_prediction, True, mode) + adversarial_loss(fake_prediction, False, mode))


def generator_adversarial_loss(fake_prediction: Tensor, mode: GANMode = "vanilla") -> Tensor:
    """G's non-saturating adversarial loss: D's outputs on fakes scored against the *real* target."""
    return adversarial_loss(fake_prediction, True, mode)


def reconstruction_l1(fake: Tensor, real: Tensor) -> Tensor:
    """``L_L1`` (Eq. 3): mean absolute difference between output and target."""
    return F.l1_loss(fake, real)


def multiscale_adversarial_loss(outputs: list[list[Tensor]], target_is_real: bool, mode: GANMode = "lsgan") -> Tensor:
    """:func:`adversarial_loss` of the logits (last layer) of every scale of a multi-scale D, averaged
    over the scales (pix2pixHD, Eq. 3: the sum over the discriminators, here their mean)."""
    return torch.stack([adversarial_loss(scale[-1], target_is_real, mode) for scale in outputs]).mean()


def discriminator_feature_matching(fake_outputs: list[list[Tensor]], real_outputs: list[list[Tensor]]) -> Tensor:
    """pix2pixHD's feature-matching loss (Eq. 4): the L1 distance between D's intermediate features
    of the real and the synthesized pair, averaged over D's layers (logits excluded) and scales.
    The real features are detached: only the generator learns from this term."""
    terms = [
        (fake - real.detach()).abs().mean()
        for fake_scale, real_scale in zip(fake_outputs, real_outputs, strict=True)
        for fake, real in zip(fake_scale[:-1], real_scale[:-1], strict=True)
    ]
    return torch.stack(terms).mean()


class Pix2PixLoss:
    """The two halves of the pix2pix objective (Eq. 4), each returning its total and its terms."""

    def __init__(self, config: GANLossConfig | None = None) -> None:
        self.config = config or GANLossConfig()

    def discriminator(self, real_prediction: Tensor, fake_prediction: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Halved D loss on (real pair, fake pair) outputs."""
        mode = self.config.gan_mode
        real = adversarial_loss(real_prediction, True, mode)
        fake = adversarial_loss(fake_prediction, False, mode)
        return 0.5 * (real + fake), {"d_real": real.detach(), "d_fake": fake.detach()}

    def generator(self, fake_prediction: Tensor, fake: Tensor, real: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Non-saturating adversarial term plus ``lambda * L1`` (images in the same range, e.g. [-1, 1])."""
        gan = generator_adversarial_loss(fake_prediction, self.config.gan_mode)
        l1 = reconstruction_l1(fake, real)
        return gan + self.config.lambda_l1 * l1, {"g_gan": gan.detach(), "g_l1": l1.detach()}
