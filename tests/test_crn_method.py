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
    train = TrainConfig(out_dir=out, max_steps=40, lr=3e-3, betas=(0.9, 0.999), log_every=1, sample_every=20,
                        checkpoint_every=20, progress=False, tensorboard=False)
    dataset = CityscapesPairs(tiny_root, "train", size=(32, 64))
    Trainer(CRNMethod(_config(tiny_root)), train, dataset).fit()
    losses = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()
              if "loss" in json.loads(line)]
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
    for a, b in zip(from_file.model.state_dict().values(), from_run.model.state_dict().values()):
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
    from imsynth.evaluation.run_report import write_run_report

    report = write_run_report(trained_run[0], tiny_root, "val", count=2, variants=2)
    html = report.read_text()
    assert "synthesis_grid.png" in html and "loss_curves.png" in html
    grid = np.asarray(Image.open(trained_run[0] / "synthesis_grid.png"))
    assert grid.shape[0] > 2 * 32 and grid.shape[1] > 4 * 64  # 2 rows; layout, real, 2 variants
