"""Worker for tests/test_distributed.py: one training run, alone or as one process of a torchrun job.

    python tests/ddp_worker.py {smooth|crn} DATA OUT STEPS [--resume]
    torchrun --standalone --nproc_per_node 2 tests/ddp_worker.py {smooth|crn} DATA OUT STEPS [--resume]

The global batch is 4 either way (2 per process under 2-process DDP).

* ``smooth``: a small tanh conv net regressing a fixed filter (MSE). Its loss is smooth, so two
  processes must reproduce one process's weights to float precision.
* ``crn``: a tiny CRN with the feature-matching loss. Its gradient is only piecewise smooth
  (LeakyReLU and ReLU6 kinks behind layer norms of near-constant 4x8 features): an ulp-sized
  difference in the weights can move it by ~1e-3, so it is used for the resume check, where
  bitwise-equal arithmetic is expected.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from imsynth.training import SingleOptimizerMethod, TrainConfig, Trainer
from imsynth.training.distributed import shutdown_distributed


@dataclass
class SmoothConfig:
    channels: int = 8


class SmoothMethod(SingleOptimizerMethod[SmoothConfig]):
    name = "smooth"
    config_class = SmoothConfig

    def build_models(self) -> dict[str, nn.Module]:
        c = self.config.channels
        self.net = nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.Tanh(), nn.Conv2d(c, 3, 3, padding=1))
        return {"net": self.net}

    def compute_loss(self, batch, step):
        return F.mse_loss(self.net(batch["input"]), batch["target"])


def main(kind: str, data: str, out: str, steps: int, resume: bool) -> None:
    torch.set_num_threads(1)
    train = TrainConfig(
        out_dir=Path(out),
        max_steps=steps,
        batch_size=4,
        lr=1e-2 if kind == "smooth" else 1e-3,
        betas=(0.9, 0.999),
        deterministic=True,
        checkpoint_every=2,
        log_every=1,
        sample_every=2,
        progress=False,
        tensorboard=False,
    )
    if kind == "smooth":
        from test_trainer import ToyDataset  # random 8x8 images, a fixed 3x3 filter as target, random flips

        method, dataset = SmoothMethod(SmoothConfig()), ToyDataset()
    else:
        from imsynth.data.datasets import CityscapesPairs
        from imsynth.methods.crn import CRNDataConfig, CRNMethod, CRNMethodConfig, PerceptualLossConfig
        from imsynth.models.crn import CRNConfig

        method = CRNMethod(
            CRNMethodConfig(
                model=CRNConfig(height=32, width=64, num_variants=2, width_multiplier=1 / 64),
                loss=PerceptualLossConfig(backbone="efficientnet_lite0"),
                data=CRNDataConfig(root=data),
            )
        )
        dataset = CityscapesPairs(data, "train", size=(32, 64), flip=True)
    try:
        Trainer(method, train, dataset, resume=resume).fit()
    finally:
        shutdown_distributed()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), "--resume" in sys.argv[5:])
