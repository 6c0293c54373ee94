"""Texture, contrast and colourfulness statistics and their ratios (imsynth.evaluation.appearance)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imsynth.evaluation.appearance import AppearanceStatistics, appearance_ratios, texture_map
from imsynth.evaluation.colorization_metrics import colorfulness

NAMES = ["road", "sidewalk", "building", "vegetation", "car", "sky"]


def _scene(rng: np.random.Generator, size=(48, 64)) -> tuple[np.ndarray, np.ndarray]:
    """Bands of four classes, each a colour plus grain: (uint8 photo, train ids)."""
    h, w = size
    ids = np.zeros(size, np.int64)
    ids[: h // 4] = 5  # sky
    ids[h // 4 : h // 2] = 2  # building
    ids[h // 2 : 3 * h // 4] = 3  # vegetation
    ids[3 * h // 4 :] = 0  # road
    colours = np.array([(90, 90, 95), (200, 180, 170), (150, 120, 110), (60, 140, 50), (0, 0, 200), (120, 170, 230)])
    photo = colours[ids] + rng.normal(0, 12, (*size, 3))
    return np.clip(photo, 0, 255).astype(np.uint8), ids


def _flat(photo: np.ndarray, ids: np.ndarray) -> np.ndarray:
    out = photo.astype(np.float64).copy()
    for c in np.unique(ids):
        out[ids == c] = out[ids == c].mean(axis=0)
    return out.round().astype(np.uint8)


def _ratios(fakes: list[np.ndarray], reals: list[np.ndarray], layouts: list[np.ndarray]) -> dict:
    synthesized, real = AppearanceStatistics(len(NAMES)), AppearanceStatistics(len(NAMES))
    for fake, photo, ids in zip(fakes, reals, layouts, strict=True):
        synthesized.add(fake[None], ids)
        real.add(photo[None], ids)
    return appearance_ratios(synthesized, real, NAMES)


def test_real_photos_against_themselves_score_one():
    rng = np.random.default_rng(0)
    scenes = [_scene(rng) for _ in range(3)]
    ratios = _ratios([p for p, _ in scenes], [p for p, _ in scenes], [i for _, i in scenes])
    assert ratios["texture_ratio"] == pytest.approx(1.0)
    assert ratios["contrast_ratio"] == pytest.approx(1.0)
    assert ratios["colourfulness_ratio"] == pytest.approx(1.0)
    # road, building and vegetation are present; sidewalk and car are not
    assert set(ratios["class_texture_ratio"]) == {"road", "building", "vegetation", "sky"}


def test_flat_fills_have_no_texture_and_less_contrast_noise_has_more_texture():
    rng = np.random.default_rng(1)
    scenes = [_scene(rng) for _ in range(3)]
    photos, layouts = [p for p, _ in scenes], [i for _, i in scenes]
    flat = _ratios([_flat(p, i) for p, i in scenes], photos, layouts)
    assert flat["texture_ratio"] == pytest.approx(0.0, abs=1e-9)  # region interiors are constant
    assert 0.5 < flat["contrast_ratio"] < 1.0  # class means remain, grain is gone
    noisy = [np.clip(p + rng.normal(0, 25, p.shape), 0, 255).astype(np.uint8) for p in photos]
    assert _ratios(noisy, photos, layouts)["texture_ratio"] > 1.5


def test_gray_images_have_no_colourfulness():
    rng = np.random.default_rng(2)
    photo, ids = _scene(rng)
    gray = np.repeat(photo.mean(axis=2, keepdims=True), 3, axis=2).round().astype(np.uint8)
    ratios = _ratios([gray], [photo], [ids])
    assert ratios["colourfulness_ratio"] < 0.02
    stats = AppearanceStatistics(len(NAMES))
    stats.add(photo[None], ids)
    assert stats.colourfulness[0] == pytest.approx(colorfulness(photo), rel=1e-3)


def test_region_boundaries_are_not_texture():
    """Two flat classes with a sharp boundary: the 2-px erosion leaves no |Laplacian| at all."""
    ids = np.zeros((32, 32), np.int64)
    ids[:, 16:] = 2
    photo = np.where(ids[..., None] == 2, 220, 30).astype(np.uint8).repeat(3, axis=2)
    stats = AppearanceStatistics(len(NAMES))
    stats.add(photo[None], ids)
    assert texture_map(torch.from_numpy(photo).permute(2, 0, 1)[None].double() / 255).max() > 0.5
    assert stats.class_texture()[0] == pytest.approx(0.0, abs=1e-12)
    assert stats.class_texture()[2] == pytest.approx(0.0, abs=1e-12)
    # 32 rows x (16 - 2 - 2) interior columns per class, minus the 2-px image border rows
    assert stats.texture_pixels[0] == (32 - 4) * (16 - 2 - 2)


def test_texture_known_value_on_a_checkerboard():
    """Luminance 0/1 checkerboard: the 8-neighbour Laplacian is |4 - 4 * (-1)| ... = 8 x 1."""
    board = (np.indices((16, 16)).sum(axis=0) % 2).astype(np.float64)
    image = torch.from_numpy(board)[None, None].expand(1, 3, 16, 16)
    lap = texture_map(image)[0, 2:-2, 2:-2]
    # centre 1: neighbours 4 x 0 (edges) + 4 x 1 (corners) -> 4 - 8 = -4; centre 0: 4 x 1 -> +4
    assert torch.allclose(lap, torch.full_like(lap, 4.0))


def test_shape_errors_are_clear():
    stats = AppearanceStatistics(3)
    with pytest.raises(ValueError, match="do not match"):
        stats.add(np.zeros((1, 8, 8, 3), np.uint8), np.zeros((9, 8), np.int64))
