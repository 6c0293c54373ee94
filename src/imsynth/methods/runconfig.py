"""A run's settings from layers: defaults, a config file, command-line options, ``--set`` overrides.

A run is described by one *flat view*, the format of ``--config FILE`` and of ``--print-config``::

    method: crn
    train: {max_steps: 100000, lr: 0.0001, amp_dtype: auto, ...}   # TrainConfig
    model: {height: 256, width: 512, num_variants: 9, ...}         # the method's config, one key per field
    loss: {...}
    data: {...}

(``RUN/config.yaml``, the run config stored with runs and checkpoints, nests the method's part under
``method_config``; :func:`read_config_file` accepts both.) :func:`build_run` merges layers of that
shape, later layers winning, and converts the result once, checking every value against its field:
``train`` into :class:`~imsynth.training.TrainConfig` on top of the method's recipe (so ``max_steps``
from any layer still places a ``linear_decay`` where the paper puts it), the rest into the method's
config dataclass. :func:`resumed_train_config` applies layers to a resumed run, refusing every key
that would change its trajectory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from imsynth.training.config import RESUMABLE_TRAIN_FIELDS, TrainConfig, make_run_config
from imsynth.training.method import TrainingMethod
from imsynth.utils.config import ConfigError, from_dict, load_config, merge_dicts, to_dict

__all__ = ["build_run", "run_view", "read_config_file", "resumed_train_config", "dotted_keys"]


def build_run(method_cls: type[TrainingMethod[Any]], layers: Iterable[Mapping[str, Any]]) -> tuple[TrainConfig, Any]:
    """The :class:`TrainConfig` and method config of a new run from flat-view ``layers`` (last wins)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = merge_dicts(merged, layer)
    named = merged.pop("method", method_cls.name)
    if named != method_cls.name:
        raise ConfigError(f"the config describes a {named!r} run, not a {method_cls.name} run")
    merged.pop("method_config", None)  # read_config_file unwraps it; never a field
    train_layer = merged.pop("train", None) or {}
    if not isinstance(train_layer, Mapping):
        raise ConfigError(f"train: expected a mapping of TrainConfig fields, got {train_layer!r}")
    recipe = method_cls.recipe
    checked = from_dict(TrainConfig, {**to_dict(recipe.train_config()), **train_layer}, where="train.")
    train = recipe.train_config(**{key: getattr(checked, key) for key in train_layer})
    if method_cls.config_class is None:
        raise TypeError(f"{method_cls.__name__} has no config_class")
    return train, from_dict(method_cls.config_class, merged)


def run_view(method_name: str, train: TrainConfig, method_config: Any) -> dict[str, Any]:
    """The flat view of a run (what ``--print-config`` prints and ``--config`` reads)."""
    run = make_run_config(method_name, train, to_dict(method_config))
    return {"method": run["method"], "train": run["train"], **run["method_config"]}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A ``--config`` file as a flat view; a stored run config (``RUN/config.yaml``) is unwrapped."""
    data = load_config(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping (method, train, model, ...), got {type(data).__name__}")
    if "method_config" in data:
        inner = data.pop("method_config") or {}
        if not isinstance(inner, Mapping):
            raise ConfigError(f"{path}: method_config must be a mapping")
        data = {**data, **inner}
    return data


def dotted_keys(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The leaf keys of nested plain data, dotted (``{"train": {"lr": 1}}`` -> ``["train.lr"]``)."""
    keys: list[str] = []
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            keys += dotted_keys(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


def resumed_train_config(train: TrainConfig, layers: Iterable[Mapping[str, Any]], run_dir: Path) -> TrainConfig:
    """A resumed run's saved ``train`` with the run-control settings of ``layers``; any other key is refused."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = merge_dicts(merged, layer)
    refused = [
        key
        for key in dotted_keys(merged)
        if not (key.startswith("train.") and key.split(".")[1] in RESUMABLE_TRAIN_FIELDS)
    ]
    if refused:
        raise ConfigError(
            f"{', '.join(refused)} cannot change when resuming {run_dir}: the run keeps the settings it was "
            f"started with (its config.yaml). Only these may change: "
            f"{', '.join(f'train.{name}' for name in sorted(RESUMABLE_TRAIN_FIELDS))}"
        )
    values = {**to_dict(train), **merged.get("train", {}), "out_dir": str(run_dir)}
    return from_dict(TrainConfig, values, where="train.")
