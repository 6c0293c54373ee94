"""pix2pix training recipe (Isola et al., CVPR 2017): a conditional GAN with an L1 term.

One step (Sec. 3.3): ``fake = G(x)``; update D on ``(x, y)`` as real and ``(x, fake)`` as fake
with the halved loss; update G with the non-saturating adversarial loss on ``D(x, fake)`` plus
``100 * L1(fake, y)``. Two Adam optimizers (lr 2e-4, betas (0.5, 0.999)); the LR is constant for
the first half of training and decays linearly to 0 over the second (the trainer's
``lr_schedule="linear_decay"`` with ``decay_start_step = max_steps // 2``).

The networks come from :mod:`imsynth.models.pix2pix`, the objective from
:mod:`imsynth.losses.gan`. Data: every source is turned into ``{"A": input, "B": target}``
images in [0, 1] (:func:`build_dataset`); the method converts them to the generator's [-1, 1].

* ``mode="cityscapes"`` -- a Cityscapes-format root (or the rendered street scenes): A is the
  colour-coded label map as an RGB image, B the photo (the paper's "labels -> photo");
* ``mode="aligned"`` -- A|B side-by-side images (the public pix2pix datasets);
* ``mode="paired"`` -- two folders of images matched by file name.

All use the paper's jitter (Sec. 6.2): resize to ``load_size`` x ``load_size`` (286), random
crop ``crop_size`` (256), random horizontal flip; ``direction="BtoA"`` swaps A and B.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import Dataset

from imsynth.data.datasets import AlignedPairs, CityscapesPairs, PairedFolders
from imsynth.losses.gan import GANLossConfig, Pix2PixLoss
from imsynth.models.pix2pix import (
    DiscriminatorConfig,
    GeneratorConfig,
    build_discriminator,
    build_generator,
    generator_test_mode,
    to_signed,
    to_unit,
)
from imsynth.nn.freeze import frozen
from imsynth.training.config import Recipe, TrainConfig
from imsynth.training.method import TrainingMethod
from imsynth.training.optim import make_optimizer
from imsynth.utils.images import uint8_to_tensor

__all__ = [
    "Pix2PixModelConfig",
    "Pix2PixDataConfig",
    "Pix2PixMethodConfig",
    "LabelColorPairs",
    "build_dataset",
    "Pix2PixMethod",
]

DatasetMode = Literal["cityscapes", "aligned", "paired"]


@dataclass
class Pix2PixModelConfig:
    """The generator (default ``unet_256``, batch norm) and the PatchGAN (default 70x70)."""

    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)


@dataclass
class Pix2PixDataConfig:
    """Where the A/B pairs come from and the training jitter.

    ``root``: Cityscapes-format root (``cityscapes``), folder of A|B images (``aligned``; its
    ``split`` subfolder when there is one), or for ``paired`` the folder of A images -- or, when
    ``root_b`` is empty, a folder holding ``A/`` and ``B/`` (each optionally split into ``train/``...).
    """

    mode: DatasetMode = "cityscapes"
    root: str = ""
    root_b: str = ""
    split: str = "train"
    direction: Literal["AtoB", "BtoA"] = "AtoB"
    label_space: str | dict[str, Any] = "cityscapes"  # a built-in name or the space itself (never a path)
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True

    def __post_init__(self) -> None:
        if self.crop_size < 1 or self.load_size < self.crop_size:
            raise ValueError(f"need 1 <= crop_size <= load_size, got crop {self.crop_size}, load {self.load_size}")

    @property
    def is_label_to_photo(self) -> bool:
        """True when the generator maps colour-coded label maps to photos."""
        return self.mode == "cityscapes" and self.direction == "AtoB"


@dataclass
class Pix2PixMethodConfig:
    model: Pix2PixModelConfig = field(default_factory=Pix2PixModelConfig)
    loss: GANLossConfig = field(default_factory=GANLossConfig)
    data: Pix2PixDataConfig = field(default_factory=Pix2PixDataConfig)

    def __post_init__(self) -> None:
        multiple = self.model.generator.size_multiple
        crop = self.data.crop_size
        if crop % multiple:
            raise ValueError(
                f"crop_size {crop} is not a multiple of {multiple}, which {self.model.generator.name} "
                f"needs; use e.g. crop_size={multiple * max(1, crop // multiple)}"
            )


# ----------------------------------------------------------------------------- data
class LabelColorPairs(Dataset):
    """Cityscapes pairs as pix2pix pairs: ``A`` = label map in its official colours (RGB), ``B`` = photo.

    The label map is resized/cropped/flipped with the photo (nearest neighbour) and only then
    colourised, so A holds exact palette colours. ``direction="BtoA"`` gives photo -> labels.
    """

    def __init__(self, pairs: CityscapesPairs, direction: Literal["AtoB", "BtoA"] = "AtoB") -> None:
        self.pairs = pairs
        self.direction = direction

    def set_epoch(self, epoch: int) -> None:
        self.pairs.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.pairs[index]
        colors = uint8_to_tensor(self.pairs.label_space.colorize(item["ids"].numpy()))
        a, b = (colors, item["image"]) if self.direction == "AtoB" else (item["image"], colors)
        return {"A": a, "B": b, "name": item["name"]}


def _split_folder(folder: Path, split: str) -> Path:
    """``folder/split`` when it exists, else ``folder`` itself."""
    return folder / split if split and (folder / split).is_dir() else folder


def build_dataset(config: Pix2PixDataConfig, seed: int = 0) -> Dataset:
    """The training pairs ``{"A", "B", "name"}`` of ``config`` with the pix2pix jitter."""
    jitter: dict[str, Any] = {"crop_size": config.crop_size, "crop": "random", "flip": config.flip, "seed": seed}
    load = (config.load_size, config.load_size)  # pix2pix resizes to a square, then crops
    root = Path(config.root)
    if config.mode == "cityscapes":
        pairs = CityscapesPairs(root, config.split, config.label_space, size=load, **jitter)
        return LabelColorPairs(pairs, config.direction)
    if config.mode == "aligned":
        folder = _split_folder(root, config.split)
        return AlignedPairs(folder, None, config.direction, load_size=load, **jitter)
    if config.mode == "paired":
        if config.root_b:
            root_a, root_b = root, Path(config.root_b)
        else:
            root_a, root_b = _split_folder(root / "A", config.split), _split_folder(root / "B", config.split)
        return PairedFolders(root_a, root_b, config.direction, load_size=load, **jitter)
    raise ValueError(f"unknown dataset mode {config.mode!r}; use 'cityscapes', 'aligned' or 'paired'")


# ----------------------------------------------------------------------------- method
class Pix2PixMethod(TrainingMethod[Pix2PixMethodConfig]):
    """pix2pix: U-Net/ResNet generator against a conditional PatchGAN, cGAN + lambda * L1 (Eq. 4)."""

    name = "pix2pix"
    config_class = Pix2PixMethodConfig
    #: Sec. 6.2: Adam 2e-4, betas (0.5, 0.999); constant for the first half, then linear decay to 0.
    recipe = Recipe(lr=2e-4, betas=(0.5, 0.999), lr_schedule="linear_decay", decay_start_fraction=0.5)

    def __init__(self, config: Pix2PixMethodConfig) -> None:
        super().__init__(config)
        self.generator: nn.Module | None = None
        self.discriminator: nn.Module | None = None
        self.loss = Pix2PixLoss(config.loss)

    def build_dataset(self, seed: int = 0) -> Dataset[Any]:
        return build_dataset(self.config.data, seed)

    def build_models(self) -> dict[str, nn.Module]:
        g = self.config.model.generator
        self.generator = build_generator(g)
        self.discriminator = build_discriminator(self.config.model.discriminator, g.in_channels + g.out_channels)
        return {"generator": self.generator, "discriminator": self.discriminator}

    def optimizers(self, train: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        assert self.generator is not None and self.discriminator is not None
        self.opt_g = make_optimizer(self.generator, train)
        self.opt_d = make_optimizer(self.discriminator, train)
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def judge(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """The conditional discriminator: patch logits for ``concat(input, output)``."""
        assert self.discriminator is not None
        return self.discriminator(torch.cat([condition, image], dim=1))

    def training_step(self, batch: dict[str, Any], step: int) -> dict[str, torch.Tensor]:
        assert self.generator is not None and self.discriminator is not None
        ctx = self.ctx
        real_a, real_b = to_signed(batch["A"]), to_signed(batch["B"])
        with ctx.autocast():
            fake_b = self.generator(real_a)
            loss_d, terms_d = self.loss.discriminator(self.judge(real_a, real_b), self.judge(real_a, fake_b.detach()))
        ctx.optimize(loss_d, self.opt_d)
        with frozen(self.discriminator):  # G's step needs gradients through D, not for D
            with ctx.autocast():
                loss_g, terms_g = self.loss.generator(self.judge(real_a, fake_b), fake_b, real_b)
            ctx.optimize(loss_g, self.opt_g)
        return {
            "loss_g": loss_g.detach(),
            "loss_d": loss_d.detach(),
            **{f"loss/{k}": v for k, v in {**terms_g, **terms_d}.items()},
        }

    def sample(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """input | real | output, the output in the paper's test mode (dropout on, batch statistics)."""
        assert self.generator is not None
        with generator_test_mode(self.generator, stochastic=True):
            fakes = [self.generator(to_signed(a[None])) for a in batch["A"]]  # one image per batch, as trained
        return {"input": batch["A"], "real": batch["B"], "output": to_unit(torch.cat(fakes)).clamp(0, 1)}
