"""Typed configs: dataclass <-> dict <-> YAML round trips and clear errors."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imsynth.training.config import ConfigMismatchError, TrainConfig, check_resume_compatible, make_run_config
from imsynth.utils.config import ConfigError, from_dict, load_config, save_config, to_dict


class Norm(enum.Enum):
    BATCH = "batch"
    INSTANCE = "instance"


@dataclass
class Layer:
    channels: int = 64
    norm: Norm = Norm.INSTANCE
    activation: Literal["relu", "lrelu"] = "lrelu"


@dataclass
class Model:
    layers: list[Layer] = field(default_factory=lambda: [Layer(32), Layer(64, Norm.BATCH)])
    image_size: tuple[int, int] = (256, 512)
    scales: tuple[float, ...] = (1.0, 0.5)
    weights: Path | None = None
    dropout: float | None = 0.5
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class Experiment:
    name: str
    model: Model = field(default_factory=Model)
    train: TrainConfig = field(default_factory=TrainConfig)


def test_yaml_round_trip_of_nested_dataclasses(tmp_path: Path) -> None:
    cfg = Experiment(
        name="crn",
        model=Model(
            layers=[Layer(16, Norm.BATCH, "relu")],
            image_size=(128, 256),
            scales=(1.0,),
            weights=Path("pretrained/vgg.safetensors"),
            dropout=None,
            extra={"w": 2.5},
        ),
        train=TrainConfig(
            out_dir=Path("runs/x"),
            lr=1e-4,
            betas=(0.9, 0.99),
            max_minutes=1.5,
            lr_schedule="linear_decay",
            grad_clip=None,
        ),
    )
    save_config(tmp_path / "config.yaml", cfg)
    loaded = load_config(tmp_path / "config.yaml", Experiment)
    assert loaded == cfg
    assert isinstance(loaded.model.image_size, tuple) and isinstance(loaded.model.weights, Path)
    assert loaded.model.layers[0].norm is Norm.BATCH
    # Plain data only: enums as values, paths as strings, tuples as lists.
    plain = to_dict(cfg)
    assert plain["model"]["layers"][0]["norm"] == "batch"
    assert plain["model"]["weights"] == "pretrained/vgg.safetensors"
    assert plain["model"]["image_size"] == [128, 256]
    assert load_config(tmp_path / "config.yaml")["train"]["lr"] == 1e-4  # untyped load


def test_missing_keys_take_defaults() -> None:
    cfg = from_dict(Experiment, {"name": "a", "model": {"image_size": [8, 16]}})
    assert cfg.model.image_size == (8, 16) and cfg.model.layers == Model().layers
    assert cfg.train == TrainConfig()


def test_unknown_key_names_it_and_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        from_dict(Experiment, {"name": "a", "model": {"imagesize": [1, 2], "chanels": 3}})
    message = str(info.value)
    assert "'chanels'" in message and "'imagesize'" in message
    assert "model" in message and "valid keys are: layers, image_size, scales" in message


def test_type_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"train\.batch_size: expected an integer, got 'eight'"):
        from_dict(Experiment, {"name": "a", "train": {"batch_size": "eight"}})
    with pytest.raises(ConfigError, match=r"model\.layers\[0\]\.activation: 'gelu' is not one of 'relu', 'lrelu'"):
        from_dict(Experiment, {"name": "a", "model": {"layers": [{"activation": "gelu"}]}})
    with pytest.raises(ConfigError, match=r"model\.image_size: expected 2 items"):
        from_dict(Experiment, {"name": "a", "model": {"image_size": [1, 2, 3]}})
    with pytest.raises(ConfigError, match=r"'rmsprop' is not one of 'adam', 'adamw', 'sgd'"):
        from_dict(TrainConfig, {"optimizer": "rmsprop"})
    with pytest.raises(ConfigError, match="missing required key 'name'"):
        from_dict(Experiment, {})
    with pytest.raises(ConfigError, match="expected true or false"):
        from_dict(TrainConfig, {"amp": 1})


def test_invalid_values_are_rejected_by_train_config() -> None:
    with pytest.raises(ConfigError, match="max_steps must be >= 1"):
        from_dict(TrainConfig, {"max_steps": 0})
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        from_dict(TrainConfig, {"device": "gpu"})


def test_yaml_scientific_notation_without_dot_is_a_float(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("lr: 1e-4\nmax_steps: 10\n")  # YAML 1.1 reads 1e-4 as a string
    cfg = load_config(tmp_path / "c.yaml", TrainConfig)
    assert cfg.lr == 1e-4 and cfg.max_steps == 10


def test_load_config_errors_mention_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml", TrainConfig)
    (tmp_path / "bad.yaml").write_text("lr: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml", TrainConfig)
    (tmp_path / "typo.yaml").write_text("learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"typo\.yaml: .*'learning_rate'"):
        load_config(tmp_path / "typo.yaml", TrainConfig)


@settings(max_examples=30, deadline=None)
@given(
    lr=st.floats(1e-8, 10.0),
    betas=st.tuples(st.floats(0.0, 0.999), st.floats(0.0, 0.999)),
    max_minutes=st.none() | st.floats(0.01, 1e4),
    keep_last=st.none() | st.integers(1, 100),
    schedule=st.sampled_from(["constant", "linear_decay", "cosine"]),
)
def test_train_config_round_trips_through_plain_data(lr, betas, max_minutes, keep_last, schedule) -> None:
    cfg = TrainConfig(lr=lr, betas=betas, max_minutes=max_minutes, keep_last=keep_last, lr_schedule=schedule)
    assert from_dict(TrainConfig, to_dict(cfg)) == cfg


def test_resume_compatibility_allows_run_control_changes_only() -> None:
    saved = make_run_config("crn", TrainConfig(max_steps=10), {"model": {"channels": 8}})
    longer = make_run_config("crn", TrainConfig(max_steps=99, max_minutes=5, num_workers=4), {"model": {"channels": 8}})
    check_resume_compatible(saved, longer, Path("run"))
    changed = make_run_config("crn", TrainConfig(lr=1.0), {"model": {"channels": 16}})
    with pytest.raises(ConfigMismatchError) as info:
        check_resume_compatible(saved, changed, Path("run"))
    assert "method_config.model.channels: 8 (saved) != 16 (now)" in str(info.value)
    assert "train.lr: 0.0002 (saved) != 1.0 (now)" in str(info.value)
    with pytest.raises(ConfigMismatchError, match="method: 'crn' \\(saved\\) != 'pix2pix'"):
        check_resume_compatible(saved, make_run_config("pix2pix", TrainConfig(), {}), Path("run"))


def test_resuming_a_run_saved_before_a_setting_existed_uses_its_default() -> None:
    """A run saved by an older imsynth (no ``momentum``/``dist_backend``) resumes; a changed new setting does not."""
    current = make_run_config("toy", TrainConfig(), {"width": 8})
    saved = make_run_config("toy", TrainConfig(), {"width": 8})
    for name in ("momentum", "dist_backend"):
        del saved["train"][name]
    check_resume_compatible(saved, current, Path("run"))
    with pytest.raises(ConfigMismatchError, match="train.momentum"):
        check_resume_compatible(saved, make_run_config("toy", TrainConfig(momentum=0.5), {"width": 8}), Path("run"))


def test_sgd_optimizer_uses_momentum() -> None:
    import torch

    from imsynth.training.optim import make_optimizer

    optimizer = make_optimizer(torch.nn.Linear(2, 1), TrainConfig(optimizer="sgd", lr=0.1, momentum=0.8))
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.param_groups[0]["momentum"] == 0.8
    with pytest.raises(ValueError, match="momentum"):
        TrainConfig(optimizer="sgd", momentum=1.0)
