"""CRN end to end on tiny data: training lowers the loss, checkpoints rebuild the model alone,
synthesis works on odd sizes, the run report shows layouts and syntheses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import make_cityscapes_tree
from imsynth.data.datasets import CityscapesPairs
from imsynth.data.labels import CITYSCAPES
from imsynth.inference.crn import load_crn, synthesize_files
from imsynth.losses.perceptual import DiversityLoss, FeatureMatchingLoss
from imsynth.methods.crn import CRNDataConfig, CRNMethod, CRNMethodConfig, PerceptualLossConfig
from imsynth.models.crn import CRNConfig
from imsynth.training import TrainConfig, Trainer


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cs")
    make_cityscapes_tree(root, 4, size=(32, 64), split="train")
    make_cityscapes_tree(root, 2, size=(32, 64), split="val", seed=1)
    return root


def _config(root: Path, k: int = 2) -> CRNMethodConfig:
    return CRNMethodConfig(
        model=CRNConfig(height=32, width=64, num_variants=k, width_multiplier=1 / 64),
        loss=PerceptualLossConfig(backbone="efficientnet_lite0"),
        data=CRNDataConfig(root=str(root)),
    )


@pytest.fixture(scope="module")
def trained_run(tiny_root, tmp_path_factory) -> tuple[Path, list[float]]:
    """40 steps of a tiny CRN; returns the run folder and the logged losses."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("run") / "crn"
    train = TrainConfig(
        out_dir=out,
        max_steps=40,
        lr=3e-3,
        betas=(0.9, 0.999),
        log_every=1,
        sample_every=20,
        checkpoint_every=20,
        progress=False,
        tensorboard=False,
    )
    dataset = CityscapesPairs(tiny_root, "train", size=(32, 64))
    Trainer(CRNMethod(_config(tiny_root)), train, dataset).fit()
    losses = [
        json.loads(line)["loss"]
        for line in (out / "metrics.jsonl").read_text().splitlines()
        if "loss" in json.loads(line)
    ]
    return out, losses


def test_training_lowers_the_loss(trained_run):
    _, losses = trained_run
    assert len(losses) >= 30
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


def test_run_records_resolved_backbone_and_samples(trained_run):
    out, _ = trained_run
    import yaml

    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["method"] == "crn"
    assert config["method_config"]["loss"]["backbone"] == "efficientnet_lite0"
    assert sorted(p.name for p in (out / "samples").glob("*.png"))


def test_auto_backbone_is_resolved_before_the_run_is_saved(tiny_root, monkeypatch, tmp_path):
    monkeypatch.delenv("IMSYNTH_VGG19_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no VGG in an empty hub cache
    config = _config(tiny_root)
    config.loss.backbone = "auto"
    assert CRNMethod(config).config.loss.backbone == "efficientnet_lite0"


def test_k_selects_the_loss(tiny_root):
    method = CRNMethod(_config(tiny_root, k=1))
    method.models()
    method.on_train_start()
    assert isinstance(method.criterion, FeatureMatchingLoss)
    method = CRNMethod(_config(tiny_root, k=3))
    method.models()
    method.on_train_start()
    assert isinstance(method.criterion, DiversityLoss)


def test_checkpoint_alone_rebuilds_the_model(trained_run, tmp_path):
    out, _ = trained_run
    weights = out / "checkpoints" / "step_000040" / "generator.safetensors"
    from_file = load_crn(weights, device="cpu")
    from_run = load_crn(out, device="cpu")
    assert from_file.model.config == from_run.model.config
    assert from_file.model.config.width_multiplier == 1 / 64
    for a, b in zip(from_file.model.state_dict().values(), from_run.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("size", [(32, 64), (37, 91), (100, 30), (9, 9)])
def test_synthesize_any_size(trained_run, size):
    crn = load_crn(trained_run[0], device="cpu")
    ids = np.full(size, CITYSCAPES.id_of("road"), np.uint8)
    ids[: size[0] // 2] = CITYSCAPES.id_of("sky")
    photos = crn.synthesize(ids)
    assert photos.shape == (2, *size, 3) and photos.dtype == np.uint8


def test_synthesize_files_writes_variants_and_grid(trained_run, tmp_path):
    crn = load_crn(trained_run[0], device="cpu")
    ids = np.full((40, 70), CITYSCAPES.id_of("building"), np.uint8)
    label = tmp_path / "layout.png"
    Image.fromarray(CITYSCAPES.colorize(ids)).save(label)
    synthesize_files(crn, [label], tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["layout_grid.png", "layout_v0.png", "layout_v1.png"]
    assert Image.open(tmp_path / "out" / "layout_v1.png").size == (70, 40)


def test_run_report(trained_run, tiny_root):
    from imsynth.evaluation.run_report import appearance_on_split, appearance_summary, write_run_report

    ratios = appearance_on_split(trained_run[0], tiny_root, "val")
    assert ratios["layouts"] == 2 and 0 < ratios["contrast_ratio"] < 5 and ratios["texture_ratio"] is not None
    assert appearance_summary(ratios).startswith(f"texture {ratios['texture_ratio']:.2f}, contrast")
    report = write_run_report(trained_run[0], tiny_root, "val", count=2, variants=2, appearance=ratios)
    html = report.read_text()
    assert "synthesis_grid.png" in html and "loss_curves.png" in html
    assert "Is it photographic?" in html and "colourfulness" in html
    grid = np.asarray(Image.open(trained_run[0] / "synthesis_grid.png"))
    assert grid.shape[0] > 2 * 32 and grid.shape[1] > 4 * 64  # 2 rows; layout, real, 2 variants


def test_rebalancing_equalises_the_layer_terms_and_survives_resume(tiny_root, tmp_path):
    """Paper Sec. 3.3: lambda_l becomes the inverse of each term's mean (relative to the image term)."""
    torch.set_num_threads(1)
    config = _config(tiny_root, k=1)
    config.loss.rebalance_at_step = 4
    train = TrainConfig(
        out_dir=tmp_path / "run",
        max_steps=4,
        lr=1e-3,
        log_every=1,
        checkpoint_every=4,
        progress=False,
        tensorboard=False,
    )
    dataset = CityscapesPairs(tiny_root, "train", size=(32, 64))
    method = CRNMethod(config)
    Trainer(method, train, dataset).fit()
    means = [s / method._term_count for s in method._term_sum_list()]
    weights = method.criterion.layer_weights
    assert method._term_count == 4
    defaults = method.criterion.extractor.default_layer_weights
    assert weights[0] == pytest.approx(defaults[0])
    for weight, mean in zip(weights, means, strict=True):
        assert weight * mean == pytest.approx(weights[0] * means[0], rel=1e-6)
    train.max_steps = 5
    resumed = CRNMethod(_config(tiny_root, k=1))
    resumed.config.loss.rebalance_at_step = 4
    Trainer(resumed, train, dataset, resume=True).fit()
    assert resumed.criterion.layer_weights == pytest.approx(weights)


def test_crn_resume_is_bitwise_exact(tiny_root, tmp_path):
    """2 steps + resume for 2 more == 4 uninterrupted steps (CPU, deterministic), weights and Adam state."""
    from imsynth.runs import load_checkpoint

    torch.set_num_threads(1)
    dataset = CityscapesPairs(tiny_root, "train", size=(32, 64), flip=True)

    def run(out, steps, resume=False):
        train = TrainConfig(
            out_dir=out,
            max_steps=steps,
            lr=1e-3,
            deterministic=True,
            checkpoint_every=2,
            progress=False,
            tensorboard=False,
            log_every=1,
        )
        Trainer(CRNMethod(_config(tiny_root)), train, dataset, resume=resume).fit()
        return load_checkpoint(out)

    straight = run(tmp_path / "a", 4)
    run(tmp_path / "b", 2)
    resumed = run(tmp_path / "b", 4, resume=True)
    assert straight.step == resumed.step == 4
    for name, tensor in straight.weights["generator"].items():
        assert torch.equal(tensor, resumed.weights["generator"][name]), name
