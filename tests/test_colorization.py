"""Colorization (Zhang, Isola & Efros 2016): Lab, ab bins, soft encoding, rebalancing, decoding,
the network, metrics, training, inference from a checkpoint alone and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

skimage_data = pytest.importorskip("skimage.data")
from skimage.color import lab2rgb, rgb2lab  # noqa: E402

from imsynth.color.bins import GAMUT_BIN_COUNTS, QuantizationConfig, gamut_bins, uniform_bins  # noqa: E402
from imsynth.color.encoding import DecodeConfig, decode_ab, nearest_bin, soft_encode  # noqa: E402
from imsynth.color.lab import fit_to_gamut, lab_to_linear_rgb, lab_to_rgb, rgb_to_lab  # noqa: E402
from imsynth.color.prior import (  # noqa: E402
    ColorPrior,
    RebalanceConfig,
    compute_prior,
    neglog_weights,
    rebalancing_weights,
    smooth_distribution,
)
from imsynth.evaluation.colorization_metrics import (  # noqa: E402
    ABAccuracy,
    ab_accuracy_curve,
    area_under_curve,
    colorfulness,
    psnr,
)
from imsynth.inference.colorize import LoadedColorizer, load_colorizer  # noqa: E402
from imsynth.methods.colorizer import (  # noqa: E402
    ColorizerDataConfig,
    ColorizerMethod,
    ColorizerMethodConfig,
    training_dataset,
)
from imsynth.models.colorizer import ColorizerConfig, ColorizerNet, count_convolutions  # noqa: E402
from imsynth.training import TrainConfig, Trainer  # noqa: E402

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle")


def _photo(name: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """A photo shipped with scikit-image, optionally resized to ``size`` (height, width)."""
    image = skimage_data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage_data, name)()
    if size is not None:
        image = np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.BOX))
    return image


def _short_side(image: np.ndarray, side: int) -> tuple[int, int]:
    scale = side / min(image.shape[:2])
    return round(image.shape[0] * scale), round(image.shape[1] * scale)


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).double() / 255


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory) -> Path:
    """Five real photos (shorter side 72) and one grayscale photo."""
    root = tmp_path_factory.mktemp("photos")
    for name in PHOTOS:
        Image.fromarray(_photo(name, _short_side(_photo(name), 72))).save(root / f"{name}.png")
    Image.fromarray(_photo("camera", (72, 72))).save(root / "camera.png")
    return root


# ------------------------------------------------------------------------------ Lab


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_lab_matches_scikit_image_and_round_trips(name):
    image = _photo(name)
    ours = rgb_to_lab(_to_tensor(image)).permute(1, 2, 0).numpy()
    assert np.abs(ours - rgb2lab(image)).max() < 0.01
    back = lab_to_rgb(torch.from_numpy(ours).permute(2, 0, 1)).permute(1, 2, 0).numpy()
    assert np.abs(back - image / 255.0).max() < 1e-6
    reference = lab2rgb(rgb2lab(image))
    assert (
        np.abs(lab_to_rgb(torch.from_numpy(rgb2lab(image)).permute(2, 0, 1)).permute(1, 2, 0).numpy() - reference).max()
        < 1e-4
    )


def test_fit_to_gamut_keeps_lightness_and_hue():
    lab = torch.tensor([[60.0, 100.0, -120.0], [50.0, 20.0, 10.0]]).T[:, :, None]  # (3, 2, 1)
    fitted = fit_to_gamut(lab)
    assert torch.equal(fitted[0], lab[0])
    assert torch.allclose(fitted[1:, 1], lab[1:, 1])  # already in gamut: unchanged
    scale = fitted[1:, 0] / lab[1:, 0]
    assert 0 < scale[0] < 1 and torch.isclose(scale[0], scale[1])
    rgb = lab_to_linear_rgb(fitted)
    assert rgb.min() > -1e-3 and rgb.max() < 1 + 1e-3


# ------------------------------------------------------------------------------ bins and encoding


@pytest.mark.slow
def test_in_gamut_bin_counts_are_the_documented_ones():
    nearest, cell = gamut_bins("nearest"), gamut_bins("cell")
    assert nearest.shape == (GAMUT_BIN_COUNTS["nearest"], 2) == (261, 2)
    assert cell.shape == (GAMUT_BIN_COUNTS["cell"], 2) == (262, 2)
    assert {tuple(c) for c in nearest.tolist()} <= {tuple(c) for c in cell.tolist()}
    # inside the released 313-bin range a in [-90, 100], b in [-110, 100]
    assert nearest[:, 0].min() >= -90 and nearest[:, 0].max() <= 100
    assert nearest[:, 1].min() >= -110 and nearest[:, 1].max() <= 100
    assert uniform_bins(18).shape == (324, 2)


def test_every_srgb_colour_has_its_nearest_grid_bin_in_the_set():
    rng = np.random.default_rng(0)
    rgb = torch.from_numpy(rng.integers(0, 256, (3, 200, 200)) / 255.0)
    ab = rgb_to_lab(rgb)[1:]
    centers = gamut_bins()
    rounded = torch.round(ab / 10) * 10
    chosen = centers[nearest_bin(ab[None].float(), centers)[0]].permute(2, 0, 1)
    assert torch.equal(chosen, rounded.float())


def test_soft_encoding_sums_to_one_and_peaks_at_the_nearest_bin():
    centers = gamut_bins()
    ab = torch.tensor([[[[3.0, -42.0], [17.0, 55.5]]], [[[-8.0, 33.0], [-71.0, -2.0]]]]).permute(1, 0, 2, 3)
    encoded = soft_encode(ab, centers, neighbors=5, sigma=5.0)
    assert encoded.shape == (1, centers.shape[0], 2, 2)
    assert torch.allclose(encoded.sum(dim=1), torch.ones(1, 2, 2))
    assert ((encoded > 0).sum(dim=1) == 5).all()
    assert torch.equal(encoded.argmax(dim=1), nearest_bin(ab, centers))
    # the weights follow the Gaussian of sigma 5 over the distances
    d2 = ((centers - ab[0, :, 0, 0]) ** 2).sum(1)
    chosen = encoded[0, :, 0, 0] > 0
    expected = torch.exp(-d2[chosen] / 50)
    assert torch.allclose(encoded[0, chosen, 0, 0], expected / expected.sum(), atol=1e-6)


def test_rebalancing_weights_have_unit_expectation_and_reduce_to_uniform():
    centers = gamut_bins()
    p = torch.rand(centers.shape[0], generator=torch.Generator().manual_seed(0)) ** 4
    p = p / p.sum()
    smoothed = smooth_distribution(p, centers, 5.0)
    weights = rebalancing_weights(p, centers, lam=0.5, sigma=5.0)
    assert torch.isclose((smoothed * weights.double()).sum(), torch.tensor(1.0, dtype=torch.float64), atol=1e-5)
    assert weights[smoothed.argmin()] > weights[smoothed.argmax()]  # rare colours weigh more
    assert torch.allclose(rebalancing_weights(p, centers, lam=1.0), torch.ones(centers.shape[0]), atol=1e-6)
    neglog = neglog_weights(p)
    assert torch.isclose((p * neglog.double()).sum(), torch.tensor(1.0, dtype=torch.float64), atol=1e-5)


def test_annealed_mean_interpolates_between_mean_and_mode():
    centers = gamut_bins()
    logits = torch.randn(1, centers.shape[0], 3, 4, generator=torch.Generator().manual_seed(1)) * 3
    mean = torch.einsum("nqhw,qc->nchw", torch.softmax(logits, 1), centers)
    assert torch.allclose(decode_ab(logits, centers, "annealed_mean", 1.0), mean, atol=1e-4)
    assert torch.allclose(decode_ab(logits, centers, "mean"), mean, atol=1e-4)
    mode = decode_ab(logits, centers, "mode")
    assert torch.allclose(decode_ab(logits, centers, "annealed_mean", 1e-3), mode, atol=1e-3)
    annealed = decode_ab(logits, centers, "annealed_mean", 0.38)
    assert (annealed - mode).norm() < (mean - mode).norm()


# ------------------------------------------------------------------------------ prior


def test_prior_of_real_photos_peaks_near_gray(photo_folder):
    images = [
        torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1).float() / 255
        for p in sorted(photo_folder.iterdir())
    ]
    prior = compute_prior(images, QuantizationConfig())
    assert prior.images == 6 and prior.images_without_color == 1  # the camera man is gray
    a, b = prior.peak()
    assert abs(a) <= 10 and abs(b) <= 10
    p = prior.probabilities
    assert torch.isclose(p.sum(), torch.tensor(1.0, dtype=torch.float64))
    near_gray = (torch.tensor(prior.bin_centers).norm(dim=1) <= 15).double()
    assert (p * near_gray).sum() > 0.3
    saved = ColorPrior.load(prior.save(photo_folder.parent / "prior"))
    assert saved.counts == prior.counts and saved.quantization == prior.quantization


# ------------------------------------------------------------------------------ network


def test_network_has_22_convolutions_and_about_32_million_parameters():
    net = ColorizerNet(ColorizerConfig(num_bins=313))
    assert count_convolutions(net) == 22
    parameters = sum(p.numel() for p in net.parameters())
    assert abs(parameters - 32.2e6) / 32.2e6 < 0.01
    batch_norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(batch_norms) == 7
    small = ColorizerNet(ColorizerConfig(num_bins=261, width_multiplier=0.125))
    assert small(torch.zeros(1, 1, 48, 64)).shape == (1, 261, 12, 16)
    regression = ColorizerNet(ColorizerConfig(head="regression", width_multiplier=0.125))
    assert regression.predict_ab(torch.zeros(2, 1, 32, 40)).shape == (2, 2, 32, 40)


# ------------------------------------------------------------------------------ metrics


def test_psnr_of_a_known_error():
    target = np.zeros((8, 8, 3), np.uint8)
    assert psnr(target + 10, target) == pytest.approx(10 * np.log10(255**2 / 100))
    assert psnr(np.full((4, 4, 3), 0.1), np.zeros((4, 4, 3))) == pytest.approx(20.0)
    assert psnr(target, target) == float("inf")


def test_auc_is_one_for_perfect_and_known_for_a_constant_offset():
    true = torch.zeros(2, 6, 6)
    true[0, :3] = 40.0
    assert area_under_curve(ab_accuracy_curve(true, true)) == 1.0
    shifted = true.clone()
    shifted[0] += 30.5  # every pixel 30.5 away: within t for t = 31..150, i.e. 120 of 151 thresholds
    assert area_under_curve(ab_accuracy_curve(shifted, true)) == pytest.approx(120 / 151)
    accuracy = ABAccuracy(gamut_bins())
    accuracy.update(torch.zeros_like(true), true)  # gray prediction: the gray half exact, the rest 40 off
    raw, rebalanced = accuracy.auc()
    assert raw == pytest.approx(0.5 * 1 + 0.5 * 111 / 151)
    assert rebalanced == pytest.approx(raw)  # two classes of equal size
    accuracy.update(torch.zeros(2, 2, 2), torch.zeros(2, 2, 2))  # more gray pixels: raw rises, rebalanced not
    raw2, rebalanced2 = accuracy.auc()
    assert raw2 > raw and rebalanced2 == pytest.approx(rebalanced)


def test_colorfulness_is_zero_for_gray_and_matches_a_hand_computation():
    assert colorfulness(np.full((5, 5, 3), 77, np.uint8)) == 0.0
    assert colorfulness(np.random.default_rng(0).integers(0, 256, (5, 5, 1)).repeat(3, 2).astype(np.uint8)) == 0.0
    image = np.zeros((2, 2, 3), np.uint8)
    image[0] = (255, 0, 0)  # rg = 255, yb = 127.5
    image[1] = (0, 0, 255)  # rg = 0,   yb = -255
    # std_rg = 127.5, std_yb = 191.25; mean_rg = 127.5, mean_yb = -63.75
    expected = np.hypot(127.5, 191.25) + 0.3 * np.hypot(127.5, -63.75)
    assert colorfulness(image) == pytest.approx(expected)
    assert colorfulness(image / 255.0) == pytest.approx(expected)


# ------------------------------------------------------------------------------ training and inference


def _method_config(root: Path, prior: ColorPrior | None, head: str = "classification") -> ColorizerMethodConfig:
    return ColorizerMethodConfig(
        model=ColorizerConfig(head=head, width_multiplier=0.125),  # type: ignore[arg-type]
        data=ColorizerDataConfig(root=str(root), load_size=72, crop_size=64),
        prior=[] if prior is None else prior.probabilities.tolist(),
        rebalance=RebalanceConfig(weighting="rebalance" if prior is not None else "none"),
    )


@pytest.fixture(scope="module")
def trained_run(photo_folder, tmp_path_factory) -> tuple[Path, list[float]]:
    torch.set_num_threads(1)
    from imsynth.methods.colorizer import folder_prior

    prior = folder_prior(str(photo_folder), QuantizationConfig(), load_size=72)
    config = _method_config(photo_folder, prior)
    out = tmp_path_factory.mktemp("run") / "colorizer"
    train = TrainConfig(
        out_dir=out,
        max_steps=40,
        batch_size=4,
        lr=1e-3,
        betas=(0.9, 0.99),
        weight_decay=1e-3,
        log_every=1,
        sample_every=40,
        checkpoint_every=40,
        progress=False,
        tensorboard=False,
    )
    Trainer(ColorizerMethod(config), train, training_dataset(config.data)).fit()
    losses = [
        json.loads(line)["loss"]
        for line in (out / "metrics.jsonl").read_text().splitlines()
        if "loss" in json.loads(line)
    ]
    return out, losses


def test_a_few_training_steps_lower_the_loss(trained_run):
    _, losses = trained_run
    assert len(losses) == 40
    assert np.mean(losses[-5:]) < 0.85 * np.mean(losses[:5])


def test_colorize_from_a_checkpoint_keeps_size_and_lightness(trained_run):
    out, _ = trained_run
    colorizer = load_colorizer(out, device="cpu")
    assert colorizer.step == 40 and colorizer.model.prior.sum() == pytest.approx(1.0)
    photo = _photo("chelsea", (45, 67))
    for image in (photo, photo[..., 0], np.dstack([photo, np.full(photo.shape[:2], 128, np.uint8)])):
        result = colorizer.colorize(image)
        assert result.shape == (*image.shape[:2], 4 if image.ndim == 3 and image.shape[2] == 4 else 3)
        assert result.dtype == np.uint8
        rgb_in = np.repeat(image[..., None], 3, 2) if image.ndim == 2 else image[..., :3]
        lightness_in = rgb2lab(rgb_in)[..., 0]
        assert np.abs(rgb2lab(result[..., :3])[..., 0] - lightness_in).max() < 1.0
    assert np.array_equal(result[..., 3], image[..., 3])


def test_colorize_handles_large_inputs_with_a_work_size():
    net = ColorizerNet(ColorizerConfig(num_bins=261, width_multiplier=0.125), gamut_bins()).eval()
    colorizer = LoadedColorizer(net, DecodeConfig(), 0, Path("."), work_size=48)
    image = _photo("coffee", (130, 201))
    result = colorizer.colorize(image)
    assert result.shape == image.shape
    assert np.abs(rgb2lab(result)[..., 0] - rgb2lab(image)[..., 0]).max() < 1.0


def test_rebalancing_needs_a_prior_and_regression_trains(photo_folder):
    with pytest.raises(ValueError, match="prior"):
        ColorizerMethod(ColorizerMethodConfig(data=ColorizerDataConfig(str(photo_folder))))
    method = ColorizerMethod(_method_config(photo_folder, None, head="regression"))
    net = method.models()["colorizer"]
    batch = {"image": torch.rand(2, 3, 64, 64)}
    loss, _ = method.compute_loss(batch, 0)
    loss.backward()
    assert torch.isfinite(loss) and net.classifier.weight.grad is not None


def test_cli_prior_train_and_colorize(photo_folder, tmp_path):
    from imsynth.cli.main import cli

    runner = CliRunner()
    result = runner.invoke(
        cli, ["prior", "--data", str(photo_folder), "--out", str(tmp_path / "prior"), "--load-size", "48"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "prior" / "prior.json").is_file()
    result = runner.invoke(
        cli,
        [
            "train",
            "colorizer",
            "--data",
            str(photo_folder),
            "--out",
            str(tmp_path / "run"),
            "--prior",
            str(tmp_path / "prior"),
            "--max-steps",
            "2",
            "--batch-size",
            "2",
            "--load-size",
            "48",
            "--crop-size",
            "40",
            "--width-multiplier",
            "0.0625",
            "--workers",
            "0",
            "--lr",
            "1e-3",
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        cli,
        [
            "colorize",
            "--checkpoint",
            str(tmp_path / "run"),
            "--input",
            str(photo_folder),
            "--out",
            str(tmp_path / "colorized"),
            "--work-size",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    outputs = sorted(p.name for p in (tmp_path / "colorized").iterdir())
    assert outputs == sorted(f"{p.stem}.png" for p in photo_folder.iterdir())
    assert Image.open(tmp_path / "colorized" / "camera.png").size == (72, 72)
