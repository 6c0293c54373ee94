"""Example layouts for the painter: street scenes drawn by the embedded renderer, and the seeds.

``GET /api/random-layout?seed=N`` answers :func:`street_ids` for seed ``N`` at the model's size,
so a layout is reproduced by its seed. The renderer (:func:`imsynth.data.streets.render_layout`)
writes Cityscapes label ids: it serves models whose label space has those classes under those
ids (:func:`streets_fit`); for others the painter starts from a void canvas.

Seeds (of street layouts and of the model's random inputs) are integers in ``[0, MAX_SEED]``,
small enough for any client to handle exactly (JavaScript numbers included).
"""

from __future__ import annotations

import math
import secrets

import numpy as np

from imsynth.data.labels import CITYSCAPES, LabelSpace
from imsynth.data.streets import render_layout
from imsynth.data.streets.layout import MIN_HEIGHT, MIN_WIDTH
from imsynth.serving.uploads import resize_ids

__all__ = ["DEFAULT_SEED", "EXAMPLE_STREET", "MAX_SEED", "new_seed", "street_ids", "streets_fit"]

MAX_SEED = 2**31 - 1
"""Largest seed the API accepts (for street layouts and for synthesis)."""

DEFAULT_SEED = 0
"""The model's seed when a synthesis request names none: the same layout gives the same photos."""

EXAMPLE_STREET = 3
"""The street the painter opens with."""


def new_seed() -> int:
    """A fresh random seed in ``[0, MAX_SEED]``."""
    return secrets.randbelow(MAX_SEED + 1)


def streets_fit(space: LabelSpace) -> bool:
    """True when ``space`` has every Cityscapes class under its Cityscapes id (the renderer's output)."""
    own = {(c.id, c.name) for c in space.classes}
    return all((c.id, c.name) in own for c in CITYSCAPES.classes)


def street_ids(seed: int, size: tuple[int, int]) -> np.ndarray:
    """The street of ``seed`` as an id map of ``size`` (height, width).

    Sizes below the renderer's minimum are rendered at a whole multiple and resampled (nearest),
    so ids stay ids.
    """
    height, width = size
    scale = max(1, math.ceil(MIN_HEIGHT / height), math.ceil(MIN_WIDTH / width))
    ids = np.asarray(render_layout(seed, height * scale, width * scale).ids, dtype=np.uint8)
    return resize_ids(ids, (height, width))
