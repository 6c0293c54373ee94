"""What a run shows besides its scalars: TensorBoard config text, HPARAMS and evaluation scalars,
labelled sample grids, and every loss curve in the reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from imsynth.evaluation.runs import loss_curve_figure
from imsynth.runs.tensorboard import HPARAM_METRICS, flatten_hparams, log_evaluation
from imsynth.training import Trainer
from imsynth.training.visualize import image_grid


def _events(log_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"tensors": 0, "scalars": 0, "images": 0})
    events.Reload()
    return events


def test_tensorboard_has_the_config_hparams_samples_and_evaluation(tmp_path: Path) -> None:
    from test_trainer import ToyConfig, ToyDataset, ToyMethod, toy_train_config

    run = tmp_path / "run"
    torch.set_num_threads(1)
    Trainer(
        ToyMethod(ToyConfig()), toy_train_config(run, max_steps=4, sample_every=2, tensorboard=True), ToyDataset()
    ).fit()
    assert log_evaluation(run, 4, {"fld2": 12.5, "kid": 0.031, "name": "run", "fcn_class_iou": None})
    events = _events(run / "tb")
    tags = events.Tags()
    assert "config/text_summary" in tags["tensors"] and "samples" in tags["images"]
    config_text = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "method: toy" in config_text and "lr: 0.005" in config_text
    plugins = events.PluginTagToContent("hparams")
    assert "_hparams_/experiment" in plugins and "_hparams_/session_start_info" in plugins
    experiment = plugins["_hparams_/experiment"].decode("latin-1")
    assert "train.lr" in experiment and "method_config.model.channels" in experiment and "eval/kid" in experiment
    assert [(e.step, e.value) for e in events.Scalars("eval/fld2")] == [(4, 12.5)]
    assert "eval/name" not in tags["scalars"]
    assert "eval/kid" in HPARAM_METRICS


def test_flattened_hparams_are_plain_values() -> None:
    flat = flatten_hparams({"train": {"lr": 1e-4, "betas": [0.9, 0.99], "grad_clip": None}, "method": "crn"})
    assert flat == {"train.lr": 1e-4, "train.betas": "[0.9, 0.99]", "train.grad_clip": "None", "method": "crn"}


def test_sample_grids_name_their_columns() -> None:
    columns = {
        "label": torch.zeros(2, 3, 20, 30),
        "real": torch.ones(2, 3, 20, 30),
        "variant 0": torch.ones(2, 1, 20, 30),
    }
    grid = image_grid(columns, pad=2)
    assert grid.shape == (16 + 2 * 22 + 2, 3 * 32 + 2, 3)  # a caption strip above the two rows
    caption = grid[:16]
    assert (caption < 128).any(axis=-1).sum() > 20  # dark text on white over each column
    assert all((caption[:, 2 + c * 32 : 32 + c * 32] < 128).any() for c in range(3))


def test_reports_plot_every_loss_term(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("method: crn\n")
    keys = ["loss", *[f"loss/layer{l}" for l in range(6)], "loss/adversarial", "loss/feature_matching"]
    records = [{"step": step, **{key: 1.0 / (step + i) for i, key in enumerate(keys)}} for step in range(1, 30)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    figure = loss_curve_figure(run, "loss_curves_0", "run: training losses")
    assert figure is not None
    assert all(key in figure.caption for key in keys)  # loss/layer5 and the adversary's terms too
    image = np.asarray(figure.image)
    assert image.shape[0] > image.shape[1] / 3  # wrapped into rows, not one strip of 9 panels
