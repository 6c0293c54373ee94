"""``imsynth data inspect``: decode label maps, summarise classes, list every problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imsynth.data.cityscapes import find_pairs, image_path, label_color_path, label_ids_path
from imsynth.data.inspect import inspect_paths, run_inspect
from imsynth.data.labels import CITYSCAPES


def test_clean_tree_passes_with_a_histogram(cityscapes_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_inspect([cityscapes_root]) == 0
    out = capsys.readouterr().out
    assert "inspected 6 label map(s) with label space 'cityscapes'" in out
    assert "class histogram over all maps (12288 pixels):" in out
    histogram = [line.split() for line in out.splitlines() if line.startswith("  ") and "%" in line]
    names = [words[0] for words in histogram]
    assert {"road", "building", "sky"} <= set(names)
    assert abs(sum(float(words[1].rstrip("%")) for words in histogram) - 100) < 0.1
    assert "OK: no problems found" in out
    assert "_gtFine_labelIds.png" not in out  # per-map lines only when verbose


def test_verbose_lists_every_map(cityscapes_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_inspect([cityscapes_root], verbose=True) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "_gtFine_labelIds.png" in line]
    assert len(lines) == 6 and all(" 32x64 " in line and "%" in line for line in lines)


def test_broken_tree_lists_each_problem(cityscapes_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs = find_pairs(cityscapes_root, "train")
    bad_colour = label_color_path(cityscapes_root, "train", pairs[0].city, pairs[0].stem)
    colours = CITYSCAPES.colorize(np.asarray(Image.open(pairs[0].label_path)))
    colours[:8, :8] = (255, 255, 255)
    pairs[0].label_path.unlink()
    Image.fromarray(colours).save(bad_colour)  # now the only label of pair 0: unknown colour
    pairs[1].label_path.write_bytes(b"\x89PNG\r\n\x1a\n truncated")  # unreadable
    pairs[2].label_path.unlink()  # photo without label
    Image.fromarray(np.full((16, 64), 7, np.uint8)).save(pairs[3].label_path)  # size mismatch

    assert run_inspect([cityscapes_root]) == 1
    out = capsys.readouterr().out
    assert "4 problem(s):" in out
    assert f"[unknown labels] {bad_colour}: 64 of 2048 pixels" in out and "#ffffff" in out
    assert f"[unreadable] {pairs[1].label_path}: not a readable image" in out
    assert f"[image without label] {pairs[2].image_path}: photo {pairs[2].stem} has no label map" in out
    assert f"[size mismatch] {pairs[3].label_path}: label map is 16x64 (HxW) but its photo" in out
    assert "inspected 3 label map(s)" in out  # val maps + the resized one


def test_label_without_image_and_unreadable_photo(cityscapes_root: Path) -> None:
    orphan = label_ids_path(cityscapes_root, "val", "elsewhere", "elsewhere_000000_000000")
    orphan.parent.mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 23, np.uint8)).save(orphan)
    broken_photo = find_pairs(cityscapes_root, "val")[0].image_path
    broken_photo.write_bytes(broken_photo.read_bytes()[:60])
    report = inspect_paths([cityscapes_root], progress=False)
    assert [(p.kind, p.path) for p in report.problems] == [
        ("label without image", orphan),
        ("unreadable", broken_photo),
    ]
    assert len(report.maps) == 7 and not report.ok  # the orphan is still decoded


def test_files_folders_and_missing_paths(tmp_path: Path, make_tree) -> None:
    make_tree(tmp_path / "data", 2, labels="both")
    folder = tmp_path / "data" / "gtFine" / "train"
    single = tmp_path / "single.png"
    CITYSCAPES.palette_image(np.full((4, 6), 26, np.uint8)).save(single)
    report = inspect_paths([folder, single, tmp_path / "absent.png"], progress=False)
    assert [p.name for p in (m.path for m in report.maps)][-1] == "single.png"
    assert len(report.maps) == 3  # labelIds preferred over the colour copies; photos not in gtFine
    assert report.maps[-1].size == (4, 6) and report.maps[-1].histogram == (("car", 24),)
    assert [(p.kind, p.path.name) for p in report.problems] == [("missing", "absent.png")]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert [p.kind for p in inspect_paths([empty], progress=False).problems] == ["empty"]


def test_many_problems_of_one_kind_are_abbreviated(tmp_path: Path, make_tree) -> None:
    stems = make_tree(tmp_path, 14)
    for stem in stems:
        label_ids_path(tmp_path, "train", "testcity", stem).unlink()
    (tmp_path / "gtFine" / "train").mkdir(exist_ok=True)
    report = inspect_paths([tmp_path], progress=False)
    assert len(report.problems) == 14 and image_path(tmp_path, "train", "testcity", stems[0]) == report.problems[0].path
    assert "... and 4 more [image without label]" in report.format()
    assert report.format(verbose=True).count("[image without label]") == 14


@pytest.mark.parametrize("form", ["colour", "ids", "rgba"])
def test_a_large_map_is_decoded_in_bounded_memory(tmp_path: Path, form: str, monkeypatch) -> None:
    """Issue 15 item 11: decoding works in strips, so memory is a few bytes per pixel of the map.

    Strips are made small here so that a 3-megapixel map behaves as a huge one does with the default.
    """
    import tracemalloc

    from conftest import random_layout
    from imsynth.data import strips
    from imsynth.data.labels import iter_class_histogram

    monkeypatch.setattr(strips, "STRIP_PIXELS", 1 << 14)
    ids = random_layout(np.random.default_rng(0), (1500, 2000))
    ids[:40, :40] = 0  # some void
    image = {"colour": CITYSCAPES.colorize(ids), "ids": ids}.get(form)
    if form == "rgba":
        image = np.dstack([CITYSCAPES.colorize(ids), np.full(ids.shape, 255, np.uint8)])
        image[:10, :10, 3] = 0  # transparent: becomes void
    Image.fromarray(image).save(tmp_path / "big.png")
    tracemalloc.start()
    try:
        report = inspect_paths([tmp_path / "big.png"], progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok and report.maps[0].size == (1500, 2000)
    expected = dict((c.name, n) for c, n in iter_class_histogram(CITYSCAPES, ids))
    assert dict(report.maps[0].histogram) == expected
    assert peak < 6 * ids.size, f"{peak / ids.size:.1f} bytes per pixel"  # 17 to 45 before strips
