"""Evaluation: segmentation scores, Fréchet distance, image metrics, diversity, the FCN-score
segmenter, the FID Inception loader and ``imsynth evaluate`` / ``imsynth compare`` end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import make_cityscapes_tree
from imsynth.evaluation.frechet import FeatureStatistics, frechet_distance, statistics_distance
from imsynth.evaluation.image_metrics import FeatureDistance, pairwise_diversity, psnr, ssim
from imsynth.evaluation.segmentation_metrics import ConfusionMatrix, confusion_matrix, scores_from_confusion
from imsynth.models.segmenter import Segmenter, SegmenterConfig

# ----------------------------------------------------------------------------------- segmentation scores


def test_scores_against_a_hand_made_confusion_matrix():
    target = np.array([[0, 0, 1], [1, 2, 255]])
    prediction = np.array([[0, 1, 1], [1, 0, 2]])  # the prediction under 255 is not counted
    matrix = confusion_matrix(target, prediction, num_classes=4)
    expected = np.array([[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(matrix, expected)
    scores = scores_from_confusion(matrix)
    assert scores.pixel_accuracy == pytest.approx(3 / 5)
    assert scores.class_accuracy == [0.5, 1.0, 0.0, None]  # class 3: absent everywhere
    assert scores.mean_class_accuracy == pytest.approx(0.5)
    assert scores.class_iou == pytest.approx([1 / 3, 2 / 3, 0.0, None])
    assert scores.mean_iou == pytest.approx(1 / 3)
    assert scores.classes_in_mean_iou == 3 and scores.pixels == 5


def test_a_class_only_predicted_counts_in_miou_but_not_in_class_accuracy():
    cm = ConfusionMatrix(3)
    cm.add(np.array([0, 0, 0, 1]), np.array([0, 0, 2, 1]))
    scores = cm.scores()
    assert scores.class_iou == pytest.approx([2 / 3, 1.0, 0.0])
    assert scores.class_accuracy == pytest.approx([2 / 3, 1.0, None])
    assert scores.mean_iou == pytest.approx((2 / 3 + 1) / 3)
    assert scores.mean_class_accuracy == pytest.approx((2 / 3 + 1) / 2)


def test_confusion_matrix_rejects_out_of_range_classes():
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 7]), np.array([0, 1]), num_classes=3)


# ----------------------------------------------------------------------------------- Fréchet distance


def test_frechet_distance_of_identical_sets_is_zero():
    features = np.random.default_rng(0).normal(size=(300, 16))
    stats = FeatureStatistics.of(features)
    np.testing.assert_allclose(stats.mean, features.mean(axis=0))
    np.testing.assert_allclose(stats.covariance, np.cov(features, rowvar=False), atol=1e-10)
    assert statistics_distance(stats, stats) == pytest.approx(0.0, abs=1e-8)
    assert statistics_distance(stats, stats, method="sqrtm") == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians(method):
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    s1, s2 = rng.uniform(0.1, 3.0, size=8), rng.uniform(0.1, 3.0, size=8)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2), method=method) == pytest.approx(expected, rel=1e-9)


def test_small_sets_take_an_exact_shortcut_with_singular_covariances():
    rng = np.random.default_rng(2)
    a, b = FeatureStatistics.of(rng.normal(size=(10, 64))), FeatureStatistics.of(rng.normal(size=(13, 64)) + 0.5)
    assert a.samples is not None  # N <= dim: the vectors are kept for the shortcut
    shortcut, full = statistics_distance(a, b), statistics_distance(a, b, method="eigh")
    assert math.isfinite(shortcut) and shortcut > 0
    assert shortcut == pytest.approx(full, rel=1e-6)  # eigh: round-off in the null space
    assert shortcut == pytest.approx(statistics_distance(b, a), rel=1e-8)
    assert statistics_distance(a, a) == pytest.approx(0.0, abs=1e-9)


# ----------------------------------------------------------------------------------- image metrics


def test_kid_matches_a_hand_computed_unbiased_mmd():
    from imsynth.evaluation.kid import kernel_distance, mmd2_unbiased

    # d = 2, k(a, b) = (a.b / 2 + 1)^3. Within x: k(x1, x2) = 1; within y: y1.y2 = 2 -> 8;
    # across: 1.5^3, (2/2+1)^3, 1.5^3, 1 -> mean 15.75 / 4. MMD^2_u = 1 + 8 - 2 * 3.9375 = 1.125.
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([[1.0, 1.0], [2.0, 0.0]])
    assert mmd2_unbiased(x, y) == pytest.approx(1.125, abs=1e-12)
    assert kernel_distance(x, y) == (pytest.approx(1.125, abs=1e-12), 0.0)  # small sets: whole, once
    # unbiased: two samples of one distribution average to 0, not to a positive N-dependent bias
    rng = np.random.default_rng(0)
    same = [mmd2_unbiased(rng.normal(size=(20, 8)), rng.normal(size=(20, 8))) for _ in range(200)]
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(len(same))
    shifted = kernel_distance(rng.normal(size=(60, 8)), rng.normal(size=(50, 8)) + 0.5, subset_size=40, subsets=20)
    assert shifted[0] > 0.1 and shifted[1] > 0
    a, b = rng.normal(size=(60, 8)), rng.normal(size=(50, 8))
    assert kernel_distance(a, b, subset_size=40, subsets=5) == kernel_distance(a, b, subset_size=40, subsets=5)


def test_psnr_and_ssim_of_identical_images():
    image = torch.rand(2, 3, 32, 48)
    assert torch.isinf(psnr(image, image)).all()
    assert psnr(image, image, max_db=100.0).tolist() == [100.0, 100.0]
    assert ssim(image, image).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)


def test_psnr_of_a_known_mse():
    a = torch.zeros(1, 3, 8, 8)
    assert float(psnr(a, a + 0.1)) == pytest.approx(20.0, abs=1e-6)  # MSE 0.01 -> 20 dB
    assert float(psnr(a, a + 1.0)) == pytest.approx(0.0, abs=1e-9)


def test_ssim_matches_scikit_image_on_a_real_photo():
    from skimage import data
    from skimage.metrics import structural_similarity

    photo = data.astronaut()[::2, ::2]  # 256x256x3 uint8
    noisy = np.clip(photo + np.random.default_rng(0).normal(0, 20, photo.shape), 0, 255).astype(np.uint8)
    reference = structural_similarity(
        photo, noisy, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    to_tensor = lambda x: torch.from_numpy(x).permute(2, 0, 1)[None].double() / 255  # noqa: E731
    assert float(ssim(to_tensor(photo), to_tensor(noisy))) == pytest.approx(reference, abs=2e-3)
    assert 0.2 < reference < 0.9


@pytest.fixture(scope="module")
def feature_distance() -> FeatureDistance:
    from imsynth.models.backbones import build_feature_extractor

    torch.manual_seed(0)
    return FeatureDistance(build_feature_extractor("efficientnet_lite0", pretrained=False))


def test_feature_distance_is_zero_for_identical_images(feature_distance):
    images = torch.rand(2, 3, 32, 64)
    assert feature_distance(images, images).tolist() == pytest.approx([0.0, 0.0], abs=1e-10)
    assert (feature_distance(images, images.flip(0)) > 0).all()


def test_diversity_is_zero_for_identical_variants_and_positive_otherwise(feature_distance):
    one = torch.rand(1, 3, 32, 64)
    assert pairwise_diversity(feature_distance, one.repeat(4, 1, 1, 1)) == pytest.approx(0.0, abs=1e-10)
    assert pairwise_diversity(feature_distance, torch.rand(4, 3, 32, 64)) > 0
    with pytest.raises(ValueError):
        pairwise_diversity(feature_distance, one)


# ----------------------------------------------------------------------------------- segmenter


def test_segmenter_output_shape_and_gradients():
    torch.manual_seed(0)
    net = Segmenter(SegmenterConfig(num_classes=5, width_multiplier=0.25))
    images = torch.rand(2, 3, 37, 70)  # any size: the logits come back at the input size
    logits = net(images)
    assert logits.shape == (2, 5, 37, 70)
    torch.nn.functional.cross_entropy(logits, torch.randint(0, 5, (2, 37, 70))).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert net.predict(images[:1]).shape == (1, 37, 70)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    make_cityscapes_tree(root, 4, size=(32, 64), split="train")
    make_cityscapes_tree(root, 3, size=(32, 64), split="val", seed=1)
    return root


@pytest.fixture(scope="module")
def segmenter_run(tiny_root, tmp_path_factory) -> tuple[Path, list[float]]:
    """A few steps of a tiny segmenter through the shared trainer; returns the run and its losses."""
    from imsynth.data.datasets import CityscapesPairs
    from imsynth.evaluation.fcn_score import write_segmenter_validation
    from imsynth.methods.segmenter import SegmenterDataConfig, SegmenterMethod, SegmenterMethodConfig
    from imsynth.training import TrainConfig, Trainer

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("runs") / "seg"
    config = SegmenterMethodConfig(
        model=SegmenterConfig(width_multiplier=0.25, height=32, width=64), data=SegmenterDataConfig(root=str(tiny_root))
    )
    train = TrainConfig(
        out_dir=out,
        max_steps=30,
        batch_size=4,
        lr=3e-3,
        betas=(0.9, 0.999),
        log_every=1,
        sample_every=30,
        checkpoint_every=30,
        progress=False,
        tensorboard=False,
    )
    Trainer(SegmenterMethod(config), train, CityscapesPairs(tiny_root, "train", size=(32, 64))).fit()
    write_segmenter_validation(out, tiny_root, "val", device="cpu")
    losses = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    return out, losses


def test_segmenter_training_lowers_the_loss_and_records_validation(segmenter_run):
    out, losses = segmenter_run
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    record = json.loads((out / "val_metrics.json").read_text())
    assert record["step"] == 30 and record["images"] == 3 and 0 <= record["mean_iou"] <= 1


def test_train_segmenter_command_scores_the_real_val_photos(tiny_root, tmp_path):
    from imsynth.cli.main import cli

    out = tmp_path / "seg"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "segmenter",
            "--data",
            str(tiny_root),
            "--out",
            str(out),
            "--size",
            "32x64",
            "--width-multiplier",
            "0.25",
            "--max-steps",
            "2",
            "--workers",
            "0",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "real photos of split 'val' (3 images): mIoU" in result.output
    import yaml

    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["method"] == "segmenter" and config["train"]["batch_size"] == 4  # the segmenter's default
    assert json.loads((out / "val_metrics.json").read_text())["step"] == 2


# ----------------------------------------------------------------------------------- FID Inception


def test_inception_weights_missing_error_says_how_to_supply_them(monkeypatch, tmp_path):
    from imsynth.models.backbones import WeightsNotFoundError
    from imsynth.models.backbones.inception import INCEPTION_ENV_VAR, load_fid_inception

    monkeypatch.delenv(INCEPTION_ENV_VAR, raising=False)
    with pytest.raises(WeightsNotFoundError) as error:
        load_fid_inception()
    message = str(error.value)
    assert "pt_inception-2015-12-05-6726825d.pth" in message
    assert "--inception-weights" in message and INCEPTION_ENV_VAR in message
    monkeypatch.setenv(INCEPTION_ENV_VAR, str(tmp_path / "nope.pth"))
    with pytest.raises(WeightsNotFoundError, match="no such file"):
        load_fid_inception()


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory) -> Path:
    """Random weights saved in the pytorch-fid key layout (without num_batches_tracked)."""
    from imsynth.models.backbones.inception import INCEPTION_FILENAME, FIDInceptionV3

    torch.manual_seed(0)
    state = {k: v for k, v in FIDInceptionV3().state_dict().items() if not k.endswith("num_batches_tracked")}
    assert "Mixed_7c.branch3x3dbl_3b.bn.running_var" in state and state["fc.weight"].shape == (1008, 2048)
    path = tmp_path_factory.mktemp("fid") / INCEPTION_FILENAME
    torch.save(state, path)
    return path


def test_inception_loads_the_pytorch_fid_layout(inception_file, monkeypatch):
    from imsynth.models.backbones.inception import INCEPTION_ENV_VAR, load_fid_inception

    model = load_fid_inception(inception_file)
    reference = torch.load(inception_file, weights_only=True)
    key = "Mixed_6b.branch7x7_2.conv.weight"
    assert torch.equal(model.state_dict()[key], reference[key])
    features = model.pooled_features(torch.rand(2, 3, 40, 80))
    assert features.shape == (2, 2048) and torch.isfinite(features).all()
    monkeypatch.setenv(INCEPTION_ENV_VAR, str(inception_file))
    assert load_fid_inception().weights_path == str(inception_file)


# ----------------------------------------------------------------------------------- commands end to end


@pytest.fixture(scope="module")
def crn_run(tiny_root, tmp_path_factory) -> Path:
    """A tiny CRN (k = 2) trained for a few steps, as in test_crn_method."""
    from imsynth.data.datasets import CityscapesPairs
    from imsynth.methods.crn import CRNDataConfig, CRNMethod, CRNMethodConfig, PerceptualLossConfig
    from imsynth.models.crn import CRNConfig
    from imsynth.training import TrainConfig, Trainer

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("runs") / "crn"
    config = CRNMethodConfig(
        model=CRNConfig(height=32, width=64, num_variants=2, width_multiplier=1 / 64),
        loss=PerceptualLossConfig(backbone="efficientnet_lite0"),
        data=CRNDataConfig(root=str(tiny_root)),
    )
    train = TrainConfig(
        out_dir=out,
        max_steps=10,
        lr=3e-3,
        betas=(0.9, 0.999),
        log_every=1,
        sample_every=10,
        checkpoint_every=10,
        progress=False,
        tensorboard=False,
    )
    Trainer(CRNMethod(config), train, CityscapesPairs(tiny_root, "train", size=(32, 64))).fit()
    return out


def test_evaluate_writes_metrics_and_report(crn_run, segmenter_run, tiny_root, tmp_path, monkeypatch):
    from imsynth.cli.main import cli
    from imsynth.models.backbones.inception import INCEPTION_ENV_VAR

    monkeypatch.delenv(INCEPTION_ENV_VAR, raising=False)
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        cli,
        [
            "evaluate",
            "--checkpoint",
            str(crn_run),
            "--data",
            str(tiny_root),
            "--segmenter",
            str(segmenter_run[0]),
            "--count",
            "2",
            "--device",
            "cpu",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 2 and metrics["split"] == "val" and len(metrics["layouts"]) == 2
    real, run = metrics["rows"]
    expected = {
        "fcn_pixel_accuracy",
        "fcn_mean_class_accuracy",
        "fcn_mean_iou",
        "fcn_class_iou",
        "fld2",
        "kid",
        "kid_std",
        "fid",
        "psnr",
        "ssim",
        "feature_distance",
        "diversity",
        "images",
        "variants",
        "step",
        "method",
    }
    assert expected <= set(run)
    assert run["method"] == "crn" and run["step"] == 10 and run["variants"] == 2 and run["images"] == 2
    assert 0 <= run["fcn_mean_iou"] <= 1 and run["fld2"] >= 0 and run["diversity"] > 0 and run["fid"] is None
    assert run["kid"] is not None and run["kid_std"] == 0.0 and real["kid"] is not None  # 2 layouts: one subset
    assert "scoring" in result.output  # the progress bar (stderr)
    assert real["fcn_mean_iou"] is not None and real["psnr"] is None  # the real row: upper bound only
    assert metrics["networks"]["segmenter"]["validation_on_real_photos"]["images"] == 3
    # photographic appearance: the real row is 1 by definition; the run's ratios are measured per class
    assert real["texture_ratio"] == pytest.approx(1.0) and real["contrast_ratio"] == pytest.approx(1.0)
    assert run["texture_ratio"] > 0 and 0 < run["contrast_ratio"] < 5 and run["colourfulness_ratio"] >= 0
    assert set(run["class_texture_ratio"]) <= set(real["class_texture_ratio"])
    assert run["appearance"]["images"] == 2 * 2  # every variant of every layout
    html = (out / "report.html").read_text()
    assert "FLD-2" in html and "KID" in html and "grid_outputs.png" in html and "loss_curves_0.png" in html
    assert "texture ×" in html and "Texture, contrast and colourfulness per class" in html
    assert "val_metrics" not in html and "whose own scores on the 3 real photos" in html


def test_compare_two_runs_with_fid(crn_run, segmenter_run, tiny_root, tmp_path, inception_file):
    from imsynth.cli.main import cli

    out = tmp_path / "compare"
    resized = f"{crn_run / 'checkpoints' / 'step_000010'}@16x32"  # synthesize at 16x32, score at 32x64
    result = CliRunner().invoke(
        cli,
        [
            "compare",
            str(crn_run),
            resized,
            "--data",
            str(tiny_root),
            "--segmenter",
            str(segmenter_run[0]),
            "--count",
            "2",
            "--variants",
            "1",
            "--inception-weights",
            str(inception_file),
            "--device",
            "cpu",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    names = [row["name"] for row in metrics["rows"]]
    assert names == ["real photos", "crn", "crn@16x32"]
    first, second = metrics["rows"][1:]
    assert first["synthesized_at"] is None and second["synthesized_at"] == [16, 32]
    assert first["fid"] is not None and first["diversity"] is None  # k = 1: no diversity
    assert metrics["rows"][0]["fid"] is not None  # the real photos' sampling floor (2 train photos)
    table = (out / "table.md").read_text()
    assert "| real photos |" in table and "FCN mIoU" in table and "FID" in table
    assert (out / "report.html").is_file()


def test_evaluate_without_fid_weights_but_required_fails_clearly(crn_run, tiny_root, tmp_path, monkeypatch):
    from imsynth.cli.main import cli
    from imsynth.models.backbones.inception import INCEPTION_ENV_VAR

    monkeypatch.delenv(INCEPTION_ENV_VAR, raising=False)
    result = CliRunner().invoke(
        cli,
        [
            "evaluate",
            "--checkpoint",
            str(crn_run),
            "--data",
            str(tiny_root),
            "--fid",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "e"),
        ],
    )
    assert result.exit_code == 1
    assert "pt_inception-2015-12-05-6726825d.pth" in result.output


class _Constant:
    """A stand-in synthesizer: k grey images at the layout's size."""

    method, step, num_variants = "fake", 0, 2

    def synthesize(self, ids, variants=None):
        return np.full((variants or 2, *ids.shape, 3), 128, np.uint8)


def test_resized_synthesizer_and_run_specs(tmp_path):
    from imsynth.evaluation.runs import ResizedSynthesizer, parse_run_spec

    wrapped = ResizedSynthesizer(_Constant(), (16, 16))
    outputs = wrapped.synthesize(np.zeros((24, 40), np.uint8), 3)
    assert outputs.shape == (3, 24, 40, 3) and outputs.dtype == np.uint8 and (outputs == 128).all()
    assert wrapped.method == "fake" and wrapped.num_variants == 2
    assert parse_run_spec(f"{tmp_path}@256x128") == (tmp_path, (256, 128))
    assert parse_run_spec(tmp_path) == (tmp_path, None)
    with pytest.raises(ValueError, match="HEIGHTxWIDTH"):
        parse_run_spec(f"{tmp_path}@big")


class _RealThenGray:
    """A stand-in synthesizer with two variants: the real photo of the layout and a grey image (or reversed)."""

    method, step, num_variants = "fake", 0, 2

    def __init__(self, photos_by_layout: dict[bytes, np.ndarray], real_first: bool):
        from imsynth.data.labels import CITYSCAPES

        self.label_space, self.photos, self.real_first = CITYSCAPES, photos_by_layout, real_first

    def synthesize(self, ids, variants=None):
        real = self.photos[ids.tobytes()]
        gray = np.full_like(real, 128)
        return np.stack([real, gray] if self.real_first else [gray, real])


def test_fcn_score_over_all_variants_pools_every_variant(segmenter_run, tiny_root):
    from imsynth.data.cityscapes import find_pairs
    from imsynth.data.datasets import read_rgb
    from imsynth.data.labels import CITYSCAPES
    from imsynth.evaluation.scoring import EvaluationSettings, MetricNetworks, score_runs

    photos = {
        CITYSCAPES.load(s.label_path, kind=s.label_kind).tobytes(): read_rgb(s.image_path)
        for s in find_pairs(tiny_root, "val")
    }
    settings = EvaluationSettings(tiny_root, split="val", segmenter=segmenter_run[0], device="cpu")
    networks = MetricNetworks.load(settings)
    table = score_runs(
        {"real_first": _RealThenGray(photos, True), "gray_first": _RealThenGray(photos, False)},
        settings,
        networks,
        log=lambda _: None,
    )
    real, real_first, gray_first = table.rows
    # variant 0 of real_first is the real photo: the same FCN-score as the real row
    assert real_first["fcn_pixel_accuracy"] == pytest.approx(real["fcn_pixel_accuracy"])
    assert real_first["fcn_mean_iou"] == pytest.approx(real["fcn_mean_iou"])
    # "all k" pools both variants: the same set for both runs, whatever the order
    assert real_first["fcn_mean_iou_all_variants"] == pytest.approx(gray_first["fcn_mean_iou_all_variants"])
    pooled = (real["fcn_pixel_accuracy"] + gray_first["fcn_pixel_accuracy"]) / 2  # equal pixel counts
    assert real_first["fcn_pixel_accuracy_all_variants"] == pytest.approx(pooled)
    assert gray_first["fcn_pixel_accuracy"] != pytest.approx(real["fcn_pixel_accuracy"])
    assert real["fcn_mean_iou_all_variants"] is None  # the real row has no variants
