"""ONNX export of pix2pix and CRN generators: ONNX Runtime reproduces PyTorch (eval mode)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from imsynth.cli.main import cli  # noqa: E402
from imsynth.inference.export import export_onnx, run_onnx  # noqa: E402
from imsynth.methods.crn import CRNDataConfig, CRNMethodConfig, PerceptualLossConfig  # noqa: E402
from imsynth.methods.pix2pix import Pix2PixDataConfig, Pix2PixMethodConfig, Pix2PixModelConfig  # noqa: E402
from imsynth.models.crn import CRN, CRNConfig  # noqa: E402
from imsynth.models.pix2pix import (  # noqa: E402
    DiscriminatorConfig,
    GeneratorConfig,
    build_discriminator,
    build_generator,
    to_signed,
    to_unit,
)
from imsynth.runs import save_checkpoint  # noqa: E402
from imsynth.training import TrainConfig  # noqa: E402
from imsynth.training.config import make_run_config  # noqa: E402
from imsynth.utils.config import to_dict  # noqa: E402

TOLERANCE = 1e-4


pytestmark = pytest.mark.usefixtures("one_thread")


def _save(root: Path, method: str, models: dict, config) -> Path:
    run_config = make_run_config(method, TrainConfig(out_dir=root), to_dict(config))
    return save_checkpoint(root / "checkpoints", 3, models, {}, run_config)


@pytest.fixture(scope="module")
def pix2pix_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    config = Pix2PixMethodConfig(
        model=Pix2PixModelConfig(GeneratorConfig(depth=4, ngf=8), DiscriminatorConfig(ndf=8)),
        data=Pix2PixDataConfig(load_size=32, crop_size=32),
    )
    generator = build_generator(config.model.generator)
    with torch.no_grad():  # give batch norm non-trivial running statistics
        for _ in range(3):
            generator(torch.randn(2, 3, 32, 32) * 2)
    discriminator = build_discriminator(config.model.discriminator, 6)
    return _save(
        tmp_path_factory.mktemp("p2p"), "pix2pix", {"generator": generator, "discriminator": discriminator}, config
    )


@pytest.fixture(scope="module")
def crn_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    config = CRNMethodConfig(
        model=CRNConfig(height=16, width=32, num_variants=2, width_multiplier=1 / 64),
        loss=PerceptualLossConfig(backbone="efficientnet_lite0"),
        data=CRNDataConfig(),
    )
    return _save(tmp_path_factory.mktemp("crn"), "crn", {"generator": CRN(config.model)}, config)


def test_pix2pix_round_trip(pix2pix_checkpoint, tmp_path):
    result = export_onnx(pix2pix_checkpoint, tmp_path / "p2p.onnx")
    assert result.method == "pix2pix" and result.example_shape == (1, 3, 32, 32)
    assert result.max_abs_diff is not None and result.max_abs_diff < TOLERANCE
    assert result.metadata["imsynth_test_dropout"] == "false"
    assert result.metadata["imsynth_size_multiple"] == "16"

    # dynamic batch and size (multiples of 16), compared with the eval-mode PyTorch generator
    from imsynth.inference.pix2pix import load_pix2pix

    generator = load_pix2pix(pix2pix_checkpoint, "cpu", test_dropout=False).model.eval()
    images = torch.rand(2, 3, 48, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = to_unit(generator(to_signed(images))).clamp(0, 1).numpy()
    actual = run_onnx(result.path, images.numpy())
    assert actual.shape == (2, 3, 48, 64)
    assert np.abs(actual - expected).max() < TOLERANCE


def test_crn_round_trip(crn_checkpoint, tmp_path):
    result = export_onnx(crn_checkpoint, tmp_path / "crn.onnx")
    assert result.method == "crn" and result.input_name == "labels" and result.example_shape == (1, 16, 32)
    assert result.max_abs_diff is not None and result.max_abs_diff < TOLERANCE

    from imsynth.inference.crn import load_crn

    model = load_crn(crn_checkpoint, "cpu").model
    labels = torch.randint(0, 19, (3, 16, 32), generator=torch.Generator().manual_seed(2))
    labels[0, :4] = 255  # void
    with torch.no_grad():
        expected = model.synthesize(labels).numpy()
    actual = run_onnx(result.path, labels.numpy())
    assert actual.shape == (3, 2, 3, 16, 32)
    assert np.abs(actual - expected).max() < TOLERANCE


def test_export_cli(pix2pix_checkpoint, tmp_path):
    out = tmp_path / "model.onnx"
    result = CliRunner().invoke(
        cli, ["export", "--checkpoint", str(pix2pix_checkpoint), "--onnx", str(out), "--size", "16x48"]
    )
    assert result.exit_code == 0, result.output
    assert out.is_file() and "max abs diff" in result.output
    result = CliRunner().invoke(
        cli, ["export", "--checkpoint", str(pix2pix_checkpoint), "--onnx", str(out), "--size", "20x20"]
    )
    assert result.exit_code != 0 and "multiple of 16" in result.output
