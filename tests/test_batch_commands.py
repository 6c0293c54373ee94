"""Batch commands (synthesize, translate, colorize): nothing lost, nothing crashes (issue 15).

Every good file is processed, every bad one is reported at the end (exit 1), outputs mirror the
input tree and never overwrite each other or earlier results, and bad options or output folders
give one clear message instead of a traceback. Tiny checkpoints (2 steps) stand in for real ones.
"""

from __future__ import annotations

import errno
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import make_cityscapes_tree, random_layout
from imsynth.cli.main import cli
from imsynth.data.labels import CITYSCAPES

K = 3


pytestmark = pytest.mark.usefixtures("one_thread")


def _train(args: list[str]) -> None:
    common = ["--workers", "0", "--max-steps", "1", "--log-every", "1", "--sample-every", "100", "--device", "cpu"]
    result = CliRunner().invoke(cli, ["train", *args, *common])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One-step CRN (k=3), pix2pix (labels -> photo) and colorizer runs."""
    root = tmp_path_factory.mktemp("runs")
    make_cityscapes_tree(root / "cs", 2, size=(32, 64))
    crn, p2p, col = root / "crn", root / "p2p", root / "col"
    _train(["crn", "--data", str(root / "cs"), "--out", str(crn), "--size", "16x32", "--variants", str(K)]
           + ["--width-multiplier", "0.01", "--backbone", "efficientnet_lite0"])  # fmt: skip
    _train(["pix2pix", "--data", str(root / "cs"), "--out", str(p2p), "--generator", "unet_32", "--ngf", "4"]
           + ["--ndf", "4", "--load-size", "36", "--crop-size", "32"])  # fmt: skip
    photos = root / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(photos / f"p{i}.png")
    _train(["colorizer", "--data", str(photos), "--out", str(col), "--width-multiplier", "0.125"]
           + ["--load-size", "40", "--crop-size", "32"])  # fmt: skip
    return {"crn": crn, "p2p": p2p, "col": col}


def layout(seed: int = 0, size: tuple[int, int] = (24, 40)) -> np.ndarray:
    return random_layout(np.random.default_rng(seed), size)


def save_colour(path: Path, seed: int = 0, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(CITYSCAPES.colorize(layout(seed))).save(path, format=fmt)
    return path


def header_only_png(width: int, height: int) -> bytes:
    """A PNG that declares ``width x height`` but holds no pixel data (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def invoke(*args: str | Path):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def synthesize(runs, labels: Path, out: Path, *extra: str):
    return invoke(
        "synthesize", "--checkpoint", runs["crn"], "--labels", labels, "--out", out, "--device", "cpu", *extra
    )


def translate(runs, source: Path, out: Path, *extra: str):
    return invoke("translate", "--checkpoint", runs["p2p"], "--input", source, "--out", out, "--device", "cpu", *extra)


def colorize(runs, source: Path, out: Path, *extra: str):
    return invoke("colorize", "--checkpoint", runs["col"], "--input", source, "--out", out, "--device", "cpu", *extra)


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# ------------------------------------------------------------------- 1: no output overwrites another
def test_synthesize_mirrors_the_input_tree(runs, tmp_path):
    save_colour(tmp_path / "L" / "a" / "scene.png", 0)
    save_colour(tmp_path / "L" / "b" / "scene.png", 1)
    result = synthesize(runs, tmp_path / "L", tmp_path / "out")
    assert result.exit_code == 0, result.output
    grids = [f for f in files(tmp_path / "out") if f.endswith("_grid.png")]
    assert grids == ["a/scene_grid.png", "b/scene_grid.png"]
    assert len(files(tmp_path / "out")) == 2 * (K + 1)
    a, b = (np.asarray(Image.open(tmp_path / "out" / g)) for g in grids)
    assert not np.array_equal(a, b)  # two layouts, two results
    assert "synthesized 2 layout(s)" in result.output


def test_same_stem_different_format_get_distinct_outputs(runs, tmp_path):
    save_colour(tmp_path / "L" / "x.png", 0)
    save_colour(tmp_path / "L" / "x.bmp", 1)
    result = synthesize(runs, tmp_path / "L", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert [f for f in files(tmp_path / "out") if f.endswith("_grid.png")] == ["x_bmp_grid.png", "x_png_grid.png"]
    result = translate(runs, tmp_path / "L", tmp_path / "tr")
    assert result.exit_code == 0, result.output
    assert files(tmp_path / "tr") == ["x_bmp.json", "x_bmp.png", "x_png.json", "x_png.png"]
    result = colorize(runs, tmp_path / "L", tmp_path / "col")
    assert result.exit_code == 0, result.output
    assert files(tmp_path / "col") == ["x_bmp.png", "x_png.png"]


def test_translate_mirrors_sub_folders(runs, tmp_path):
    save_colour(tmp_path / "L" / "a" / "scene.png", 0)
    save_colour(tmp_path / "L" / "b" / "scene.png", 1)
    result = translate(runs, tmp_path / "L", tmp_path / "out", "--variants", "2")
    assert result.exit_code == 0, result.output
    expected = ["scene.json", "scene_v0.png", "scene_v1.png"]
    assert files(tmp_path / "out") == [f"{d}/{n}" for d in "ab" for n in expected]
    assert "translated 2 image(s)" in result.output


def test_existing_outputs_are_not_overwritten_silently(runs, tmp_path):
    save_colour(tmp_path / "L" / "x.png")
    assert synthesize(runs, tmp_path / "L", tmp_path / "out").exit_code == 0
    before = (tmp_path / "out" / "x_grid.png").stat().st_mtime_ns
    result = synthesize(runs, tmp_path / "L", tmp_path / "out")
    assert result.exit_code == 1
    assert "already exist" in result.output and "--overwrite" in result.output and "x_v0.png" in result.output
    assert (tmp_path / "out" / "x_grid.png").stat().st_mtime_ns == before
    assert synthesize(runs, tmp_path / "L", tmp_path / "out", "--overwrite").exit_code == 0
    for command in (translate, colorize):
        out = tmp_path / command.__name__
        assert command(runs, tmp_path / "L", out).exit_code == 0
        result = command(runs, tmp_path / "L", out)
        assert result.exit_code == 1 and "--overwrite" in result.output
        assert command(runs, tmp_path / "L", out, "--overwrite").exit_code == 0


# ------------------------------------------------------------ 2: every label map, one per scene
def test_an_id_map_does_not_hide_the_other_label_maps(runs, tmp_path):
    for i in range(3):
        save_colour(tmp_path / "L" / f"colour{i}.png", i)
    Image.fromarray(layout(5)).save(tmp_path / "L" / "scene_gtFine_labelIds.png")
    result = synthesize(runs, tmp_path / "L", tmp_path / "out")
    assert result.exit_code == 0, result.output
    grids = [f for f in files(tmp_path / "out") if f.endswith("_grid.png")]
    assert grids == ["colour0_grid.png", "colour1_grid.png", "colour2_grid.png", "scene_grid.png"]


def test_a_cityscapes_scene_gives_one_result_and_the_skipped_files_are_named(runs, tmp_path):
    make_cityscapes_tree(tmp_path / "cs", 2, size=(24, 40), labels="both")
    city = tmp_path / "cs" / "gtFine" / "train" / "testcity"
    Image.fromarray(layout(1)).save(city / "testcity_000000_000000_gtFine_instanceIds.png")
    result = synthesize(runs, tmp_path / "cs" / "gtFine", tmp_path / "out")
    assert result.exit_code == 0, result.output
    grids = [f for f in files(tmp_path / "out") if f.endswith("_grid.png")]
    assert grids == [f"train/testcity/testcity_000000_00000{i}_grid.png" for i in range(2)]
    assert "skipped 3 file(s)" in result.output
    assert "testcity_000000_000000_gtFine_color.png" in result.output and "labelIds" in result.output
    assert "testcity_000000_000000_gtFine_instanceIds.png" in result.output


# --------------------------------------------------------- 3: bad files are reported, not fatal
def _mixed_folder(folder: Path) -> None:
    save_colour(folder / "a_good.png", 0)
    (folder / "b_text.png").write_bytes(b"this is not an image")
    rgb = CITYSCAPES.colorize(layout(2))
    rgb[:12, :12] = (1, 255, 1)
    Image.fromarray(rgb).save(folder / "c_colours.png")
    save_colour(folder / "d_good.png", 3)


def test_synthesize_processes_every_good_file_and_reports_every_bad_one(runs, tmp_path):
    _mixed_folder(tmp_path / "L")
    result = synthesize(runs, tmp_path / "L", tmp_path / "out")
    assert result.exit_code == 1
    assert [f for f in files(tmp_path / "out") if f.endswith("_grid.png")] == ["a_good_grid.png", "d_good_grid.png"]
    assert not [f for f in files(tmp_path / "out") if f.startswith(("b_", "c_"))]  # nothing partial
    assert "synthesized 2 layout(s)" in result.output and "2 of 4 file(s) failed" in result.output
    assert "b_text.png: not an image" in result.output
    assert "c_colours.png: 144 of 960 pixels" in result.output


def test_translate_and_colorize_process_every_good_file(runs, tmp_path):
    _mixed_folder(tmp_path / "L")
    result = translate(runs, tmp_path / "L", tmp_path / "tr")
    assert result.exit_code == 1
    assert files(tmp_path / "tr") == ["a_good.json", "a_good.png", "d_good.json", "d_good.png"]
    assert "b_text.png: not an image" in result.output and "c_colours.png: 144 of 960" in result.output
    result = colorize(runs, tmp_path / "L", tmp_path / "col")
    assert result.exit_code == 1  # c_colours is a fine photo to colorize; b_text is not an image
    assert files(tmp_path / "col") == ["a_good.png", "c_colours.png", "d_good.png"]
    assert "1 of 4 file(s) failed" in result.output and "b_text.png: not an image" in result.output


# ------------------------------------------------------- 5: bombs and output folders, clearly
def test_a_decompression_bomb_is_one_reported_file(runs, tmp_path):
    save_colour(tmp_path / "L" / "good.png")
    (tmp_path / "L" / "bomb.png").write_bytes(header_only_png(30000, 30000))
    for command in (synthesize, translate, colorize):
        out = tmp_path / command.__name__
        result = command(runs, tmp_path / "L", out)
        assert result.exit_code == 1, result.output
        assert "bomb.png: the image declares 900,000,000 pixels, over the limit" in result.output
        assert any(f.startswith("good") for f in files(out)) and not any(f.startswith("bomb") for f in files(out))


def test_out_under_a_file_is_a_clear_error(runs, tmp_path):
    save_colour(tmp_path / "L" / "x.png")
    (tmp_path / "file.txt").write_text("")
    for command in (synthesize, translate, colorize):
        result = command(runs, tmp_path / "L", tmp_path / "file.txt" / "out")
        assert result.exit_code == 1
        assert "file.txt" in result.output and "is a file" in result.output and "--out" in result.output


def test_a_read_only_out_is_a_clear_error(runs, tmp_path, monkeypatch):
    import imsynth.utils.io as io_module

    save_colour(tmp_path / "L" / "x.png")
    (tmp_path / "out").mkdir()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(io_module.tempfile, "mkstemp", read_only)
    for command in (synthesize, translate, colorize):
        result = command(runs, tmp_path / "L", tmp_path / "out")
        assert result.exit_code == 1
        assert "read-only file system" in result.output.lower() and "--out" in result.output
    assert files(tmp_path / "out") == []


def test_a_failed_write_leaves_no_partial_result(runs, tmp_path, monkeypatch):
    import imsynth.utils.io as io_module

    save_colour(tmp_path / "L" / "x.png")
    real = io_module.atomic_write

    def fail_second_variant(path, mode="wb"):
        if str(path).endswith("x_v1.png"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, mode)

    monkeypatch.setattr(io_module, "atomic_write", fail_second_variant)
    result = synthesize(runs, tmp_path / "L", tmp_path / "out")
    assert result.exit_code == 1 and "no space left on device" in result.output.lower()
    assert files(tmp_path / "out") == []


# ----------------------------------------------------------------- 6: options that mean nothing
@pytest.mark.parametrize("tolerance", ["nan", "-1", "inf"])
def test_colour_tolerance_must_be_a_finite_non_negative_number(runs, tmp_path, tolerance):
    save_colour(tmp_path / "L" / "x.png")
    for args in (
        ["synthesize", "--checkpoint", runs["crn"], "--labels", tmp_path / "L", "--out", tmp_path / "o"],
        ["translate", "--checkpoint", runs["p2p"], "--input", tmp_path / "L", "--out", tmp_path / "o"],
        ["data", "inspect", tmp_path / "L"],
    ):
        result = invoke(*args, "--color-tolerance", tolerance)
        assert result.exit_code == 2 and "--color-tolerance" in result.output, result.output
        assert "finite" in result.output and ">= 0" in result.output
    assert not (tmp_path / "o").exists()


def test_a_photo_is_not_accepted_as_a_label_map_with_nan_tolerance():
    photo = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="tolerance"):
        CITYSCAPES.decode_colors(photo, tolerance=math.nan)


def test_more_variants_than_the_model_makes_are_refused(runs, tmp_path):
    save_colour(tmp_path / "L" / "x.png")
    result = invoke("synthesize", "--checkpoint", runs["crn"], "--labels", tmp_path / "L", "--out", tmp_path / "o",
                    "--variants", "999")  # fmt: skip
    assert result.exit_code == 2
    assert "--variants 999" in result.output and f"makes {K} variants" in result.output
    assert not (tmp_path / "o").exists()
    result = synthesize(runs, tmp_path / "L", tmp_path / "o2", "--variants", "2")
    assert result.exit_code == 0 and "x 2 variant(s)" in result.output
    assert files(tmp_path / "o2") == ["x_grid.png", "x_v0.png", "x_v1.png"]


def test_plan_items_never_gives_two_inputs_one_output(tmp_path):
    from imsynth.inference.batch import plan_items

    root = tmp_path
    sources = [root / "x.png", root / "x.PNG", root / "x.jpg", root / "a" / "x.png", root / "x_v0.png"]
    items = plan_items(
        sources, root, lambda name: [name.with_name(f"{name.name}_v0.png"), name.with_name(f"{name.name}.png")]
    )
    outputs = [output for item in items for output in item.outputs]
    assert len(outputs) == len(set(outputs)) == 2 * len(sources)
    assert [str(item.name) for item in items] == ["x_png", "x_png_2", "x_jpg", "a/x", "x_v0"]
