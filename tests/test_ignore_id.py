"""A label space with its own void/ignore id (not 255) works end to end, and checkpoints check it.

The space below marks its void class ``ignore`` and sets ``ignore_index: 254``: train maps hold 254 on
void pixels, the one-hot has the void channel there, a CRN trains and synthesizes through the CLI, and
a checkpoint (which stores the space itself) refuses a stored space whose class count or ignore id
differs from the one its model learned.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from conftest import crafted
from imsynth.cli.main import cli
from imsynth.data.cityscapes import image_path, label_ids_path
from imsynth.data.datasets import CityscapesPairs
from imsynth.data.labels import LabelSpace, get_label_space
from imsynth.inference.crn import load_crn
from imsynth.runs import CheckpointError

SPACE = {
    "name": "garden",
    "ignore_index": 254,
    "classes": [
        {"name": "void", "id": 0, "color": "#000000", "ignore": True},
        {"name": "grass", "id": 1, "color": "#00ff00"},
        {"name": "sky", "id": 2, "color": "#0080ff"},
        {"name": "path", "id": 3, "color": "#808080"},
    ],
}


def _write_space(path: Path, space: dict) -> Path:
    path.write_text(json.dumps(space))
    return path


def _layout() -> np.ndarray:
    ids = np.full((16, 32), 1, np.uint8)
    ids[:6] = 2
    ids[10:, 8:20] = 3
    ids[0:2, 0:4] = 0  # void
    return ids


def _write_tree(root: Path, space: LabelSpace, n: int = 2) -> None:
    rng = np.random.default_rng(0)
    for frame in range(n):
        stem = f"garden_000000_{frame:06d}"
        layout = _layout()
        photo = np.clip(space.colorize(layout).astype(int) + rng.integers(-20, 21, (*layout.shape, 3)), 0, 255)
        for path, image in (
            (image_path(root, "train", "garden", stem), photo),
            (label_ids_path(root, "train", "garden", stem), layout),
        ):
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.astype(np.uint8)).save(path)


def test_the_space_carries_its_class_count_and_ignore_id(tmp_path):
    space = get_label_space(_write_space(tmp_path / "garden.json", SPACE))
    assert (space.num_classes, space.ignore_index) == (3, 254)
    assert space.by_name("void").ignored and space.by_name("void").train_id is None
    train = space.ids_to_train(_layout())
    assert set(np.unique(train)) == {0, 1, 2, 254}
    one_hot = space.one_hot(_layout())
    assert one_hot.shape == (4, 16, 32) and torch.equal(one_hot.sum(0), torch.ones(16, 32))
    assert one_hot[3, 0, 0] == 1 and one_hot[3].sum() == 8  # the 2x4 void pixels, in the void channel
    assert space.to_dict()["classes"][0]["train_id"] == 254
    assert LabelSpace.from_dict(space.to_dict()) == space


def test_an_ignore_id_among_the_train_ids_is_refused():
    with pytest.raises(ValueError, match="ignore_index 2 must lie in 3..255"):
        LabelSpace.from_dict({**SPACE, "ignore_index": 2})


def test_crn_trains_and_synthesizes_with_ignore_id_254(tmp_path, monkeypatch):
    monkeypatch.setenv("IMSYNTH_CACHE", str(tmp_path / "cache"))
    space_file = _write_space(tmp_path / "garden.json", SPACE)
    space = get_label_space(space_file)
    _write_tree(tmp_path / "data", space)
    pairs = CityscapesPairs(tmp_path / "data", "train", space_file, size=(16, 32))
    assert int(pairs[0]["label"].max()) == 254

    run = tmp_path / "run"
    args = ["train", "crn", "--data", str(tmp_path / "data"), "--out", str(run), "--label-space", str(space_file)]
    args += ["--size", "16x32", "--variants", "2", "--width-multiplier", "0.03125"]
    args += ["--backbone", "efficientnet_lite0", "--max-steps", "2", "--workers", "0", "--device", "cpu"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output

    model = load_crn(run, "cpu")
    assert model.model.config.ignore_index == 254 and model.model.config.num_classes == 3
    photos = model.synthesize(_layout())
    assert photos.shape == (2, 16, 32, 3) and photos.dtype == np.uint8

    # The run stores the space itself: the file edited (or gone) afterwards changes nothing.
    _write_space(space_file, {**SPACE, "ignore_index": 253})
    assert load_crn(run, "cpu").label_space == space
    space_file.unlink()
    assert load_crn(run, "cpu").label_space == space

    # A stored space edited in the checkpoint (another ignore id, one more class) is refused.
    generator = run / "checkpoints" / "step_000002" / "generator.safetensors"
    edited = crafted(generator, tmp_path / "edited.safetensors", _storing({**SPACE, "ignore_index": 253}))
    with pytest.raises(
        CheckpointError, match="ignore id 254, but label space 'garden' has 3 classes with ignore id 253"
    ):
        load_crn(edited, "cpu")
    more = {**SPACE, "classes": [*SPACE["classes"], {"name": "tree", "id": 4, "color": "#008000"}]}
    with pytest.raises(CheckpointError, match="trained on 3 classes"):
        load_crn(crafted(generator, tmp_path / "more.safetensors", _storing(more)), "cpu")


def _storing(space: dict):
    """An edit of a run config: its stored label space becomes ``space``."""
    return lambda config: config["method_config"]["data"].update(label_space=LabelSpace.from_dict(space).to_dict())


def test_segmenter_and_fcn_score_skip_the_spaces_ignore_id(tmp_path):
    from imsynth.evaluation.segmentation_metrics import ConfusionMatrix
    from imsynth.methods.segmenter import SegmenterDataConfig, SegmenterMethod, SegmenterMethodConfig
    from imsynth.models.segmenter import SegmenterConfig

    space_file = _write_space(tmp_path / "garden.json", SPACE)
    space = get_label_space(space_file)
    model = SegmenterConfig(num_classes=3, width_multiplier=0.25, height=16, width=32)
    method = SegmenterMethod(SegmenterMethodConfig(model, SegmenterDataConfig(label_space=str(space_file))))
    method.models()
    target = torch.from_numpy(space.ids_to_train(_layout()).astype(np.int64))[None]
    loss, scalars = method.compute_loss({"image": torch.rand(1, 3, 16, 32), "label": target}, 0)
    assert torch.isfinite(loss) and 0.0 <= float(scalars["pixel_accuracy"]) <= 1.0

    matrix = ConfusionMatrix(space.num_classes, space.ignore_index)
    matrix.add(target[0].numpy(), target[0].numpy())
    assert matrix.matrix.sum() == 16 * 32 - 8 and matrix.scores().mean_iou == 1.0  # the 8 void pixels skipped
