"""Checkpoints: atomic writes, the ``latest`` pointer, pruning, loading and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from torch import nn

from imsynth.runs import (
    CheckpointError,
    find_latest,
    load_checkpoint,
    load_weights_into,
    read_model_config,
    save_checkpoint,
)
from imsynth.runs import checkpoint as ckpt

CONFIG = {"method": "toy", "train": {"lr": 0.001, "betas": [0.5, 0.999]}, "method_config": {"channels": 4}}


def make_models(seed: int) -> dict[str, nn.Module]:
    torch.manual_seed(seed)
    return {"generator": nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)), "discriminator": nn.Linear(4, 1)}


def save(root: Path, step: int, seed: int = 0, keep_last: int | None = None) -> Path:
    models = make_models(seed)
    state = {"optimizers": {}, "rng": {"torch": torch.get_rng_state()}, "data": {"position": step * 2}}
    return save_checkpoint(root, step, models, state, CONFIG, keep_last=keep_last)


def assert_same_weights(models: dict[str, nn.Module], weights: dict[str, dict[str, torch.Tensor]]) -> None:
    for name, model in models.items():
        for key, value in model.state_dict().items():
            assert torch.equal(value, weights[name][key]), f"{name}.{key}"


def test_layout_latest_and_embedded_config(tmp_path: Path) -> None:
    root = tmp_path / "run" / "checkpoints"
    folder = save(root, 100)
    assert folder == root / "step_000100"
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["discriminator.safetensors", "generator.safetensors", "state.pt"]
    assert json.loads((root / "latest").read_text()) == {"checkpoint": "step_000100", "step": 100}
    with safe_open(folder / "generator.safetensors", framework="pt") as handle:
        metadata = handle.metadata()
    assert json.loads(metadata["imsynth_config"]) == CONFIG
    assert metadata["imsynth_model"] == "generator" and metadata["imsynth_step"] == "100"
    assert read_model_config(folder / "generator.safetensors") == CONFIG
    assert not list(root.glob("*.tmp"))


def test_load_from_run_dir_checkpoint_dir_and_file(tmp_path: Path) -> None:
    run = tmp_path / "run"
    save(run / "checkpoints", 5, seed=1)
    save(run / "checkpoints", 10, seed=2)
    expected = make_models(2)
    for where in (run, run / "checkpoints", run / "checkpoints" / "step_000010"):
        loaded = load_checkpoint(where)
        assert loaded.step == 10 and loaded.config == CONFIG
        assert loaded.path == run / "checkpoints" / "step_000010"
        assert loaded.state is not None and loaded.state["data"] == {"position": 20}
        assert_same_weights(expected, loaded.weights)

    single = load_checkpoint(run / "checkpoints" / "step_000005" / "generator.safetensors")
    assert single.state is None and single.step == 5 and single.config == CONFIG
    assert list(single.weights) == ["generator"]
    assert_same_weights({"generator": make_models(1)["generator"]}, single.weights)

    fresh = make_models(3)
    load_weights_into(fresh, load_checkpoint(run))
    assert_same_weights(fresh, load_checkpoint(run).weights)


def test_failure_mid_write_keeps_latest_and_old_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "checkpoints"
    save(root, 5, seed=1)
    latest_before = (root / "latest").read_text()

    def crash(obj, handle, *args, **kwargs):
        handle.write(b"partial state")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save(root, 10, seed=2)
    monkeypatch.undo()

    assert not (root / "step_000010.tmp").exists()  # a failed save removes its temp dir (a crash leaves it)
    assert not (root / "step_000010").exists()
    assert (root / "latest").read_text() == latest_before
    loaded = load_checkpoint(root.parent)
    assert loaded.step == 5
    assert_same_weights(make_models(1), loaded.weights)

    save(root, 10, seed=2)  # the next save replaces the leftover
    assert load_checkpoint(root).step == 10 and not list(root.glob("*.tmp"))


def test_keep_last_prunes_oldest(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    for step in (1, 2, 3, 4, 5):
        save(root, step, keep_last=2)
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step_000004", "step_000005"]
    for step in (6, 7):
        save(root, step, keep_last=None)
    assert len(list(root.glob("step_*"))) == 4


def test_saving_the_same_step_again_replaces_it(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    save(root, 3, seed=1)
    save(root, 3, seed=2)
    assert_same_weights(make_models(2), load_checkpoint(root).weights)
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step_000003"]


def test_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty_run"
    empty.mkdir()
    with pytest.raises(CheckpointError, match=r"no checkpoint found in .*empty_run: train first or pass --checkpoint"):
        load_checkpoint(empty)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing")
    assert find_latest(empty) is None

    folder = save(tmp_path / "checkpoints", 1)
    (folder / "state.pt").write_bytes(b"\x80\x02 truncated")
    with pytest.raises(CheckpointError, match=r"state\.pt is corrupt or truncated"):
        load_checkpoint(folder)

    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="corrupt or not a safetensors file"):
        read_model_config(broken)
    with pytest.raises(CheckpointError, match="corrupt or not a safetensors file"):
        load_checkpoint(broken)

    other = tmp_path / "foreign.safetensors"
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(CheckpointError, match="has no embedded imsynth config"):
        read_model_config(other)


def test_missing_weight_file_and_shape_mismatch(tmp_path: Path) -> None:
    folder = save(tmp_path / "checkpoints", 1)
    (folder / "discriminator.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"incomplete: discriminator\.safetensors is missing"):
        load_checkpoint(folder)

    folder = save(tmp_path / "other", 1)
    wrong = {"generator": nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)), "discriminator": nn.Linear(4, 1)}
    with pytest.raises(CheckpointError, match=r"weights for 'generator' .* do not fit the model"):
        load_weights_into(wrong, load_checkpoint(folder))


def test_latest_pointing_at_a_deleted_checkpoint_falls_back(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    save(root, 1)
    save(root, 2)
    for file in (root / "step_000002").iterdir():
        file.unlink()
    (root / "step_000002").rmdir()
    assert ckpt.find_latest(root) == root / "step_000001"
