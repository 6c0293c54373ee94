"""Shared test fixtures: tiny Cityscapes-format trees and random label maps written to ``tmp_path``, and
one thread for the tests of tiny models (``one_thread``).

``make_cityscapes_tree`` is a plain function (import it with ``from conftest import ...`` or use the
``make_tree`` fixture) so tests can build trees with the variations they need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
import torch
from PIL import Image

from imsynth.data.cityscapes import image_path, label_color_path, label_ids_path
from imsynth.data.labels import CITYSCAPES, LabelSpace

LAYOUT_IDS = (7, 8, 11, 17, 21, 23, 24, 26, 0)
"""Ids the random layouts use: road, sidewalk, building, pole, vegetation, sky, person, car, void."""


def random_layout(rng: np.random.Generator, size: tuple[int, int], ids: tuple[int, ...] = LAYOUT_IDS) -> np.ndarray:
    """A street-like id map: sky / building / road bands plus a few random boxes."""
    h, w = size
    layout = np.full(size, 11, dtype=np.uint8)
    layout[: max(1, h // 4)] = 23
    layout[h * 2 // 3 :] = 7
    for _ in range(4):
        bh, bw = rng.integers(1, max(2, h // 3)), rng.integers(1, max(2, w // 4))
        top, left = rng.integers(0, h - bh + 1), rng.integers(0, w - bw + 1)
        layout[top : top + bh, left : left + bw] = rng.choice(ids)
    return layout


def photo_for(layout: np.ndarray, rng: np.random.Generator, space: LabelSpace = CITYSCAPES) -> np.ndarray:
    """A fake photo: the layout's colours plus a little noise."""
    noise = rng.integers(-20, 21, size=(*layout.shape, 3))
    return np.clip(space.colorize(layout).astype(np.int32) + noise, 0, 255).astype(np.uint8)


def make_cityscapes_tree(
    root: Path,
    n: int = 3,
    size: tuple[int, int] = (32, 64),
    *,
    split: str = "train",
    city: str = "testcity",
    seed: int = 0,
    labels: Literal["ids", "color", "both"] = "ids",
    annotation: str = "gtFine",
    space: LabelSpace = CITYSCAPES,
) -> list[str]:
    """Write ``n`` random photo/label pairs in Cityscapes format under ``root``; return their stems."""
    rng = np.random.default_rng(seed)
    stems = []
    for frame in range(n):
        stem = f"{city}_{seed:06d}_{frame:06d}"
        layout = random_layout(rng, size)
        path = image_path(root, split, city, stem)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo_for(layout, rng, space)).save(path)
        if labels in ("ids", "both"):
            path = label_ids_path(root, split, city, stem, annotation)
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(layout).save(path)  # mode L: ids
        if labels in ("color", "both"):
            path = label_color_path(root, split, city, stem, annotation)
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(space.colorize(layout)).save(path)
        stems.append(stem)
    return stems


@pytest.fixture
def make_tree():
    """The :func:`make_cityscapes_tree` helper, for tests that need their own variations."""
    return make_cityscapes_tree


@pytest.fixture
def cityscapes_root(tmp_path: Path) -> Path:
    """A clean tree: 4 train and 2 val pairs of 32x64 with grayscale labelIds maps."""
    root = tmp_path / "cityscapes"
    make_cityscapes_tree(root, 4, split="train")
    make_cityscapes_tree(root, 2, split="val", seed=1)
    return root


def crafted(source: Path, target: Path, change: Callable[[dict[str, Any]], object]) -> Path:
    """A copy of a weights file whose embedded run config went through ``change(config)``."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(source, framework="pt") as handle:
        metadata = dict(handle.metadata())
    config = json.loads(metadata["imsynth_config"])
    change(config)
    metadata["imsynth_config"] = json.dumps(config)
    save_file(load_file(source), target, metadata=metadata)
    return target


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Tiny models run fastest (and most reproducibly) on one thread, and share the machine better.

    A module asks for it with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
