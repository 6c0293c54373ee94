"""TensorBoard files of a run folder (``RUN/tb``): the writer, the run's description, evaluation scalars.

Besides the scalars and sample grids the trainer logs, a run's TensorBoard shows

* **TEXT** ``config``: the run config (YAML) it was started with;
* **HPARAMS**: every setting of the run config, flattened to dotted keys, against the metrics
  :data:`HPARAM_METRICS` (the training loss and what ``imsynth evaluate`` adds), so runs with
  different settings compare in one table;
* **SCALARS** ``eval/...``: the numbers of each ``imsynth evaluate`` of the run, at the checkpoint's step.

The writer (``torch.utils.tensorboard``) is imported lazily (slow to import) and optional: without the
``tensorboard`` package these functions do nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from imsynth.runs.files import TENSORBOARD_DIR

__all__ = ["open_writer", "describe_run", "log_evaluation", "HPARAM_METRICS", "flatten_hparams"]

#: The metric tags the HPARAMS table shows for every run.
HPARAM_METRICS = ("loss", "eval/fcn_mean_iou", "eval/fld2", "eval/kid", "eval/psnr", "eval/ssim", "eval/diversity")


def open_writer(log_dir: str | Path, purge_step: int | None = None) -> Any:
    """A ``SummaryWriter`` on ``log_dir`` (``purge_step``: hide events an interrupted process wrote from
    that step on), or ``None`` with a warning when TensorBoard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        warnings.warn(f"TensorBoard logging disabled ({error}); install tensorboard to enable it", stacklevel=3)
        return None
    return SummaryWriter(str(log_dir), purge_step=purge_step)


def flatten_hparams(data: Mapping[str, Any], prefix: str = "") -> dict[str, bool | int | float | str]:
    """Nested plain data -> ``{"train.lr": 0.0001, "method_config.model.height": 256, ...}`` (lists and
    ``None`` as text, which is what the HPARAMS plugin can show)."""
    flat: dict[str, bool | int | float | str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_hparams(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def describe_run(writer: Any, run_config: Mapping[str, Any]) -> None:
    """Write the run config as text and as HPARAMS to ``writer`` (a ``SummaryWriter``)."""
    from torch.utils.tensorboard.summary import hparams

    text = yaml.safe_dump(dict(run_config), sort_keys=False)
    writer.add_text("config", "".join(f"    {line}\n" for line in text.splitlines()), 0)  # markdown code block
    experiment, start, end = hparams(flatten_hparams(run_config), {tag: float("nan") for tag in HPARAM_METRICS})
    file_writer = writer._get_file_writer()  # the run's own folder (add_hparams would make a sub-run)
    for summary in (experiment, start, end):
        file_writer.add_summary(summary)


def log_evaluation(run_dir: str | Path, step: int, metrics: Mapping[str, Any], split: str = "val") -> bool:
    """Add an evaluation's numeric metrics as scalars ``eval/<name>`` (``eval_<split>/...`` for another
    split than ``val``) at ``step`` to the run's TensorBoard; ``False`` if it could not be written."""
    writer = open_writer(Path(run_dir) / TENSORBOARD_DIR)
    if writer is None:
        return False
    group = "eval" if split == "val" else f"eval_{split}"
    try:
        for name, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                writer.add_scalar(f"{group}/{name}", value, step)
    finally:
        writer.close()
    return True
