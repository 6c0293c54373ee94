"""Does the colorizer beat gray? Zhang et al.'s classification recipe vs. L2 regression vs. a = b = 0.

Usage (about 20 minutes on 2 CPU cores)::

    nice -n 10 .venv/bin/python benchmarks/colorization_experiment.py --out /tmp/colorization_experiment

What it does:

1. **Data.** Real photos that ship with scikit-image (and, when installed, scikit-learn's and
   matplotlib's sample photos) are split by *image*: the training photos give random square crops
   (side 25-90 % of the shorter side, resized to 112 px); the held-out photos give their own
   crops. Two grayscale photos join the training set (no colour: they contribute no loss). The
   procedural street renders (:func:`imsynth.data.streets.write_streets_dataset`, 128 x 256)
   add a larger set: their ``train`` split for training, their ``val`` split (other scenes,
   other cities) held out.
2. **Prior.** The colour prior of the training folder (:func:`imsynth.methods.colorizer.folder_prior`).
3. **Training.** The same narrow network (width multiplier 0.25) is trained twice with the same
   budget (steps, capped by minutes): the classification model (class-rebalanced cross-entropy)
   and the L2 regression baseline. Adam betas (0.9, 0.99), weight decay 1e-3 as in the paper,
   but lr 1e-3 instead of 3e-5 because the run is minutes long, not 450k iterations.
4. **Evaluation** on the held-out real crops and held-out streets: PSNR (RGB, dB), AuC of ab
   accuracy over thresholds 0-150 (raw and class-rebalanced) and Hasler-Suesstrunk colorfulness
   for gray (a = b = 0), the regression baseline, and the classifier decoded by annealed mean
   (T = 0.38; also by mean and mode). Every prediction is the final 8-bit RGB image a user gets.

Prints a Markdown table and writes ``OUT/results.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from imsynth.color.bins import QuantizationConfig, gamut_bins
from imsynth.color.encoding import DecodeConfig
from imsynth.color.lab import lightness_only, rgb_to_lab
from imsynth.evaluation.colorization_metrics import ABAccuracy, colorfulness, psnr
from imsynth.inference.colorize import colorize_tensor
from imsynth.methods.colorizer import (
    REFERENCE_BETAS,
    REFERENCE_WEIGHT_DECAY,
    ColorizerDataConfig,
    ColorizerMethod,
    ColorizerMethodConfig,
    folder_prior,
    training_dataset,
)
from imsynth.models.colorizer import ColorizerConfig, ColorizerNet
from imsynth.training import TrainConfig, Trainer
from imsynth.utils.images import tensor_to_uint8, uint8_to_tensor

TRAIN_PHOTOS = (
    "astronaut",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "sklearn:flower.jpg",
    "matplotlib:grace_hopper.jpg",
)
HELD_OUT_PHOTOS = ("chelsea", "motorcycle", "sklearn:china.jpg")
GRAY_PHOTOS = ("camera", "coins")
CROP_PIXELS = 112


# ----------------------------------------------------------------------------- data


def load_photo(name: str) -> np.ndarray | None:
    """A sample photo as uint8 RGB (or gray); ``None`` when its package is not installed."""
    if name.startswith("sklearn:"):
        try:
            from sklearn.datasets import load_sample_image
        except ImportError:
            return None
        return load_sample_image(name.split(":", 1)[1])
    if name.startswith("matplotlib:"):
        from matplotlib import cbook

        with Image.open(cbook.get_sample_data(name.split(":", 1)[1], asfileobj=False)) as image:
            return np.array(image.convert("RGB"))
    import skimage.data

    if name == "motorcycle":
        return skimage.data.stereo_motorcycle()[0]
    return getattr(skimage.data, name)()


def random_crops(image: np.ndarray, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` random square crops (side 25-90 % of the shorter side), resized to CROP_PIXELS."""
    height, width = image.shape[:2]
    crops = []
    for _ in range(count):
        side = int(rng.uniform(0.25, 0.9) * min(height, width))
        top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
        crop = Image.fromarray(image[top : top + side, left : left + side])
        crops.append(np.asarray(crop.resize((CROP_PIXELS, CROP_PIXELS), Image.BOX)))
    return crops


def write_crops(names: tuple[str, ...], folder: Path, count: int, rng: np.random.Generator) -> list[str]:
    used = []
    for name in names:
        image = load_photo(name)
        if image is None:
            print(f"  (skipping {name}: package not installed)")
            continue
        stem = name.split(":")[-1].split(".")[0]
        for k, crop in enumerate(random_crops(image, count, rng)):
            path = folder / f"{stem}_{k:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(crop).save(path)
        used.append(stem)
    return used


def build_folders(out: Path, crops_per_photo: int, streets_train: int, streets_val: int, seed: int) -> dict:
    """Write ``out/train`` (real crops + gray photos + street renders) and the two held-out folders."""
    from imsynth.data.streets import write_streets_dataset

    rng = np.random.default_rng(seed)
    for folder in ("train", "held_out_photos", "held_out_streets"):
        shutil.rmtree(out / folder, ignore_errors=True)
    train = write_crops(TRAIN_PHOTOS, out / "train" / "photos", crops_per_photo, rng)
    write_crops(GRAY_PHOTOS, out / "train" / "gray", 4, rng)
    held_out = write_crops(HELD_OUT_PHOTOS, out / "held_out_photos", max(8, crops_per_photo // 3), rng)
    render = out / "streets_render"
    if not (render / "streets.json").is_file():
        write_streets_dataset(
            render,
            {"train": streets_train, "val": streets_val},
            height=128,
            width=256,
            seed=seed,
            workers=2,
            progress=False,
        )
    for split, target in (("train", out / "train" / "streets"), ("val", out / "held_out_streets")):
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted((render / "leftImg8bit" / split).rglob("*.png")):
            shutil.copy(path, target / path.name)
    return {
        "train_photos": train,
        "held_out_photos": held_out,
        "streets_train": streets_train,
        "streets_val": streets_val,
    }


# ----------------------------------------------------------------------------- training


@dataclass
class Budget:
    steps: int
    minutes: float
    batch_size: int
    lr: float
    width_multiplier: float
    crop: int


def train(out: Path, head: str, prior_p: list[float], budget: Budget, seed: int) -> tuple[ColorizerNet, dict]:
    config = ColorizerMethodConfig(
        model=ColorizerConfig(head=head, width_multiplier=budget.width_multiplier),  # type: ignore[arg-type]
        data=ColorizerDataConfig(root=str(out / "train"), load_size=CROP_PIXELS, crop_size=budget.crop),
        prior=prior_p if head == "classification" else [],
    )
    if head == "regression":
        config.rebalance.weighting = "none"
    run = out / "runs" / head
    shutil.rmtree(run, ignore_errors=True)
    train_config = TrainConfig(
        out_dir=run,
        max_steps=budget.steps,
        max_minutes=budget.minutes,
        batch_size=budget.batch_size,
        lr=budget.lr,
        betas=REFERENCE_BETAS,
        weight_decay=REFERENCE_WEIGHT_DECAY,
        seed=seed,
        log_every=25,
        sample_every=10**9,
        checkpoint_every=10**9,
        progress=False,
        tensorboard=False,
    )
    method = ColorizerMethod(config)
    result = Trainer(method, train_config, training_dataset(config.data, seed)).fit()
    net = method.models()["colorizer"].eval()
    return net, {
        "steps": result.step,
        "minutes": round(result.elapsed_seconds / 60, 2),
        "final_loss": round(result.last_scalars.get("loss", float("nan")), 4),
    }


# ----------------------------------------------------------------------------- evaluation


def evaluate(folder: Path, predictors: dict) -> dict[str, dict[str, float]]:
    """PSNR, AuC (raw, rebalanced) and colorfulness of every predictor on the photos of ``folder``."""
    paths = sorted(folder.glob("*.png"))
    centers = gamut_bins()
    scores: dict[str, dict] = {
        name: {"psnr": [], "colorfulness": [], "auc": ABAccuracy(centers)} for name in ["ground truth", *predictors]
    }
    for path in paths:
        truth = np.array(Image.open(path).convert("RGB"))
        rgb = uint8_to_tensor(truth)[None]
        true_ab = rgb_to_lab(rgb.double())[0, 1:]
        outputs = {"ground truth": truth}
        with torch.no_grad():
            for name, predict in predictors.items():
                outputs[name] = tensor_to_uint8(predict(rgb)[0])
        for name, output in outputs.items():
            scores[name]["psnr"].append(psnr(output, truth))
            scores[name]["colorfulness"].append(colorfulness(output))
            scores[name]["auc"].update(rgb_to_lab(uint8_to_tensor(output)[None].double())[0, 1:], true_ab)
    table = {}
    for name, s in scores.items():
        raw, rebalanced = s["auc"].auc()
        finite = [v for v in s["psnr"] if np.isfinite(v)]
        table[name] = {
            "psnr": float(np.mean(finite)) if finite else float("inf"),
            "auc_raw": raw,
            "auc_rebalanced": rebalanced,
            "colorfulness": float(np.mean(s["colorfulness"])),
        }
    return table


def gray_prediction(rgb: torch.Tensor) -> torch.Tensor:
    return lightness_only(rgb)


def markdown(results: dict[str, dict[str, dict[str, float]]]) -> str:
    sets = list(results)
    header = "| method | " + " | ".join(f"{s}: PSNR dB | AuC raw | AuC rebal. | colorful." for s in sets) + " |"
    lines = [header, "|---|" + "---:|" * (4 * len(sets))]
    for method in results[sets[0]]:
        cells = []
        for s in sets:
            r = results[s][method]
            psnr_text = "inf" if not np.isfinite(r["psnr"]) else f"{r['psnr']:.2f}"
            cells += [
                psnr_text,
                f"{100 * r['auc_raw']:.1f}",
                f"{100 * r['auc_rebalanced']:.1f}",
                f"{r['colorfulness']:.1f}",
            ]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/colorization_experiment"))
    parser.add_argument("--crops-per-photo", type=int, default=40)
    parser.add_argument("--streets-train", type=int, default=320)
    parser.add_argument("--streets-val", type=int, default=48)
    parser.add_argument("--steps", type=int, default=1500, help="training steps per model (at most)")
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget per model (the same for both)")
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--crop", type=int, default=96)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--width-multiplier", type=float, default=0.25)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)

    print("building folders ...", flush=True)
    data = build_folders(args.out, args.crops_per_photo, args.streets_train, args.streets_val, args.seed)
    prior = folder_prior(str(args.out / "train"), QuantizationConfig(), load_size=CROP_PIXELS)
    prior.save(args.out / "prior")
    print(
        f"prior: {prior.images} images ({prior.images_without_color} without colour), peak at ab = {prior.peak()}",
        flush=True,
    )

    budget = Budget(args.steps, args.minutes, args.batch_size, args.lr, args.width_multiplier, args.crop)
    runs = {}
    nets = {}
    for head in ("classification", "regression"):
        print(f"training {head} ...", flush=True)
        nets[head], runs[head] = train(args.out, head, prior.probabilities.tolist(), budget, args.seed)
        print(f"  {runs[head]}", flush=True)

    predictors = {
        "gray (a = b = 0)": gray_prediction,
        "L2 regression": lambda rgb: colorize_tensor(nets["regression"], rgb),
        "classification, annealed mean T=0.38": lambda rgb: colorize_tensor(nets["classification"], rgb),
        "classification, mean": lambda rgb: colorize_tensor(nets["classification"], rgb, DecodeConfig("mean")),
        "classification, mode": lambda rgb: colorize_tensor(nets["classification"], rgb, DecodeConfig("mode")),
    }
    results = {
        "held-out photos": evaluate(args.out / "held_out_photos", predictors),
        "held-out streets": evaluate(args.out / "held_out_streets", predictors),
    }
    elapsed = (time.monotonic() - start) / 60
    print()
    print(markdown(results))
    print(f"\ndata: {data}\ntraining: {runs}\ntotal {elapsed:.1f} min")
    (args.out / "results.json").write_text(
        json.dumps(
            {
                "data": data,
                "training": runs,
                "results": results,
                "args": {k: str(v) for k, v in vars(args).items()},
                "minutes": elapsed,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
