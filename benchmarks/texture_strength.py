"""Which loss rewards texture? The texture-strength curve of each CRN loss configuration.

For N rendered street scenes, photo A and photo B of the same layout under the same light with
textures of other phases (renderer ``texture_seed``); every class region of B is scaled about its
mean colour by s (0 = flat, 1 = as rendered, 1.5 = exaggerated) and the loss L(B_s, A) recorded
(:mod:`imsynth.losses.texture_curve`). A loss that rewards photographic texture is lowest near
s = 1. Prints one row per configuration (loss relative to its value at s = 1, and the best s) and
writes a plot::

    .venv/bin/python benchmarks/texture_strength.py [--scenes 8] [--size 128x256] [--out docs/texture_strength.png]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

from imsynth.data.labels import get_label_space
from imsynth.data.streets.layout import render_layout
from imsynth.data.streets.render import render_photo
from imsynth.losses.texture_curve import DEFAULT_STRENGTHS, best_strength, texture_strength_curve
from imsynth.methods.crn import PerceptualLossConfig, build_criterion, build_loss_network
from imsynth.nn.labelmaps import one_hot_with_void

# Calibrated per-level weights of EfficientNet-Lite0's default levels [image, stage1, 2, 3, 5, 7]
# (CRN rule: 1 / mean term on scikit-image photos vs blurred+noised copies; see calibrate.py and
# imsynth.losses.texture.calibrate_texture_weights).
LAYERS = [1.0, 0.0121, 0.008286, 0.009495, 0.01236, 0.02551]
TEXTURE = [8.534, 0.01088, 0.003486, 0.00481, 0.00706, 0.01422]


def _scaled(weights: list[float], factors: list[float]) -> list[float]:
    return [w * f for w, f in zip(weights, factors, strict=True)]


def configurations() -> dict[str, PerceptualLossConfig]:
    """The loss configurations compared (names as in the README's ablation table)."""
    base = PerceptualLossConfig(backbone="efficientnet_lite0")
    return {
        "paper terms (image + 5 layers)": base,
        "deep layers only (stage 2-7)": dataclasses.replace(base, layer_weights=_scaled(LAYERS, [0, 0, 1, 1, 1, 1])),
        "image at 1/4 + layers": dataclasses.replace(base, image_downsample=4),
        "image at 1/8, stage 2-7": dataclasses.replace(
            base, image_downsample=8, layer_weights=_scaled(LAYERS, [1, 0, 1, 1, 1, 1])
        ),
        "paper + Gram (all levels)": dataclasses.replace(base, texture_weights=TEXTURE),
        "image 1/4 + layers + Gram": dataclasses.replace(base, image_downsample=4, texture_weights=TEXTURE),
        "image 1/8 + stage 2-7 + Gram": dataclasses.replace(
            base, image_downsample=8, layer_weights=_scaled(LAYERS, [1, 0, 1, 1, 1, 1]), texture_weights=TEXTURE
        ),
        "image 1/8 + stage 2-7 + Gram x2": dataclasses.replace(
            base,
            image_downsample=8,
            layer_weights=_scaled(LAYERS, [1, 0, 1, 1, 1, 1]),
            texture_weights=_scaled(TEXTURE, [2] * 6),
        ),
    }


def scenes(
    count: int, size: tuple[int, int], other: str = "appearance", seed: int = 1000
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(A, B, masks) for ``count`` layouts: B has other textures (``other="texture"``: same light and
    camera, other texture phases) or is another photo of the layout altogether (``"appearance"``:
    other weather, exposure, white balance and textures -- what a training pair is to a model that
    cannot know the photo's appearance), and the one-hot masks."""
    space = get_label_space("cityscapes")
    refs, others, masks = [], [], []
    for i in range(count):
        layout = render_layout(seed + i, *size)
        a = render_photo(layout, seed + i)
        if other == "texture":
            b = render_photo(layout, seed + i, texture_seed=seed + i + 7919)
        else:
            b = render_photo(layout, seed + i + 7919)
        train = torch.from_numpy(space.ids_to_train(np.asarray(layout.ids)).astype(np.int64))
        refs.append(torch.from_numpy(a).permute(2, 0, 1).float() / 255)
        others.append(torch.from_numpy(b).permute(2, 0, 1).float() / 255)
        masks.append(one_hot_with_void(train[None], space.num_classes, space.ignore_index)[0])
    return torch.stack(refs), torch.stack(others), torch.stack(masks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--size", default="128x256")
    parser.add_argument("--out", type=Path, default=None, help="PNG plot of the curves")
    parser.add_argument(
        "--other",
        choices=("appearance", "texture"),
        default="appearance",
        help="B is another photo of the layout (default) or the same photo with other texture phases",
    )
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.split("x"))
    torch.set_grad_enabled(False)
    start = time.perf_counter()
    reference, source, masks = scenes(args.scenes, size, args.other)  # type: ignore[arg-type]
    extractor = None
    curves: dict[str, list[float]] = {}
    for name, config in configurations().items():
        extractor = extractor or build_loss_network(config)
        criterion = build_criterion(config, num_variants=3, extractor=extractor)
        curves[name] = texture_strength_curve(lambda f, r, m, c=criterion: c(f, r, m)[0], reference, source, masks)
    header = "| loss | " + " | ".join(f"s={s:g}" for s in DEFAULT_STRENGTHS) + " | best s |"
    print(f"{args.scenes} scenes at {size[0]}x{size[1]}, B = other {args.other}; loss relative to its value at s = 1\n")
    print(header)
    print("|---|" + "---:|" * (len(DEFAULT_STRENGTHS) + 1))
    at_one = DEFAULT_STRENGTHS.index(1.0)
    for name, values in curves.items():
        cells = " | ".join(f"{v / values[at_one]:.3f}" for v in values)
        print(f"| {name} | {cells} | {best_strength(values):g} |")
    print(f"\n({time.perf_counter() - start:.1f} s)")
    if args.out is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.2))
        for name, values in curves.items():
            ax.plot(DEFAULT_STRENGTHS, np.asarray(values) / values[at_one], marker="o", ms=3, label=name)
        ax.axvline(1.0, color="k", lw=0.6, ls=":")
        ax.set_xlabel("texture strength s (0 flat, 1 as rendered)")
        ax.set_ylabel("loss / loss at s = 1")
        ax.set_title(f"Texture-strength curves, {args.scenes} street scenes at {size[0]}x{size[1]}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.out, dpi=110)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
