"""Config files, --set overrides, --print-config, start-or-resume and --resume through the ``imsynth`` command."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from imsynth.cli.configure import FieldOption
from imsynth.cli.main import cli
from imsynth.methods import method_class
from imsynth.training import TrainConfig

TINY_CRN = ["--size", "16x32", "--variants", "1", "--width-multiplier", "0.01", "--backbone", "efficientnet_lite0"]
QUIET_RUN = ["--workers", "0", "--checkpoint-every", "2", "--log-every", "1", "--sample-every", "100"]


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def printed(*args: str) -> dict[str, Any]:
    result = invoke(*args, "--print-config")
    assert result.exit_code == 0, result.output
    return yaml.safe_load(result.output)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import make_cityscapes_tree

    root = tmp_path_factory.mktemp("data")
    make_cityscapes_tree(root, 3, size=(16, 32))
    return root


def test_print_config_round_trips_through_a_config_file(tmp_path: Path, data: Path) -> None:
    base = ["train", "crn", "--data", str(data), "--out", str(tmp_path / "run")]
    first = printed(*base, *TINY_CRN, "--set", "train.grad_clip=1.5", "--set", "loss.texture_weights=[1, 0.5]")
    assert first["method"] == "crn" and first["model"]["height"] == 16 and first["train"]["grad_clip"] == 1.5
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(first))
    # The file alone gives the same config; options given and --set win over it, in that order.
    assert printed("train", "crn", "--config", str(tmp_path / "run.yaml")) == first
    again = printed(
        "train", "crn", "--config", str(tmp_path / "run.yaml"), "--variants", "2", "--set", "model.width_multiplier=0.5"
    )
    assert again["model"]["num_variants"] == 2 and again["model"]["width_multiplier"] == 0.5
    assert again["model"]["height"] == 16 and again["loss"]["texture_weights"] == [1.0, 0.5]  # from the file
    overridden = printed(
        "train", "crn", "--config", str(tmp_path / "run.yaml"), "--variants", "2", "--set", "model.num_variants=3"
    )
    assert overridden["model"]["num_variants"] == 3
    # Option defaults do not beat the file: --max-steps was not given, the file's value stays.
    (tmp_path / "short.yaml").write_text("train: {max_steps: 7, out_dir: " + str(tmp_path / "r") + "}\n")
    assert (
        printed("train", "crn", "--data", str(data), "--config", str(tmp_path / "short.yaml"))["train"]["max_steps"]
        == 7
    )


def test_set_reaches_every_train_field_and_nested_method_fields(tmp_path: Path, data: Path) -> None:
    values = {
        "max_steps": 11,
        "max_minutes": 2.5,
        "batch_size": 3,
        "optimizer": "adamw",
        "lr": 0.003,
        "betas": [0.8, 0.9],
        "momentum": 0.5,
        "weight_decay": 0.01,
        "grad_clip": 2.0,
        "lr_schedule": "cosine",
        "decay_start_step": 4,
        "seed": 5,
        "deterministic": True,
        "device": "cpu",
        "amp": False,
        "amp_dtype": "bfloat16",
        "channels_last": True,
        "compile": True,
        "compile_mode": "max-autotune",
        "num_workers": 2,
        "dist_backend": "gloo",
        "log_every": 3,
        "sample_every": 4,
        "sample_count": 2,
        "checkpoint_every": 6,
        "keep_last": None,
        "progress": False,
        "tensorboard": False,
        "out_dir": str(tmp_path / "elsewhere"),
    }
    assert set(values) == {f.name for f in dataclasses.fields(TrainConfig)}, "a TrainConfig field is not covered"
    sets = [
        f"--set=train.{key}={yaml.safe_dump(value, default_flow_style=True).strip()}" for key, value in values.items()
    ]
    nested = [
        "--set=model.noise_channels=4",
        "--set=loss.texture_weights=[1, 0.5]",
        "--set=adversarial.discriminator.ndf=32",
        "--set=data.split=val",
    ]
    config = printed("train", "crn", "--data", str(data), *TINY_CRN, *sets, *nested)
    assert config["train"] == values
    assert config["model"]["noise_channels"] == 4 and config["loss"]["texture_weights"] == [1.0, 0.5]
    assert config["adversarial"]["discriminator"]["ndf"] == 32 and config["data"]["split"] == "val"
    pix2pix = printed(
        "train",
        "pix2pix",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "p"),
        "--set",
        "model.discriminator.ndf=8",
        "--set",
        "loss.lambda_l1=10",
        "--max-steps",
        "10",
    )
    assert pix2pix["model"]["discriminator"]["ndf"] == 8 and pix2pix["loss"]["lambda_l1"] == 10.0
    assert pix2pix["train"]["decay_start_step"] == 5  # the paper's half, from the max_steps given


def test_every_train_option_names_its_field_and_its_defaults_are_the_recipes() -> None:
    for method in ("crn", "pix2pix", "segmenter", "colorizer"):
        command = cli.commands["train"].commands[method]  # type: ignore[attr-defined]
        recipe = method_class(method).recipe
        options = {param.name: param for param in command.params}
        assert options["lr"].default == recipe.lr and options["batch_size"].default == recipe.batch_size
        fields = [p for p in command.params if isinstance(p, FieldOption)]
        assert all("[config:" in (p.help or "") for p in fields), [p.name for p in fields if "[config:" not in p.help]
    help_text = " ".join(invoke("train", "segmenter", "--help").output.split())
    assert "Images per step (the method's recipe by default). [config: train.batch_size] [default: 4;" in help_text


def test_config_errors_name_the_key(tmp_path: Path, data: Path) -> None:
    base = ["train", "crn", "--data", str(data), "--out", str(tmp_path / "r"), "--print-config"]
    result = invoke(*base, "--set", "model.widht_multiplier=2")
    assert result.exit_code == 1 and "'widht_multiplier'" in result.output and "width_multiplier" in result.output
    result = invoke(*base, "--set", "train.amp_dtype=float8")
    assert result.exit_code == 1 and "train.amp_dtype: 'float8' is not one of" in result.output
    result = invoke(*base, "--set", "train.lr")
    assert result.exit_code == 1 and "KEY=VALUE" in result.output
    (tmp_path / "other.yaml").write_text("method: pix2pix\n")
    result = invoke(*base, "--config", str(tmp_path / "other.yaml"))
    assert result.exit_code == 1 and "a 'pix2pix' run, not a crn run" in result.output
    result = invoke("train", "crn", "--data", str(data), "--print-config")
    assert result.exit_code == 2 and "--out RUN_DIR is required" in result.output


@pytest.mark.slow
def test_the_same_command_starts_then_continues_and_resume_refuses_method_options(tmp_path: Path, data: Path) -> None:
    run = tmp_path / "run"
    command = ["train", "crn", "--data", str(data), "--out", str(run), *TINY_CRN, *QUIET_RUN]
    first = invoke(*command, "--max-steps", "2", "--resume", "auto")  # nothing there yet: starts
    assert first.exit_code == 0, first.output
    assert "from scratch" in first.output
    again = invoke(*command, "--max-steps", "4")  # the same command after a restart: continues
    assert again.exit_code == 0, again.output
    assert "continuing it from its latest checkpoint" in again.output and "(resumed at step 2)" in again.output
    assert (run / "checkpoints" / "step_000004").is_dir()

    changed = invoke(*command, "--max-steps", "6", "--variants", "2")
    assert changed.exit_code == 1
    assert "model.num_variants: 1 (saved) != 2 (now)" in changed.output and "another --out" in changed.output
    assert f"imsynth train crn --resume {run}" in changed.output and "resume=True" not in changed.output

    refused = invoke("train", "crn", "--resume", str(run), "--variants", "2")
    assert refused.exit_code == 2 and "--variants cannot be given with --resume" in refused.output
    refused = invoke("train", "crn", "--resume", str(run), "--set", "model.num_variants=2")
    assert refused.exit_code == 1 and "model.num_variants cannot change when resuming" in refused.output
    resumed = invoke("train", "crn", "--resume", str(run), "--max-steps", "5", "--set", "train.log_every=2")
    assert resumed.exit_code == 0, resumed.output
    assert (run / "checkpoints" / "step_000005").is_dir()
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["max_steps"] == 5 and saved["method_config"]["model"]["num_variants"] == 1
