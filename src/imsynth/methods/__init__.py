"""Training recipes: each method supplies its models, optimizers, step, paper settings and dataset.

:func:`method_class` maps the ``method`` name stored in every run config back to its class, so a
checkpoint or run folder alone says how to rebuild its networks and how to continue training it
(:func:`resume_method`). A new method adds one line to ``_METHODS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from pathlib import Path
from typing import Any

from imsynth.runs import read_run_config
from imsynth.training.config import TrainConfig
from imsynth.training.method import TrainingMethod
from imsynth.utils.config import from_dict

__all__ = ["method_class", "known_methods", "method_from_run_config", "resume_method"]

_METHODS = {
    "crn": ("imsynth.methods.crn", "CRNMethod"),
    "segmenter": ("imsynth.methods.segmenter", "SegmenterMethod"),
    "pix2pix": ("imsynth.methods.pix2pix", "Pix2PixMethod"),
    "colorizer": ("imsynth.methods.colorizer", "ColorizerMethod"),
}


def method_class(name: str) -> type[TrainingMethod[Any]]:
    """The :class:`TrainingMethod` subclass registered under ``name``."""
    try:
        module, attribute = _METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(sorted(_METHODS))}") from None
    cls: type[TrainingMethod[Any]] = getattr(import_module(module), attribute)
    return cls


def known_methods() -> list[str]:
    return sorted(_METHODS)


def method_from_run_config(run_config: Mapping[str, Any]) -> TrainingMethod[Any]:
    """The method a run config describes (``{"method": name, "method_config": {...}}``), not yet built."""
    return method_class(str(run_config.get("method"))).from_config_dict(run_config["method_config"])


def resume_method(run_dir: str | Path, expected: str | None = None) -> tuple[TrainingMethod[Any], TrainConfig]:
    """The method and train settings saved in ``run_dir``, ready to continue training where it stopped.

    ``expected`` (a method name) refuses another method's run with a ``ValueError`` naming both.
    """
    run_config = read_run_config(run_dir)
    if expected is not None and run_config["method"] != expected:
        raise ValueError(
            f"{run_dir} is a {run_config['method']!r} run, not a {expected} run: "
            f"resume it with `imsynth train {run_config['method']} --resume {run_dir}`"
        )
    train = from_dict(TrainConfig, run_config["train"], where="train.")
    train.out_dir = Path(run_dir)
    return method_from_run_config(run_config), train
