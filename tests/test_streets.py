"""Tests of the procedural street-scene dataset (imsynth.data.streets)."""

from __future__ import annotations

import importlib
import json
import sys
import types

import numpy as np
import pytest
from PIL import Image

from imsynth.data.streets import StreetLayout, render_layout, render_photo, render_scene, write_streets_dataset
from imsynth.data.streets import classes as C
from imsynth.data.streets.appearance import sample_appearance
from imsynth.data.streets.export import scene_seeds, scene_stem
from imsynth.data.streets.shading import shadow_masks

SEEDS = range(8)


@pytest.fixture(scope="module")
def layouts_128():
    return {s: render_layout(s, 128, 256) for s in SEEDS}


def test_determinism_per_seed():
    ids_a, photo_a = render_scene(5, 64, 128)
    ids_b, photo_b = render_scene(5, 64, 128)
    assert np.array_equal(ids_a, ids_b)
    assert np.array_equal(photo_a, photo_b)
    ids_c, photo_c = render_scene(6, 64, 128)
    assert not np.array_equal(ids_a, ids_c)
    assert not np.array_equal(photo_a, photo_c)


def test_output_types_and_shapes():
    ids, photo = render_scene(1, 48, 160)
    assert ids.shape == (48, 160) and ids.dtype == np.uint8
    assert photo.shape == (48, 160, 3) and photo.dtype == np.uint8
    layout = render_layout(1, 48, 160)
    assert isinstance(layout, StreetLayout)
    assert (layout.height, layout.width) == (48, 160)
    assert np.array_equal(layout.ids, ids)


def test_layout_and_appearance_vary_independently():
    layout = render_layout(3, 96, 192)
    ids_before = layout.ids.copy()
    one, two = render_photo(layout, 1), render_photo(layout, 2)
    assert np.array_equal(layout.ids, ids_before)
    diff = np.abs(one.astype(np.int16) - two.astype(np.int16)).mean()
    assert diff > 8.0, diff
    ids_1, _ = render_scene(3, 96, 192, appearance_seed=1)
    ids_2, photo_2 = render_scene(3, 96, 192, appearance_seed=2)
    assert np.array_equal(ids_1, ids_2)
    assert np.array_equal(photo_2, two)


def test_main_classes_present(layouts_128):
    wanted = {
        "road": C.ROAD,
        "sky": C.SKY,
        "building": C.BUILDING,
        "sidewalk": C.SIDEWALK,
        "car": C.CAR,
        "vegetation": C.VEGETATION,
    }
    counts = {name: sum(int(np.any(lay.ids == lid)) for lay in layouts_128.values()) for name, lid in wanted.items()}
    assert counts["road"] == len(SEEDS)
    for name, n in counts.items():
        assert n >= 0.75 * len(SEEDS), (name, counts)
    everything = set().union(*(np.unique(lay.ids).tolist() for lay in layouts_128.values()))
    assert {C.POLE, C.PERSON, C.TRAFFIC_SIGN} <= everything


def test_labels_only_from_allowed_set(layouts_128):
    for lay in layouts_128.values():
        assert lay.ids.dtype == np.uint8
        assert set(np.unique(lay.ids).tolist()) <= C.LABEL_IDS


def test_sky_on_top_and_road_at_bottom_centre(layouts_128):
    with_sky_on_top, road_bottom = 0, 0
    for lay in layouts_128.values():
        ids = lay.ids
        H, W = ids.shape
        top, bottom = ids[: H // 4], ids[H // 2 :]
        with_sky_on_top += int(np.any(top == C.SKY))
        assert np.mean(bottom == C.SKY) < 0.002
        window = ids[int(0.84 * H) : int(0.88 * H), int(0.4 * W) : int(0.6 * W)]
        road_bottom += int(np.mean(window == C.ROAD) > 0.5)
    assert with_sky_on_top >= 0.85 * len(SEEDS)
    assert road_bottom >= 0.85 * len(SEEDS)


def test_resolution_independence():
    for seed in range(5):
        small = render_layout(seed, 64, 128).ids
        big = render_layout(seed, 128, 256).ids
        agreement = np.mean(big[::2, ::2] == small)
        assert agreement > 0.9, (seed, agreement)


def test_other_aspect_ratios_render():
    for h, w in ((64, 64), (100, 300), (16, 32)):
        ids, photo = render_scene(2, h, w)
        assert ids.shape == (h, w) and photo.shape == (h, w, 3)


def test_shadows_darken_photo_only():
    layout = render_layout(1, 96, 192)
    ids_before = layout.ids.copy()
    sunny = [a for a in range(40) if sample_appearance(layout, a).weather == "sunny"][:3]
    assert sunny
    covered = 0.0
    for a in sunny:
        app = sample_appearance(layout, a)
        sun_mask, _ = shadow_masks(layout, app, layout.width, layout.height)
        covered = max(covered, float(sun_mask.mean()))
        render_photo(layout, a)
        assert np.array_equal(layout.ids, ids_before)
    assert covered > 0.01  # shadows are drawn somewhere
    assert np.array_equal(render_layout(1, 96, 192).ids, ids_before)
    with pytest.raises(ValueError):
        layout.ids[0, 0] = 0  # the layout is read-only


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="height"):
        render_layout(0, 8, 64)
    with pytest.raises(ValueError, match="width"):
        render_scene(0, 64, 16)
    with pytest.raises(ValueError, match="integer"):
        render_layout(0, 64.0, 128)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed"):
        render_layout(-1, 64, 128)
    with pytest.raises(ValueError, match="appearance_seed"):
        render_photo(render_layout(0, 32, 64), -3)
    with pytest.raises(ValueError, match="height"):
        write_streets_dataset("/nonexistent-never-created", {"train": 1}, height=4, width=64, progress=False)
    with pytest.raises(ValueError, match="split"):
        write_streets_dataset("/nonexistent-never-created", {"a/b": 1}, height=32, width=64, progress=False)
    with pytest.raises(ValueError, match="workers"):
        write_streets_dataset(
            "/nonexistent-never-created", {"train": 1}, height=32, width=64, workers=0, progress=False
        )


def _labels_or_stub(monkeypatch):
    """The real label module if it is importable, else a stub with a colorize (colour check skipped)."""
    try:
        return importlib.import_module("imsynth.data.labels")
    except ImportError:
        stub = types.ModuleType("imsynth.data.labels")
        stub.CITYSCAPES = types.SimpleNamespace(colorize=lambda ids: np.stack([ids] * 3, axis=-1))
        monkeypatch.setitem(sys.modules, "imsynth.data.labels", stub)
        return None


def test_dataset_directory_format(tmp_path, monkeypatch):
    labels = _labels_or_stub(monkeypatch)
    root = write_streets_dataset(
        tmp_path / "streets", {"train": 5, "val": 2}, height=32, width=64, seed=11, progress=False
    )
    meta = json.loads((root / "streets.json").read_text())
    assert meta["height"] == 32 and meta["width"] == 64 and meta["seed"] == 11
    assert meta["splits"] == {"train": 5, "val": 2}
    photos = sorted((root / "leftImg8bit").rglob("*.png"))
    assert len(photos) == 7
    train_cities, val_cities = set(), set()
    for split, n in (("train", 5), ("val", 2)):
        for i in range(n):
            city, stem = scene_stem(split, i)
            (train_cities if split == "train" else val_cities).add(city)
            assert stem.startswith(f"{city}_") and stem.endswith("_000019")
            photo_path = root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png"
            ids_path = root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png"
            color_path = root / "gtFine" / split / city / f"{stem}_gtFine_color.png"
            with Image.open(photo_path) as im:
                assert im.mode == "RGB" and im.size == (64, 32)
            with Image.open(ids_path) as im:
                assert im.mode == "L" and im.size == (64, 32)
                ids = np.asarray(im)
            with Image.open(color_path) as im:
                assert im.mode == "RGB" and im.size == (64, 32)
                color = np.asarray(im)
            layout_seed, _ = scene_seeds(11, split, i)
            assert np.array_equal(ids, render_layout(layout_seed, 32, 64).ids)
            if labels is not None:
                assert np.array_equal(color, labels.CITYSCAPES.colorize(ids))
    assert not train_cities & val_cities
    assert not any(f.name.endswith(".tmp") for f in root.rglob("*"))


def test_splits_do_not_share_layouts():
    train = {scene_seeds(0, "train", i)[0] for i in range(50)}
    val = {scene_seeds(0, "val", i)[0] for i in range(50)}
    assert len(train) == 50 and len(val) == 50 and not train & val
    a, b = render_layout(scene_seeds(0, "train", 0)[0], 32, 64), render_layout(scene_seeds(0, "val", 0)[0], 32, 64)
    assert not np.array_equal(a.ids, b.ids)


def test_workers_give_identical_files(tmp_path, monkeypatch):
    if _labels_or_stub(monkeypatch) is None:
        pytest.skip("worker processes cannot see a stubbed label module")
    splits = {"train": 4, "val": 2}
    one = write_streets_dataset(tmp_path / "one", splits, height=32, width=64, seed=5, workers=1, progress=False)
    two = write_streets_dataset(tmp_path / "two", splits, height=32, width=64, seed=5, workers=2, progress=False)
    files_one = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    files_two = sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    assert files_one == files_two and len(files_one) == 3 * 6 + 1
    for rel in files_one:
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel
