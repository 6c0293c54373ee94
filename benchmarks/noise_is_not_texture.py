"""Can the texture ratio be gamed? A run's outputs with Gaussian noise added, scored side by side.

Noise raises the mean |Laplacian| that the texture ratio measures, so a model could look
"textured" by adding grain. The other metrics must catch it: scored on the same layouts with the
same networks as ``imsynth compare``, each noisier row should have a higher texture ratio but a
worse FLD-2 and feature distance than the clean outputs (README, "What makes the photos
photographic")::

    .venv/bin/python benchmarks/noise_is_not_texture.py RUN --data DATA [--segmenter SEG] \\
        [--count 50] [--sigmas 0 8 16]

``RUN`` is anything ``imsynth compare`` accepts; ``--sigmas`` are noise standard deviations in
8-bit grey levels (seeded: the table is reproducible).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from imsynth.evaluation.compare import markdown_table
from imsynth.evaluation.networks import EvaluationSettings, MetricNetworks
from imsynth.evaluation.runs import load_run
from imsynth.evaluation.scoring import score_runs
from imsynth.inference.synthesizer import LayoutSynthesizer


class NoisySynthesizer:
    """A synthesizer whose outputs get seeded Gaussian noise of ``sigma`` grey levels (clipped);
    every other attribute is the wrapped model's."""

    def __init__(self, inner: LayoutSynthesizer, sigma: float, seed: int = 0) -> None:
        self.inner = inner
        self.sigma = sigma
        self.rng = np.random.default_rng(seed)

    def __getattr__(self, name: str):  # only for attributes this wrapper lacks
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def synthesize(self, ids: np.ndarray, variants: int | None = None) -> np.ndarray:
        outputs = self.inner.synthesize(ids, variants).astype(np.float32)
        noisy = outputs + self.rng.normal(0.0, self.sigma, outputs.shape).astype(np.float32)
        return noisy.round().clip(0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--segmenter", type=Path, default=None)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 8.0, 16.0])
    args = parser.parse_args(argv)
    settings = EvaluationSettings(data_root=args.data, split="val", count=args.count, segmenter=args.segmenter)
    model = load_run(args.run, settings.device)
    synthesizers = {
        (f"+ noise σ={sigma:g}" if sigma else "outputs"): NoisySynthesizer(model, sigma, seed=i)
        for i, sigma in enumerate(args.sigmas)
    }
    table = score_runs(synthesizers, settings, MetricNetworks.load(settings))  # type: ignore[arg-type]
    print(markdown_table(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
