"""The ``imsynth`` command: --help everywhere, clear errors, the data commands end to end."""

from __future__ import annotations

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from imsynth.cli.main import cli
from imsynth.data.labels import CITYSCAPES


def _all_commands(group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if hasattr(command, "commands"):
            yield from _all_commands(command, (*prefix, name))


@pytest.mark.parametrize("path", [(), *list(_all_commands(cli))], ids=lambda p: " ".join(p) or "imsynth")
def test_every_command_has_help(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_data_streets_then_inspect(tmp_path):
    runner = CliRunner()
    out = tmp_path / "streets"
    result = runner.invoke(
        cli, ["data", "streets", "--out", str(out), "--train", "2", "--val", "1", "--size", "64x128"]
    )
    assert result.exit_code == 0, result.output
    assert len(list((out / "leftImg8bit" / "train").rglob("*_leftImg8bit.png"))) == 2
    result = runner.invoke(cli, ["data", "inspect", str(out)])
    assert result.exit_code == 0, result.output
    assert "road" in result.output


def test_inspect_reports_unknown_colours_with_exit_1(tmp_path):
    rgb = CITYSCAPES.colorize(np.full((16, 16), 7, np.uint8))
    rgb[4:12, 4:12] = (1, 255, 1)  # not a Cityscapes colour
    Image.fromarray(rgb).save(tmp_path / "bad.png")
    result = CliRunner().invoke(cli, ["data", "inspect", str(tmp_path / "bad.png")])
    assert result.exit_code == 1
    assert "#01ff01" in result.output and "64" in result.output


@pytest.mark.parametrize("size", ["256", "axb", "0x8"])
def test_bad_size_is_a_usage_error(size, tmp_path):
    result = CliRunner().invoke(cli, ["data", "streets", "--out", str(tmp_path), "--size", size])
    assert result.exit_code == 2
    assert "HEIGHTxWIDTH" in result.output or "positive" in result.output


def test_train_needs_data_and_out(tmp_path):
    result = CliRunner().invoke(cli, ["train", "crn", "--max-steps", "1"])
    assert result.exit_code != 0 and "--out" in result.output
    result = CliRunner().invoke(cli, ["train", "crn", "--out", str(tmp_path / "r"), "--data", str(tmp_path / "no")])
    assert result.exit_code != 0 and "no such folder" in result.output


def test_synthesize_rejects_missing_checkpoint(tmp_path):
    (tmp_path / "empty").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "l.png")
    result = CliRunner().invoke(
        cli,
        [
            "synthesize",
            "--checkpoint",
            str(tmp_path / "empty"),
            "--labels",
            str(tmp_path / "l.png"),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 1 and "no checkpoint found" in result.output


@pytest.mark.slow
def test_train_and_resume_through_the_cli(tmp_path):
    from conftest import make_cityscapes_tree

    make_cityscapes_tree(tmp_path / "data", 3, size=(16, 32))
    run = tmp_path / "run"
    runner = CliRunner()
    base = [
        "train",
        "crn",
        "--size",
        "16x32",
        "--variants",
        "1",
        "--width-multiplier",
        "0.01",
        "--backbone",
        "efficientnet_lite0",
        "--workers",
        "0",
        "--checkpoint-every",
        "2",
    ]
    result = runner.invoke(cli, [*base, "--data", str(tmp_path / "data"), "--out", str(run), "--max-steps", "2"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["train", "crn", "--resume", str(run), "--max-steps", "4", "--workers", "0"])
    assert result.exit_code == 0, result.output
    assert (run / "checkpoints" / "step_000004").is_dir()
    result = runner.invoke(cli, ["train", "crn", "--resume", str(run), "--lr", "1"])
    assert result.exit_code != 0 and "--lr cannot be given with --resume" in result.output
    out = tmp_path / "synth"
    result = runner.invoke(
        cli, ["synthesize", "--checkpoint", str(run), "--labels", str(tmp_path / "data" / "gtFine"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("train/testcity/*_grid.png"))) == 3  # the input tree, mirrored


def test_data_sheet_renders_scenes_and_one_layout_under_several_appearances(tmp_path):
    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(
        cli, ["data", "sheet", "--out", str(out), "--size", "32x64", "--scenes", "2", "--appearances", "3"]
    )
    assert result.exit_code == 0, result.output
    sheet = np.asarray(Image.open(out))
    assert sheet.shape[1] >= 4 * 64 and sheet.shape[0] >= 2 * 32


#: Commands being rewritten for issue 15 (batch commands, painter server); their options get help there.
BEING_REWRITTEN = {("synthesize",), ("translate",), ("colorize",), ("serve",)}


@pytest.mark.parametrize("path", list(_all_commands(cli)), ids=" ".join)
def test_every_option_has_help(path):
    if path in BEING_REWRITTEN:
        pytest.skip("options of the batch commands are reworded with their rewrite (issue 15)")
    command = cli
    for name in path:
        command = command.commands[name]
    missing = [p.opts[0] for p in command.params if isinstance(p, click.Option) and not (p.help or "").strip()]
    assert not missing, f"imsynth {' '.join(path)}: options without help: {missing}"


def test_one_vocabulary_max_minutes_quiet_and_data_streets(tmp_path, monkeypatch):
    demo = {p.name: p for p in cli.commands["demo"].params}
    assert demo["minutes"].opts == ["--max-minutes", "--minutes"]  # as in `imsynth train`; the old name still works
    assert "[config: train.max_minutes]" in " ".join(CliRunner().invoke(cli, ["train", "crn", "--help"]).output.split())
    # evaluate/compare --data streets: the street scenes the run was trained on
    from imsynth.cli import evaluate as evaluate_cli
    from imsynth.data.streets import ensure_streets_dataset

    streets = tmp_path / "streets"
    ensure_streets_dataset(streets, 2, 1, (32, 64))
    configs = {"runs/a": {"method_config": {"data": {"root": str(streets)}}}}
    monkeypatch.setattr("imsynth.runs.read_checkpoint_config", lambda path: configs[str(path)])
    assert evaluate_cli._evaluation_data("streets", ["runs/a@64x128"]) == streets
    assert evaluate_cli._evaluation_data(str(tmp_path), []) == tmp_path
    result = CliRunner().invoke(cli, ["evaluate", "--checkpoint", str(tmp_path), "--data", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "no such folder (or use --data streets)" in result.output


@pytest.mark.slow
def test_quiet_leaves_errors_and_results(tmp_path):
    from conftest import make_cityscapes_tree
    from imsynth.utils.console import is_quiet

    make_cityscapes_tree(tmp_path / "data", 2, size=(16, 32))
    command = [
        "train",
        "crn",
        "--data",
        str(tmp_path / "data"),
        "--size",
        "16x32",
        "--variants",
        "1",
        "--width-multiplier",
        "0.01",
        "--backbone",
        "efficientnet_lite0",
        "--workers",
        "0",
        "--max-steps",
        "2",
    ]
    loud = CliRunner().invoke(cli, [*command, "--out", str(tmp_path / "a")])
    assert loud.exit_code == 0 and "imsynth: training crn" in loud.output and "step/s" in loud.output
    quiet = CliRunner().invoke(cli, ["--quiet", *command, "--out", str(tmp_path / "b")])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.output.splitlines() == [
        f"run folder: {tmp_path / 'b'} (checkpoint {tmp_path / 'b'}/checkpoints/step_000002)"
    ]
    assert not is_quiet()  # one invocation's --quiet does not outlive it
    failed = CliRunner().invoke(cli, ["-q", *command, "--out", str(tmp_path / "b"), "--variants", "2"])
    assert failed.exit_code == 1 and "holds a run started with other settings" in failed.output
