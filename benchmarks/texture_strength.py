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

from imsynth.losses.texture_curve import DEFAULT_STRENGTHS, best_strength, street_probe, texture_strength_curve
from imsynth.methods.crn import CRNMethod, PerceptualLossConfig, build_criterion, build_loss_network


def recipe_loss(recipe: str) -> PerceptualLossConfig:
    """The loss config of a CRN recipe ("default" or "paper") with the EfficientNet-Lite0 loss network."""
    layer = dict(CRNMethod.recipe_named(recipe).method_config.get("loss", {}))
    return dataclasses.replace(PerceptualLossConfig(backbone="efficientnet_lite0"), **layer)


def configurations() -> dict[str, PerceptualLossConfig]:
    """The loss configurations compared (the README's texture-strength figure)."""
    paper, default = recipe_loss("paper"), recipe_loss("default")
    levels = len(default.texture_scales or [])
    return {
        "paper (--recipe paper)": paper,
        "paper + Gram x1": dataclasses.replace(paper, texture_scales=[1.0] * levels, texture_statistics="gram"),
        "paper + mean/std x1": dataclasses.replace(paper, texture_scales=[1.0] * levels),
        "default (paper + mean/std x2)": default,
        "paper + mean/std x4": dataclasses.replace(paper, texture_scales=[4.0] * levels),
    }


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
    reference, source, masks = street_probe(args.scenes, size, args.other)  # type: ignore[arg-type]
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
