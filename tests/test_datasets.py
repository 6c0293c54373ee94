"""Datasets and paired transforms on tiny on-disk fixtures."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from imsynth.data.cityscapes import (
    find_pairs,
    image_path,
    label_color_path,
    label_ids_path,
    list_splits,
    scan_pairs,
)
from imsynth.data.datasets import AlignedPairs, CityscapesPairs, DatasetError, ImageFolder, PairedFolders
from imsynth.data.labels import CITYSCAPES
from imsynth.data.transforms import (
    PairTransformConfig,
    center_crop_pair,
    jitter_pair,
    plan_geometry,
    random_crop_pair,
    random_flip_pair,
    resize_pair,
)

VALID_TRAIN = {c.train_id for c in CITYSCAPES.train_classes} | {255}
RED, BLUE = (200, 30, 30), (30, 30, 200)


def write(path: Path, array: np.ndarray, **save: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **save)
    return path


def source_ids(sample_label: Path) -> set[int]:
    return set(np.unique(np.asarray(Image.open(sample_label))).tolist())


def asymmetric_tree(root: Path, n: int = 4, size: tuple[int, int] = (16, 32)) -> None:
    """Pairs whose left third is road in red and the rest sky in blue: any flip is visible."""
    h, w = size
    ids = np.full(size, CITYSCAPES.id_of("sky"), np.uint8)
    ids[:, : w // 3] = CITYSCAPES.id_of("road")
    photo = np.where(ids[..., None] == CITYSCAPES.id_of("road"), np.uint8(RED), np.uint8(BLUE)).astype(np.uint8)
    for frame in range(n):
        stem = f"asym_000000_{frame:06d}"
        write(image_path(root, "train", "asym", stem), photo)
        write(label_ids_path(root, "train", "asym", stem), ids)


def same_item(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a)


# ------------------------------------------------------------------------------ cityscapes layout
def test_find_pairs_and_splits(cityscapes_root: Path) -> None:
    assert list_splits(cityscapes_root) == ["train", "val"]
    pairs = find_pairs(cityscapes_root, "train")
    assert [p.stem for p in pairs] == sorted(p.stem for p in pairs) and len(pairs) == 4
    assert all(p.label_kind == "ids" and p.city == "testcity" and p.image_path.is_file() for p in pairs)
    assert scan_pairs(cityscapes_root, "train").problems == []
    assert find_pairs(cityscapes_root, "test") == []


def test_scan_prefers_label_ids_and_falls_back_to_colour_and_coarse(tmp_path: Path, make_tree) -> None:
    make_tree(tmp_path, 2, labels="both")
    make_tree(tmp_path, 2, labels="color", city="colour")
    make_tree(tmp_path, 1, annotation="gtCoarse", city="coarse")
    kinds = {(s.city, s.label_kind, s.label_path.parent.parent.parent.name) for s in find_pairs(tmp_path, "train")}
    assert kinds == {("testcity", "ids", "gtFine"), ("colour", "color", "gtFine"), ("coarse", "ids", "gtCoarse")}


def test_scan_reports_unmatched_files(cityscapes_root: Path) -> None:
    stem = find_pairs(cityscapes_root, "train")[0].stem
    label_ids_path(cityscapes_root, "train", "testcity", stem).unlink()
    write(label_color_path(cityscapes_root, "train", "lonely", "lonely_000000_000000"), np.zeros((4, 4, 3), np.uint8))
    scan = scan_pairs(cityscapes_root, "train")
    assert len(scan.samples) == 3
    assert [(p.kind, p.stem) for p in scan.problems] == [
        ("image without label", stem),
        ("label without image", "lonely_000000_000000"),
    ]


# ------------------------------------------------------------------------------ CityscapesPairs
def test_cityscapes_item_shapes_types_and_ranges(cityscapes_root: Path) -> None:
    dataset = CityscapesPairs(cityscapes_root, "train", size=(24, 40))
    assert len(dataset) == 4
    item = dataset[0]
    assert set(item) == {"image", "label", "ids", "name"}
    assert item["image"].shape == (3, 24, 40) and item["image"].dtype == torch.float32
    assert 0.0 <= item["image"].min() and item["image"].max() <= 1.0
    assert item["label"].shape == item["ids"].shape == (24, 40)
    assert item["label"].dtype == item["ids"].dtype == torch.long
    assert item["name"] == dataset.samples[0].stem
    train = CITYSCAPES.ids_to_train(item["ids"].numpy().astype(np.uint8))
    assert torch.equal(item["label"], torch.from_numpy(train).long())


def test_labels_are_nearest_sampled(cityscapes_root: Path) -> None:
    for size in [(24, 40), (45, 90), 20]:
        dataset = CityscapesPairs(cityscapes_root, "train", size=size)
        for index, sample in enumerate(dataset.samples):
            item = dataset[index]
            assert set(item["ids"].unique().tolist()) <= source_ids(sample.label_path)
            assert set(item["label"].unique().tolist()) <= VALID_TRAIN
    assert CityscapesPairs(cityscapes_root, size=20)[0]["ids"].shape == (20, 40)  # shorter side, aspect kept
    assert CityscapesPairs(cityscapes_root, size=None)[0]["ids"].shape == (32, 64)


def test_colour_labels_give_the_same_items(tmp_path: Path, make_tree) -> None:
    make_tree(tmp_path / "ids", 2, labels="ids")
    make_tree(tmp_path / "color", 2, labels="color")
    from_ids, from_colours = (CityscapesPairs(tmp_path / kind, size=(16, 32)) for kind in ("ids", "color"))
    assert all(same_item(from_ids[i], from_colours[i]) for i in range(2))


def test_flip_applies_to_image_and_label_together(tmp_path: Path) -> None:
    asymmetric_tree(tmp_path)
    plain = CityscapesPairs(tmp_path, size=None)
    flipped_count = 0
    for seed in range(6):
        dataset = CityscapesPairs(tmp_path, size=None, flip=True, seed=seed)
        for index in range(len(dataset)):
            a, b = plain[index], dataset[index]
            flipped = not torch.equal(a["label"], b["label"])
            if flipped:
                flipped_count += 1
                assert torch.equal(b["label"], a["label"].flip(-1))
                assert torch.equal(b["image"], a["image"].flip(-1))
            else:
                assert torch.equal(b["image"], a["image"])
            road = b["ids"] == CITYSCAPES.id_of("road")
            assert torch.allclose(b["image"][:, road], torch.tensor(RED).float()[:, None] / 255)
    assert 0 < flipped_count < 24


def test_determinism_per_seed_epoch_and_index(cityscapes_root: Path) -> None:
    def make(seed: int) -> CityscapesPairs:
        return CityscapesPairs(cityscapes_root, size=(32, 64), crop_size=(16, 16), flip=True, seed=seed)

    a, b = make(0), make(0)
    assert all(same_item(a[i], b[i]) for i in range(len(a)))
    assert same_item(a[2], a[2])
    epochs = []
    for epoch in range(4):
        a.set_epoch(epoch)
        epochs.append(a[1]["image"])
    a.set_epoch(2)
    assert torch.equal(a[1]["image"], epochs[2])
    assert any(not torch.equal(epochs[0], e) for e in epochs[1:])
    assert any(not torch.equal(make(0)[i]["image"], make(1)[i]["image"]) for i in range(4))


def test_dataloader_with_workers_matches_direct_reads(cityscapes_root: Path) -> None:
    dataset = CityscapesPairs(cityscapes_root, size=(32, 64), crop_size=24, flip=True, seed=3)
    dataset.set_epoch(5)
    pickle.loads(pickle.dumps(dataset))
    batches = list(DataLoader(dataset, batch_size=2, num_workers=2))
    assert [b["image"].shape for b in batches] == [(2, 3, 24, 24)] * 2
    assert batches[1]["name"] == [dataset.samples[2].stem, dataset.samples[3].stem]
    assert torch.equal(batches[1]["label"][1], dataset[3]["label"])
    assert torch.equal(batches[0]["image"][0], dataset[0]["image"])


# ------------------------------------------------------------------------------ Cityscapes errors
def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="dataset root .*nowhere does not exist"):
        CityscapesPairs(tmp_path / "nowhere")


def test_empty_root_suggests_the_street_dataset(tmp_path: Path, cityscapes_root: Path) -> None:
    with pytest.raises(DatasetError) as info:
        CityscapesPairs(tmp_path)
    message = str(info.value)
    assert "no images found under" in message and "*_leftImg8bit.png in leftImg8bit/train/*/" in message
    assert "imsynth data streets --out DIR" in message
    with pytest.raises(DatasetError, match="splits present: train, val"):
        CityscapesPairs(cityscapes_root, "test")


def test_unmatched_pairs_are_counted_and_named(tmp_path: Path, make_tree) -> None:
    stems = make_tree(tmp_path, 8)
    for stem in stems[:7]:
        label_ids_path(tmp_path, "train", "testcity", stem).unlink()
    with pytest.raises(DatasetError) as info:
        CityscapesPairs(tmp_path)
    message = str(info.value)
    assert "7 photos without a label map" in message and stems[0] in message and "(2 more)" in message
    assert "skip_unmatched=True" in message
    assert len(CityscapesPairs(tmp_path, skip_unmatched=True)) == 1


def test_unreadable_image_is_named_at_read_time(cityscapes_root: Path) -> None:
    dataset = CityscapesPairs(cityscapes_root)
    dataset.samples[1].image_path.write_bytes(b"\x89PNG broken")
    dataset[0]
    with pytest.raises(DatasetError, match=f"cannot read image .*{dataset.samples[1].stem}_leftImg8bit.png"):
        dataset[1]


def test_undecodable_label_is_a_dataset_error(cityscapes_root: Path) -> None:
    dataset = CityscapesPairs(cityscapes_root)
    write(dataset.samples[0].label_path, np.full((32, 64), 200, np.uint8))
    with pytest.raises(DatasetError, match="labelIds.png: 2048 pixels have ids"):
        dataset[0]


def test_label_image_size_mismatch(cityscapes_root: Path) -> None:
    dataset = CityscapesPairs(cityscapes_root)
    write(dataset.samples[0].label_path, np.full((16, 64), 7, np.uint8))
    with pytest.raises(DatasetError, match=r"is 32x64 \(HxW\) but label map .* is 16x64"):
        dataset[0]


def test_crop_larger_than_image(cityscapes_root: Path) -> None:
    with pytest.raises(DatasetError, match="cannot crop 40x40 from a 32x64 image"):
        CityscapesPairs(cityscapes_root, size=None, crop_size=40)[0]


# ------------------------------------------------------------------------------ pix2pix pairs
def aligned_folder(folder: Path, n: int = 3, size: tuple[int, int] = (20, 20), ext: str = ".png") -> None:
    """A|B images: A (left half) red with a white mark right of centre, B blue with a black one."""
    h, w = size
    mark = (slice(h // 2 - 2, h // 2 + 2), slice(w // 2, w // 2 + 4))
    for i in range(n):
        a = np.full((h, w, 3), RED, np.uint8)
        a[mark] = 255
        b = np.full((h, w, 3), BLUE, np.uint8)
        b[mark] = 0
        write(folder / f"pair{i}{ext}", np.concatenate([a, b], axis=1))


def test_aligned_pairs_split_and_direction(tmp_path: Path) -> None:
    aligned_folder(tmp_path / "train")
    item = AlignedPairs(tmp_path, "train")[0]
    assert set(item) == {"A", "B", "name"} and item["name"] == "pair0"
    assert item["A"].shape == item["B"].shape == (3, 20, 20)
    assert torch.allclose(item["B"][:, :5, :5], torch.tensor(BLUE).float()[:, None, None] / 255)
    assert torch.allclose(item["A"][:, :5, :5], torch.tensor(RED).float()[:, None, None] / 255)
    swapped = AlignedPairs(tmp_path / "train", direction="BtoA")[0]
    assert torch.equal(swapped["A"], item["B"]) and torch.equal(swapped["B"], item["A"])


def test_aligned_pairs_jitter_keeps_a_and_b_aligned(tmp_path: Path) -> None:
    aligned_folder(tmp_path, n=2, size=(32, 32))
    marks_seen = 0
    for seed in range(8):
        item = AlignedPairs(tmp_path, load_size=48, crop_size=32, flip=True, seed=seed)[1]
        assert item["A"].shape == item["B"].shape == (3, 32, 32)
        assert 0 <= item["A"].min() and item["A"].max() <= 1
        mark_a = (item["A"][1] * 255 - 30) / 225  # share of A's white mark in each pixel
        mark_b = 1 - item["B"][2] * 255 / 200  # share of B's black mark
        assert torch.allclose(mark_a, mark_b, atol=0.01)
        marks_seen += bool(mark_a.max() > 0.99)
    assert marks_seen == 8  # the mark lies inside every crop
    plain = AlignedPairs(tmp_path)[0]
    variants = [AlignedPairs(tmp_path, flip=True, seed=s)[0] for s in range(8)]
    flipped = [v for v in variants if not torch.equal(v["A"], plain["A"])]
    assert 0 < len(flipped) < len(variants)
    for v in flipped:
        assert torch.equal(v["A"], plain["A"].flip(-1)) and torch.equal(v["B"], plain["B"].flip(-1))


def test_aligned_pairs_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        AlignedPairs(tmp_path / "absent")
    with pytest.raises(DatasetError, match="no images found under"):
        AlignedPairs(tmp_path)
    aligned_folder(tmp_path / "train")
    with pytest.raises(DatasetError, match="no split folder .*val.*subfolders: train"):
        AlignedPairs(tmp_path, "val")
    write(tmp_path / "odd" / "x.png", np.zeros((8, 17, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"x.png is 17 pixels wide: .*even width"):
        AlignedPairs(tmp_path / "odd")[0]
    with pytest.raises(DatasetError, match="direction"):
        AlignedPairs(tmp_path / "train", direction="AB")  # type: ignore[arg-type]


def test_paired_folders_match_by_stem(tmp_path: Path) -> None:
    for i in range(3):
        write(tmp_path / "a" / f"img{i}.png", np.full((12, 16, 3), 10 * i, np.uint8))
        write(tmp_path / "b" / f"img{i}.jpg", np.full((12, 16, 3), 100, np.uint8), quality=95)
    dataset = PairedFolders(tmp_path / "a", tmp_path / "b", load_size=(16, 20), crop_size=(12, 12), flip=True)
    assert len(dataset) == 3
    item = dataset[2]
    assert item["name"] == "img2" and item["A"].shape == item["B"].shape == (3, 12, 12)
    assert abs(item["A"].mean().item() - 20 / 255) < 1e-3


def test_paired_folders_errors(tmp_path: Path) -> None:
    for name in ("x", "y", "only_a1", "only_a2"):
        write(tmp_path / "a" / f"{name}.png", np.zeros((8, 8, 3), np.uint8))
    for name in ("x", "y", "only_b"):
        write(tmp_path / "b" / f"{name}.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"2 only in .*a \(only_a1, only_a2\); 1 only in .*b \(only_b\)"):
        PairedFolders(tmp_path / "a", tmp_path / "b")
    dataset = PairedFolders(tmp_path / "a", tmp_path / "b", skip_unmatched=True)
    assert [name for name, _, _ in dataset.pairs] == ["x", "y"]
    write(tmp_path / "b" / "y.png", np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"y: .*a/y.png is 8x8 \(HxW\) but .*b/y.png is 8x9"):
        dataset[1]
    write(tmp_path / "b" / "x.jpg", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DatasetError, match="two images named 'x'"):
        PairedFolders(tmp_path / "a", tmp_path / "b", skip_unmatched=True)


# ------------------------------------------------------------------------------ ImageFolder
def test_image_folder_reads_any_mode_recursively(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    write(tmp_path / "a_rgb.jpg", rgb)
    write(tmp_path / "b_gray.png", rgb[..., 0])
    rgba = np.dstack([rgb, np.full((24, 32), 255, np.uint8)])
    rgba[:4, :4, 3] = 0
    write(tmp_path / "c_rgba.png", rgba)
    Image.fromarray(rgb).convert("P").save(tmp_path / "d_palette.png")
    (tmp_path / "nested").mkdir()
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "nested" / "e_cmyk.jpg")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(tmp_path / "nested" / "f_16bit.png")
    write(tmp_path / "nested" / "deeper" / "g.webp", rgb)
    write(tmp_path / "nested" / "deeper" / "h.BMP", rgb)
    (tmp_path / "notes.txt").write_text("not an image")
    write(tmp_path / ".hidden" / "x.png", rgb)

    dataset = ImageFolder(tmp_path, size=(16, 16))
    names = [dataset[i]["name"] for i in range(len(dataset))]
    assert names == [
        "a_rgb",
        "b_gray",
        "c_rgba",
        "d_palette",
        "nested/deeper/g",
        "nested/deeper/h",
        "nested/e_cmyk",
        "nested/f_16bit",
    ]
    for i in range(len(dataset)):
        image = dataset[i]["image"]
        assert image.shape == (3, 16, 16) and image.dtype == torch.float32
        assert 0 <= image.min() and image.max() <= 1
    assert torch.equal(ImageFolder(tmp_path)[2]["image"][:, 0, 0], torch.ones(3))  # transparent -> white
    gray16 = ImageFolder(tmp_path / "nested", recursive=False)[1]
    assert gray16["name"] == "f_16bit"
    assert (gray16["image"][0] * 255 - torch.from_numpy(rgb[..., 0]).float()).abs().max() < 1.01
    assert len(ImageFolder(tmp_path, recursive=False)) == 4


def test_image_folder_crops(tmp_path: Path) -> None:
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, 30:] = 255
    write(tmp_path / "x.png", image)
    centre = ImageFolder(tmp_path, size=20, crop_size=20)[0]["image"]
    assert centre.shape == (3, 20, 20) and centre[:, :, :10].max() == 0 and centre[:, :, 10:].min() == 1
    crops = {
        ImageFolder(tmp_path, size=20, crop_size=20, crop="random", seed=s)[0]["image"].mean().item() for s in range(10)
    }
    assert len(crops) > 1


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        ImageFolder(tmp_path / "absent")
    (tmp_path / "file.png").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="is not a folder"):
        ImageFolder(tmp_path / "file.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"no images found under .*empty \(looked recursively for \*\.jpg"):
        ImageFolder(tmp_path / "empty")
    with pytest.raises(DatasetError, match="cannot read image .*file.png"):
        ImageFolder(tmp_path)[0]


# ------------------------------------------------------------------------------ transforms
def test_resize_keeps_label_ids_and_smooths_images() -> None:
    rng = np.random.default_rng(0)
    label = rng.choice(np.array([7, 11, 23], np.uint8), size=(30, 50))
    image = CITYSCAPES.colorize(label)
    out_image, out_label = resize_pair(image, label, (17, 23))
    assert out_image.shape == (17, 23, 3) and out_label.shape == (17, 23)
    assert set(np.unique(out_label).tolist()) <= {7, 11, 23}
    palette = {tuple(CITYSCAPES.by_name(n).color) for n in ("road", "building", "sky")}
    assert any(tuple(p) not in palette for p in out_image.reshape(-1, 3))  # blended, not nearest
    assert resize_pair(image, None, 15)[0].shape == (15, 25, 3)  # shorter side 15, aspect kept


def test_pil_inputs_and_both_generator_kinds() -> None:
    label = (np.arange(64 * 64).reshape(64, 64) % 34).astype(np.uint8)
    image = Image.fromarray(CITYSCAPES.colorize(label))
    for make in (lambda: np.random.default_rng(5), lambda: torch.Generator().manual_seed(5)):
        a = jitter_pair(image, Image.fromarray(label), make(), load_size=72, crop_size=48)
        b = jitter_pair(image, label, make(), load_size=72, crop_size=48)
        assert a[0].shape == (48, 48, 3) and np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    image_out, label_out = random_crop_pair(np.asarray(image), label, (10, 20), np.random.default_rng(1))
    assert image_out.shape == (10, 20, 3) and np.array_equal(CITYSCAPES.colorize(label_out), image_out)
    image_out, label_out = random_flip_pair(np.asarray(image), label, np.random.default_rng(1))
    assert np.array_equal(CITYSCAPES.colorize(label_out), image_out)
    _, centre = center_crop_pair(np.asarray(image), label, 2)
    assert np.array_equal(centre, label[31:33, 31:33])


def test_transform_config_checks() -> None:
    with pytest.raises(ValueError, match="either size .* or load_size"):
        PairTransformConfig(size=256, load_size=286)
    with pytest.raises(ValueError, match="pass a generator"):
        plan_geometry(PairTransformConfig(flip=True), (8, 8))
    assert PairTransformConfig.pix2pix() == PairTransformConfig(load_size=286, crop_size=256, flip=True)
    with pytest.raises(ValueError, match="image is 4x4 but label is 4x5"):
        resize_pair(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8), 2)
