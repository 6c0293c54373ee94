"""Label spaces: the Cityscapes table, conversions, decoding messy label-map files, user spaces."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from imsynth.data.labels import (
    CITYSCAPES,
    IGNORE_INDEX,
    LabelDecodeError,
    LabelSpace,
    get_label_space,
)

C = CITYSCAPES
ALL_IDS = np.array(sorted(c.id for c in C.classes), dtype=np.uint8)
TRAIN_IDS = np.array([c.id for c in C.train_classes], dtype=np.uint8)
_, DISTINCT_IDS = C.palette
"""One id per distinct colour: the ids a colour map can express exactly."""


def canonical(ids: np.ndarray) -> np.ndarray:
    """What a colour map of ``ids`` decodes to: each id replaced by its colour's representative."""
    colors, reps = C.palette
    lut = np.zeros(256, dtype=np.uint8)
    for c in C.classes:
        lut[c.id] = reps[np.flatnonzero((colors == c.color).all(axis=1))[0]]
    return lut[ids]


def street_scene(h: int = 256, w: int = 512) -> np.ndarray:
    """A street-like id map with large regions and a few objects (sky, building, road, car, ...)."""
    ids = np.full((h, w), C.id_of("building"), dtype=np.uint8)
    ids[: h // 4] = C.id_of("sky")
    ids[h * 2 // 3 :] = C.id_of("road")
    ids[h * 2 // 3 :, : w // 6] = C.id_of("sidewalk")
    ids[h * 140 // 256 : h * 200 // 256, w * 300 // 512 : w * 420 // 512] = C.id_of("car")
    ids[h * 60 // 256 : h * 170 // 256, w * 40 // 512 : w * 48 // 512] = C.id_of("pole")
    ids[h * 120 // 256 : h * 200 // 256, w * 200 // 512 : w * 230 // 512] = C.id_of("person")
    ids[h * 90 // 256 : h * 160 // 256, w * 440 // 512 : w * 500 // 512] = C.id_of("vegetation")
    return ids


def reload(image: Image.Image, tmp_path: Path, name: str, **save: object) -> np.ndarray:
    path = tmp_path / name
    image.save(path, **save)
    return C.load(path)


# ------------------------------------------------------------------------------ the Cityscapes table
def test_cityscapes_table_facts() -> None:
    assert ALL_IDS.tolist() == list(range(34))
    assert C.num_classes == 19
    assert sorted(c.train_id for c in C.train_classes) == list(range(19))
    assert C.by_name("road").color == (128, 64, 128)
    assert C.by_name("sky").train_id == 10
    assert C.ignore_index == IGNORE_INDEX == 255
    assert get_label_space("cityscapes") is C and get_label_space(None) is C


def test_shared_colours_decode_to_the_trained_class() -> None:
    rgb = np.array([[[153, 153, 153], [0, 0, 0]]], dtype=np.uint8)
    assert C.decode_colors(rgb).tolist() == [[C.id_of("pole"), 0]]
    assert C.id_of("pole") == 17


# ------------------------------------------------------------------------------ round trips
def test_ids_color_ids_round_trip() -> None:
    ids = np.resize(DISTINCT_IDS, (8, 16))
    assert np.array_equal(C.decode_colors(C.colorize(ids)), ids)
    everything = np.resize(ALL_IDS, (4, 34))
    assert np.array_equal(C.decode_colors(C.colorize(everything)), canonical(everything))


def test_ids_train_ids_round_trip_on_train_classes() -> None:
    ids = np.resize(TRAIN_IDS, (5, 19))
    train = C.ids_to_train(ids)
    assert train.max() == 18 and np.array_equal(C.train_to_ids(train), ids)
    assert C.ids_to_train(np.array([[0, 18, 29]], dtype=np.uint8)).tolist() == [[255, 255, 255]]
    assert C.train_to_ids(np.array([[255]])).tolist() == [[C.void_id]]


def test_palette_png_round_trip(tmp_path: Path) -> None:
    ids = np.resize(ALL_IDS, (6, 34))
    assert np.array_equal(reload(C.palette_image(ids), tmp_path, "p.png"), ids)


def test_rgb_png_round_trip(tmp_path: Path) -> None:
    ids = street_scene(32, 64)
    assert np.array_equal(reload(Image.fromarray(C.colorize(ids)), tmp_path, "rgb.png"), ids)


def test_grayscale_png_of_ids(tmp_path: Path) -> None:
    ids = np.resize(ALL_IDS, (6, 34))
    assert np.array_equal(reload(Image.fromarray(ids), tmp_path, "ids.png"), ids)


def test_rgba_transparent_pixels_become_void(tmp_path: Path) -> None:
    ids = street_scene(32, 64)
    rgba = np.dstack([C.colorize(ids), np.full(ids.shape, 255, np.uint8)])
    rgba[:8, :8] = (255, 255, 255, 0)  # transparent, holding a colour of no class
    rgba[20:, 50:, 3] = 0
    decoded = reload(Image.fromarray(rgba), tmp_path, "rgba.png")
    expected = ids.copy()
    expected[:8, :8] = expected[20:, 50:] = C.void_id
    assert np.array_equal(decoded, expected)


@pytest.mark.parametrize("size", [(256, 512), (192, 384)])
def test_antialiased_colour_map_decodes(size: tuple[int, int]) -> None:
    ids = street_scene(512, 1024)
    small = Image.fromarray(C.colorize(ids)).resize(size[::-1], Image.Resampling.BILINEAR)
    truth = np.asarray(Image.fromarray(ids).resize(size[::-1], Image.Resampling.NEAREST))
    assert (C.decode_colors(np.asarray(small)) == truth).mean() > 0.98


@pytest.mark.parametrize("quality", [75, 50])
def test_jpeg_damaged_colour_map_decodes(quality: int) -> None:
    ids = street_scene()
    buffer = io.BytesIO()
    Image.fromarray(C.colorize(ids)).save(buffer, format="JPEG", quality=quality)
    damaged = np.asarray(Image.open(buffer).convert("RGB"))
    assert (C.decode_colors(damaged) == ids).mean() > 0.97


# ------------------------------------------------------------------------------ errors
def test_unknown_colour_region_is_named() -> None:
    rgb = C.colorize(street_scene(32, 64))
    rgb[4:14, 4:14] = (255, 255, 255)
    with pytest.raises(LabelDecodeError) as info:
        C.decode_colors(rgb)
    assert "100 of 2048 pixels" in str(info.value)
    assert "#ffffff" in str(info.value)


def test_unknown_id_in_grayscale(tmp_path: Path) -> None:
    ids = street_scene(16, 16)
    ids[0, :3] = 200
    path = tmp_path / "bad.png"
    Image.fromarray(ids).save(path)
    with pytest.raises(LabelDecodeError, match=r"3 pixels have ids .* 200 \(3 px\)"):
        C.load(path)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"not a png")
    with pytest.raises(LabelDecodeError, match="broken.png: not an image"):
        C.load(path)
    with pytest.raises(LabelDecodeError, match="no such file"):
        C.load(tmp_path / "absent.png")


# ------------------------------------------------------------------------------ one-hot
def test_one_hot_has_void_channel_and_inverts() -> None:
    ids = np.array([[7, 23, 0], [18, 26, 33]], dtype=np.uint8)
    one_hot = C.one_hot(ids)
    assert one_hot.shape == (20, 2, 3) and one_hot.dtype == torch.float32
    assert torch.equal(one_hot.sum(0), torch.ones(2, 3))
    assert one_hot[19, 0, 2] == 1 and one_hot[19, 1, 0] == 1  # unlabeled, polegroup -> void
    assert one_hot[C.by_name("sky").train_id, 0, 1] == 1
    assert C.one_hot(ids, with_void=False).shape == (19, 2, 3)
    assert C.from_one_hot(one_hot).tolist() == [[7, 23, 0], [0, 26, 33]]


# ------------------------------------------------------------------------------ user label spaces
TOY = [("background", 0, "#000000"), ("grass", 1, "#00ff00"), ("water", 2, "#0000ff"), ("house", 5, "#ff0000")]


def _check_toy(space: LabelSpace) -> None:
    assert [c.name for c in space.classes] == [name for name, _, _ in TOY]
    assert space.by_name("house").color == (255, 0, 0)
    ids = np.array([[0, 1], [2, 5]], dtype=np.uint8)
    assert np.array_equal(space.decode_colors(space.colorize(ids)), ids)


def test_user_space_json(tmp_path: Path) -> None:
    path = tmp_path / "toy.json"
    path.write_text(json.dumps({"classes": [{"name": n, "id": i, "color": c} for n, i, c in TOY]}))
    space = LabelSpace.from_file(path)
    _check_toy(space)
    assert space.name == "toy" and space.num_classes == 4
    again = tmp_path / "again.json"
    again.write_text(json.dumps(space.to_dict()))
    assert LabelSpace.from_file(again) == space


def test_user_space_yaml(tmp_path: Path) -> None:
    path = tmp_path / "toy.yaml"
    lines = ["name: toy", "classes:"] + [f"  - {{name: {n}, id: {i}, color: '{c}'}}" for n, i, c in TOY]
    path.write_text("\n".join(lines) + "\n")
    _check_toy(get_label_space(path))


def test_user_space_csv_with_ignored_class(tmp_path: Path) -> None:
    path = tmp_path / "toy.csv"
    path.write_text("name,id,color,ignore\n" + "".join(f"{n},{i},{c},{int(n == 'background')}\n" for n, i, c in TOY))
    space = LabelSpace.from_file(path)
    _check_toy(space)
    assert space.num_classes == 3 and space.by_name("background").ignored and space.void_id == 0


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.json", '{"classes": [{"name": "a", "id": 1}]}', "missing color"),
        ("missing.csv", "name,id,color\na,1,#ff0000\nb,2\n", "missing color"),
        (
            "dup.json",
            '{"classes": [{"name": "a", "id": 1, "color": "#ff0000"}, {"name": "b", "id": 1, "color": "#00ff00"}]}',
            r"duplicate ids \[1\]",
        ),
        ("dup.csv", "name,id,color\na,3,#ff0000\nb,3,#00ff00\n", r"duplicate ids \[3\]"),
        ("bad.yaml", "classes: [unclosed", "not valid YAML"),
        ("list.yaml", "- a\n- b\n", "'classes' list"),
        ("colour.json", '{"classes": [{"name": "a", "id": 1, "color": "red"}]}', "#rrggbb"),
        ("space.txt.bak", "x", r"\.json, \.yaml or \.csv"),
    ],
)
def test_user_space_errors_are_clear(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        LabelSpace.from_file(path)
    assert name in str(info.value)


def test_unknown_label_space_name() -> None:
    with pytest.raises(ValueError, match="unknown label space 'ade20k'"):
        get_label_space("ade20k")


# ------------------------------------------------------------------------------ property
@settings(max_examples=40, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.sampled_from(ALL_IDS.tolist())))
def test_colorize_then_decode_is_identity_up_to_shared_colours(ids: np.ndarray) -> None:
    decoded = C.decode_colors(C.colorize(ids))
    assert np.array_equal(decoded, canonical(ids))
    assert np.array_equal(C.colorize(decoded), C.colorize(ids))


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.sampled_from(DISTINCT_IDS.tolist()))
)
def test_colorize_then_decode_is_identity_on_distinct_colours(ids: np.ndarray) -> None:
    assert np.array_equal(C.decode_colors(C.colorize(ids)), ids)
