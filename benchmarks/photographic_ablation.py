"""Why are CRN's outputs flat, and what fixes it? An ablation at equal budget.

Every row trains the demo's CRN (128x256, k = 3, 1/16 width, Adam lr 2e-4, batch 1, the demo's
400 rendered training scenes) for the same number of steps with one lever changed, then all rows
are scored side by side by ``imsynth compare`` on the same held-out layouts (texture, contrast and
colourfulness ratios, FLD-2, feature distance, diversity; FCN-score with ``--segmenter``).

    # the data (once): the demo's scenes, 400 train + 50 val at 128x256, seed 0
    .venv/bin/imsynth data streets --out runs/ablation/streets --train 400 --val 50 --size 128x256 --seed 0
    # train rows (each resumable; --threads 1 lets two rows share a 2-core machine)
    .venv/bin/python benchmarks/photographic_ablation.py train --data runs/ablation/streets --out runs/ablation \\
        --steps 1500 paper xavier texture ...
    # score them all on the first 50 validation layouts
    .venv/bin/python benchmarks/photographic_ablation.py score --data runs/ablation/streets --out runs/ablation

``list`` prints the rows and what each changes.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from imsynth.data.datasets import CityscapesPairs
from imsynth.methods.crn import CRNDataConfig, CRNMethod, CRNMethodConfig, PerceptualLossConfig
from imsynth.models.crn import CRNConfig
from imsynth.models.discriminators import MultiScaleDiscriminatorConfig
from imsynth.training import TrainConfig, Trainer

SIZE = (128, 256)
# Calibrated weights of EfficientNet-Lite0's levels [image, stage1, stage2, stage3, stage5, stage7]:
# the feature terms (the shipped defaults) and the mean/std texture terms
# (imsynth.losses.texture.calibrate_texture_weights on the same photo pairs, 256x512).
LAYERS = [1.0, 0.0121, 0.008286, 0.009495, 0.01236, 0.02551]
MEANSTD = [5.063, 0.0426, 0.0135, 0.01306, 0.01724, 0.03266]
GRAM = [11.22, 0.0109, 0.003359, 0.004939, 0.01034, 0.01869]


def _times(weights: list[float], factors: list[float] | float) -> list[float]:
    factors = [factors] * len(weights) if isinstance(factors, (int, float)) else factors
    return [w * f for w, f in zip(weights, factors, strict=True)]


def _base() -> CRNMethodConfig:
    return CRNMethodConfig(
        model=CRNConfig(height=SIZE[0], width=SIZE[1], num_variants=3, width_multiplier=1 / 16),
        loss=PerceptualLossConfig(backbone="efficientnet_lite0"),
    )


def _with(config: CRNMethodConfig, **changes: object) -> CRNMethodConfig:
    """A copy with ``model__x`` / ``loss__x`` / ``adversarial__x`` fields replaced."""
    parts = {"model": config.model, "loss": config.loss, "adversarial": config.adversarial}
    for key, value in changes.items():
        part, name = key.split("__")
        parts[part] = dataclasses.replace(parts[part], **{name: value})
    return dataclasses.replace(config, **parts)


_TEXTURE = {"loss__texture_weights": _times(MEANSTD, 2.0)}
# without the image-level statistics, which a region can match with a smooth blob instead of texture
_FEATURE_TEXTURE = {"loss__texture_weights": _times(MEANSTD, [0, 2, 2, 2, 2, 2])}
_NOISE = {"model__noise_channels": 4}
_ADVERSARY = {
    "adversarial__weight": 1.0,
    "adversarial__discriminator": MultiScaleDiscriminatorConfig(ndf=32, n_layers=3, num_scales=2),
}

#: name -> (what it changes, config builder, learning rate)
ROWS: dict[str, tuple[str, Callable[[], CRNMethodConfig], float]] = {
    "paper": ("the paper's loss and init (the paper recipe)", _base, 2e-4),
    "deep": (
        "no image and stage-1 terms (the issue's first try) + Xavier",
        lambda: _with(_base(), model__projection_init="xavier", loss__layer_weights=_times(LAYERS, [0, 0, 1, 1, 1, 1])),
        2e-4,
    ),
    "gram": (
        "+ per-class Gram texture terms (x2) + Xavier",
        lambda: _with(
            _base(),
            model__projection_init="xavier",
            loss__texture_weights=_times(GRAM, 2.0),
            loss__texture_statistics="gram",
        ),
        2e-4,
    ),
    "noise": (
        "+ noise inputs (4 channels from 32 rows) + Xavier",
        lambda: _with(_base(), model__projection_init="xavier", **_NOISE),
        2e-4,
    ),
    "texture+noise": (
        "texture terms + noise inputs + Xavier",
        lambda: _with(_base(), model__projection_init="xavier", **_TEXTURE, **_NOISE),
        2e-4,
    ),
    "texture+noise+lowpass": (
        "texture + noise + Xavier, image term at 1/8, no stage-1 term",
        lambda: _with(
            _base(),
            model__projection_init="xavier",
            loss__image_downsample=8,
            loss__layer_weights=_times(LAYERS, [1, 0, 1, 1, 1, 1]),
            **_TEXTURE,
            **_NOISE,
        ),
        2e-4,
    ),
    "ftexture+noise": (
        "texture terms on the features only (not the image) + noise + Xavier",
        lambda: _with(_base(), model__projection_init="xavier", **_FEATURE_TEXTURE, **_NOISE),
        2e-4,
    ),
    "ftexture+noise+adversarial": (
        "feature texture terms + noise + Xavier + multi-scale PatchGAN with feature matching",
        lambda: _with(_base(), model__projection_init="xavier", **_FEATURE_TEXTURE, **_NOISE, **_ADVERSARY),
        2e-4,
    ),
    "adversarial": (
        "paper loss + multi-scale PatchGAN with feature matching + Xavier",
        lambda: _with(_base(), model__projection_init="xavier", **_ADVERSARY),
        2e-4,
    ),
    "texture+noise+adversarial": (
        "texture + noise + Xavier + multi-scale PatchGAN with feature matching",
        lambda: _with(_base(), model__projection_init="xavier", **_TEXTURE, **_NOISE, **_ADVERSARY),
        2e-4,
    ),
}


def train_row(name: str, data: Path, out: Path, steps: int, seed: int, threads: int | None) -> float:
    """Train (or resume) one row for ``steps`` steps; return seconds per step of this invocation."""
    if threads:
        torch.set_num_threads(threads)
    _, build, lr = ROWS[name]
    config = build()
    config = dataclasses.replace(config, data=CRNDataConfig(root=str(data)))
    run_dir = out / name
    train = TrainConfig(
        out_dir=run_dir,
        max_steps=steps,
        lr=lr,
        betas=(0.9, 0.999),
        seed=seed,
        device="cpu",
        num_workers=1,
        log_every=25,
        sample_every=500,
        checkpoint_every=500,
        progress=False,
    )
    dataset = CityscapesPairs(data, "train", size=SIZE, flip=True, seed=seed)
    resume = (run_dir / "checkpoints").is_dir()
    start = time.perf_counter()
    result = Trainer(CRNMethod(config), train, dataset, resume=resume).fit()
    elapsed = time.perf_counter() - start
    print(
        f"{name}: step {result.step} ({result.stop_reason}) in {elapsed / 60:.1f} min, "
        f"{elapsed / max(1, steps):.3f} s/step"
    )
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list")
    train = sub.add_parser("train")
    train.add_argument("rows", nargs="+", choices=sorted(ROWS))
    train.add_argument("--data", type=Path, required=True)
    train.add_argument("--out", type=Path, required=True)
    train.add_argument("--steps", type=int, default=1500)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    score = sub.add_parser("score")
    score.add_argument("--data", type=Path, required=True)
    score.add_argument("--out", type=Path, required=True)
    score.add_argument("--rows", nargs="*", default=None)
    score.add_argument("--count", type=int, default=50)
    score.add_argument("--segmenter", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, (what, _, lr) in ROWS.items():
            print(f"{name:28s} lr {lr:g}  {what}")
        return 0
    if args.command == "train":
        for name in args.rows:
            train_row(name, args.data, args.out, args.steps, args.seed, args.threads)
        return 0
    from imsynth.evaluation.compare import compare_runs
    from imsynth.evaluation.scoring import EvaluationSettings

    rows = args.rows or [name for name in ROWS if (args.out / name / "checkpoints").is_dir()]
    settings = EvaluationSettings(data_root=args.data, split="val", count=args.count, segmenter=args.segmenter)
    result = compare_runs([args.out / name for name in rows], settings, args.out / "compare")
    print(result.markdown_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
