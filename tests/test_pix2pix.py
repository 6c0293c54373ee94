"""pix2pix: the U-Net's layers and skips, PatchGAN receptive fields, the objective's values, a few
training steps, the LR schedule, inference at any size with and without test-time dropout, the CLI."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from PIL import Image
from torch import nn

from conftest import make_cityscapes_tree
from imsynth.cli.main import cli
from imsynth.data.labels import CITYSCAPES
from imsynth.inference.pix2pix import LoadedPix2Pix, load_pix2pix, reflect_pad_to_multiple
from imsynth.inference.synthesizer import LayoutSynthesizer, load_synthesizer
from imsynth.losses.gan import (
    Pix2PixLoss,
    adversarial_loss,
    discriminator_loss,
    generator_adversarial_loss,
)
from imsynth.methods.pix2pix import (
    Pix2PixDataConfig,
    Pix2PixMethod,
    Pix2PixMethodConfig,
    Pix2PixModelConfig,
    build_dataset,
)
from imsynth.models.pix2pix import (
    DiscriminatorConfig,
    GeneratorConfig,
    PatchDiscriminator,
    ResNetGenerator,
    UNetGenerator,
    build_generator,
    generator_config_from_name,
    generator_test_mode,
    receptive_field,
    unet_plan,
)
from imsynth.nn.blocks import ResidualBlock
from imsynth.nn.unet import UNetSkipBlock
from imsynth.runs import CheckpointError
from imsynth.training import TrainConfig, Trainer
from imsynth.training.optim import lr_factor

TINY_G = GeneratorConfig(depth=4, ngf=8)  # "unet_16": sides must be multiples of 16
TINY_D = DiscriminatorConfig(ndf=8, n_layers=2)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def unet_256() -> UNetGenerator:
    return UNetGenerator(generator_config_from_name("unet_256"))


# ----------------------------------------------------------------------------- U-Net
def test_unet_256_layer_list():
    plan = unet_plan(generator_config_from_name("unet_256"))
    assert [level.down_out for level in plan] == [64, 128, 256, 512, 512, 512, 512, 512]
    assert [level.down_in for level in plan] == [3, 64, 128, 256, 512, 512, 512, 512]
    # decoder, innermost first: the inner levels' skips double every input but the innermost one
    assert [level.up_in for level in reversed(plan)] == [512, 1024, 1024, 1024, 1024, 512, 256, 128]
    assert [level.up_out for level in reversed(plan)] == [512, 512, 512, 512, 256, 128, 64, 3]
    assert [level.down_norm for level in plan] == [False] + [True] * 6 + [False]  # C64 and innermost: no norm


def test_unet_modules_follow_the_plan(unet_256):
    generator = unet_256
    levels = generator.levels()
    assert len(levels) == 8 and levels[-1].innermost and not levels[0].skip
    for level, plan in zip(levels, generator.plan, strict=True):
        conv = [m for m in level.down if isinstance(m, nn.Conv2d)][0]
        deconv = [m for m in level.up if isinstance(m, nn.ConvTranspose2d)][0]
        assert (conv.in_channels, conv.out_channels) == (plan.down_in, plan.down_out)
        assert (conv.kernel_size, conv.stride) == ((4, 4), (2, 2))
        assert (deconv.in_channels, deconv.out_channels, deconv.stride) == (plan.up_in, plan.up_out, (2, 2))
        assert isinstance(level.down[0], nn.Conv2d if plan.level == 0 else nn.LeakyReLU)
        assert isinstance(level.up[0], nn.ReLU)
    assert isinstance(levels[0].up[-1], nn.Tanh)
    assert sum(p.numel() for p in generator.parameters()) == pytest.approx(54.4e6, rel=0.01)


def test_dropout_only_in_the_three_decoder_blocks_after_the_innermost(unet_256):
    generator = unet_256
    with_dropout = [i for i, level in enumerate(generator.levels()) if any(isinstance(m, nn.Dropout) for m in level.up)]
    assert with_dropout == [4, 5, 6]  # innermost is level 7
    assert not any(isinstance(m, nn.Dropout) for level in generator.levels() for m in level.down)
    assert all(m.p == 0.5 for m in generator.modules() if isinstance(m, nn.Dropout))
    assert not any(isinstance(m, nn.Dropout) for m in UNetGenerator(GeneratorConfig(ngf=2, dropout=0.0)).modules())


def test_skip_connections_carry_each_level_input():
    generator = build_generator(TINY_G).eval()
    seen = []
    hooks = [
        block.register_forward_hook(lambda m, inputs, output: seen.append((m, inputs[0], output)))
        for block in generator.modules()
        if isinstance(block, UNetSkipBlock)
    ]
    x = torch.randn(2, 3, 32, 32)
    y = generator(x)
    for hook in hooks:
        hook.remove()
    assert y.shape == x.shape and y.abs().max() <= 1
    for block, inputs, output in seen:
        if block.skip:
            assert output.shape[1] == 2 * inputs.shape[1]
            assert torch.equal(output[:, : inputs.shape[1]], inputs)
        else:
            assert output.shape[1] == 3


def test_generator_names_and_sizes():
    assert generator_config_from_name("unet_128").depth == 7
    assert generator_config_from_name("unet_128").size_multiple == 128
    assert len(UNetGenerator(generator_config_from_name("unet_128", ngf=4)).levels()) == 7
    resnet = generator_config_from_name("resnet_6blocks", ngf=4)
    assert (resnet.arch, resnet.num_blocks, resnet.size_multiple, resnet.name) == ("resnet", 6, 4, "resnet_6blocks")
    model = ResNetGenerator(resnet)
    assert sum(isinstance(m, ResidualBlock) for m in model.modules()) == 6
    assert model(torch.randn(1, 3, 20, 28)).shape == (1, 3, 20, 28)
    for bad in ("unet_100", "resnet", "vgg"):
        with pytest.raises(ValueError):
            generator_config_from_name(bad)


def test_weights_are_drawn_from_n_0_002():
    generator = build_generator(generator_config_from_name("unet_128", ngf=16))
    weights = torch.cat(
        [m.weight.flatten() for m in generator.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    )
    assert abs(weights.mean().item()) < 1e-3 and weights.std().item() == pytest.approx(0.02, rel=0.02)


# ----------------------------------------------------------------------------- PatchGAN
@pytest.mark.parametrize("n_layers, field", [(0, 1), (1, 16), (2, 34), (3, 70), (5, 286)])
def test_patchgan_receptive_field(n_layers, field):
    assert PatchDiscriminator(6, ndf=4, n_layers=n_layers).receptive_field == field


def test_receptive_field_formula_and_default_output_grid():
    assert receptive_field([(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)]) == 70
    assert receptive_field([]) == 1
    d = PatchDiscriminator(6, ndf=4)
    assert d.receptive_field == 70 and d(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)


@pytest.mark.parametrize("n_layers", [1, 3])
def test_receptive_field_matches_the_gradient_support(n_layers):
    """One output logit depends on exactly a receptive_field x receptive_field input window."""
    d = PatchDiscriminator(2, ndf=4, n_layers=n_layers, norm="none")
    x = torch.randn(1, 2, 96, 96, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    support = x.grad.abs().sum(dim=(0, 1)) > 0
    rows, cols = support.any(1).nonzero(), support.any(0).nonzero()
    assert rows.max() - rows.min() + 1 <= d.receptive_field and cols.max() - cols.min() + 1 <= d.receptive_field
    assert rows.max() - rows.min() + 1 >= d.receptive_field - 2  # zero padding can hide a border row


# ----------------------------------------------------------------------------- objective
def test_gan_loss_values():
    zeros = torch.zeros(1, 1, 30, 30)
    assert adversarial_loss(zeros, True).item() == pytest.approx(math.log(2))
    assert adversarial_loss(zeros, False).item() == pytest.approx(math.log(2))
    assert discriminator_loss(zeros, zeros).item() == pytest.approx(math.log(2))  # halved sum of two log 2
    real, fake = torch.full((1, 1, 4, 4), 2.0), torch.full((1, 1, 4, 4), -1.0)
    expected = 0.5 * (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0)))
    assert discriminator_loss(real, fake).item() == pytest.approx(expected)
    assert generator_adversarial_loss(fake).item() == pytest.approx(math.log1p(math.exp(1.0)))  # non-saturating
    half = torch.full((2, 1, 3, 3), 0.5)
    assert adversarial_loss(half, True, "lsgan").item() == pytest.approx(0.25)
    assert adversarial_loss(torch.ones(1, 1, 2, 2), False, "lsgan").item() == pytest.approx(1.0)
    assert discriminator_loss(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2), "lsgan").item() == pytest.approx(0.5)


def test_pix2pix_loss_weights_l1_by_100():
    loss = Pix2PixLoss()
    total, terms = loss.generator(torch.zeros(1, 1, 4, 4), torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 0.5))
    assert terms["g_l1"].item() == pytest.approx(0.5)
    assert total.item() == pytest.approx(math.log(2) + 100 * 0.5)
    d_total, d_terms = loss.discriminator(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))
    assert d_total.item() == pytest.approx(0.5 * (d_terms["d_real"] + d_terms["d_fake"]).item())


# ----------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cs")
    make_cityscapes_tree(root, 3, size=(32, 64), split="train")
    return root


def _config(root: Path, **data) -> Pix2PixMethodConfig:
    return Pix2PixMethodConfig(
        model=Pix2PixModelConfig(TINY_G, TINY_D),
        data=Pix2PixDataConfig(root=str(root), load_size=36, crop_size=32, **data),
    )


def test_cityscapes_mode_gives_colour_label_maps_and_photos(tiny_root):
    dataset = build_dataset(_config(tiny_root).data)
    item = dataset[0]
    assert item["A"].shape == item["B"].shape == (3, 32, 32)
    colors = {tuple(c) for c in (item["A"].permute(1, 2, 0).reshape(-1, 3) * 255).round().int().tolist()}
    assert colors <= {tuple(c.color) for c in CITYSCAPES.classes}


def test_aligned_and_paired_modes(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "ab" / "train").mkdir(parents=True)
    for folder in ("A", "B"):
        (tmp_path / "pairs" / folder).mkdir(parents=True)
    for i in range(2):
        a, b = rng.integers(0, 256, (40, 40, 3), np.uint8), rng.integers(0, 256, (40, 40, 3), np.uint8)
        Image.fromarray(np.concatenate([a, b], axis=1)).save(tmp_path / "ab" / "train" / f"{i}.png")
        Image.fromarray(a).save(tmp_path / "pairs" / "A" / f"{i}.png")
        Image.fromarray(b).save(tmp_path / "pairs" / "B" / f"{i}.png")
    aligned = build_dataset(Pix2PixDataConfig(mode="aligned", root=str(tmp_path / "ab"), load_size=36, crop_size=32))
    paired = build_dataset(
        Pix2PixDataConfig(mode="paired", root=str(tmp_path / "pairs"), load_size=36, crop_size=32, direction="BtoA")
    )
    assert len(aligned) == len(paired) == 2
    assert aligned[0]["A"].shape == paired[0]["B"].shape == (3, 32, 32)


def test_crop_must_fit_the_generator():
    with pytest.raises(ValueError, match="multiple of 16"):
        Pix2PixMethodConfig(
            model=Pix2PixModelConfig(TINY_G, TINY_D), data=Pix2PixDataConfig(crop_size=40, load_size=40)
        )


# ----------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def trained(tiny_root, tmp_path_factory):
    """6 steps of a tiny pix2pix with the paper's schedule: constant, then linear decay to 0."""
    out = tmp_path_factory.mktemp("run") / "p2p"
    train = TrainConfig(
        out_dir=out,
        max_steps=6,
        lr_schedule="linear_decay",
        decay_start_step=3,
        log_every=1,
        sample_every=6,
        checkpoint_every=6,
        progress=False,
        tensorboard=False,
    )
    trainer = Trainer(Pix2PixMethod(_config(tiny_root)), train, build_dataset(_config(tiny_root).data))
    before = {name: {k: v.clone() for k, v in model.state_dict().items()} for name, model in trainer.models.items()}
    trainer.fit()
    after = {name: model.state_dict() for name, model in trainer.models.items()}
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return out, before, after, [m for m in metrics if "loss_g" in m]


def test_training_steps_update_both_networks(trained):
    _, before, after, metrics = trained
    for name in ("generator", "discriminator"):
        changed = [k for k, v in before[name].items() if v.is_floating_point() and not torch.equal(v, after[name][k])]
        assert changed, f"{name} did not change"
    assert len(metrics) == 6 and all(math.isfinite(m["loss_g"]) and math.isfinite(m["loss_d"]) for m in metrics)
    assert {"loss/g_gan", "loss/g_l1", "loss/d_real", "loss/d_fake"} <= set(metrics[0])


def test_lr_is_constant_then_linear_to_zero(trained):
    _, _, _, metrics = trained
    lrs = [m["lr/generator"] for m in metrics]
    assert lrs == pytest.approx([2e-4, 2e-4, 2e-4, 2e-4, 2e-4 * 2 / 3, 2e-4 / 3])
    assert [m["lr/discriminator"] for m in metrics] == pytest.approx(lrs)
    config = TrainConfig(max_steps=200, lr_schedule="linear_decay", decay_start_step=100)
    factors = [lr_factor(step, config) for step in range(201)]
    assert factors[:101] == [1.0] * 101 and factors[150] == pytest.approx(0.5) and factors[200] == 0.0
    assert all(a >= b for a, b in zip(factors, factors[1:], strict=False))


# ----------------------------------------------------------------------------- inference
def test_reflect_padding_of_any_width():
    x = torch.arange(37 * 91, dtype=torch.float32).view(1, 1, 37, 91)
    padded, (top, left, h, w) = reflect_pad_to_multiple(x, 256)
    assert padded.shape == (1, 1, 256, 256)
    assert torch.equal(padded[..., top : top + h, left : left + w], x)
    assert torch.equal(padded[..., top - 1, left : left + w], x[..., 1, :])  # mirrored, edge not repeated


def test_synthesize_and_translate_keep_odd_sizes(trained):
    out = trained[0]
    model = load_synthesizer(out, "cpu")
    assert isinstance(model, LayoutSynthesizer) and model.method == "pix2pix" and model.step == 6
    ids = np.full((37, 91), 7, np.uint8)
    ids[:12] = 23
    photos = model.synthesize(ids, 2)
    assert photos.shape == (2, 37, 91, 3) and photos.dtype == np.uint8
    assert model.translate_image(np.zeros((37, 91, 3), np.uint8)).shape == (37, 91, 3)
    resnet = LoadedPix2Pix(
        build_generator(generator_config_from_name("resnet_6blocks", ngf=4)).eval(),
        model.config,
        CITYSCAPES,
        0,
        Path("."),
    )
    assert resnet.size_multiple == 4 and resnet.translate_image(np.zeros((37, 91, 3), np.uint8)).shape == (37, 91, 3)


def test_test_time_dropout_makes_variants_and_is_recorded(trained):
    out = trained[0]
    ids = np.full((32, 32), 7, np.uint8)
    noisy = load_pix2pix(out, "cpu", test_dropout=True, seed=3)
    running = {k: v.clone() for k, v in noisy.model.state_dict().items()}
    variants = noisy.synthesize(ids, 3)
    assert not np.array_equal(variants[0], variants[1])  # dropout noise
    assert np.array_equal(variants, noisy.synthesize(ids, 3))  # seeded
    assert all(torch.equal(v, noisy.model.state_dict()[k]) for k, v in running.items())  # BN buffers untouched
    assert not noisy.model.training
    assert noisy.metadata["test_dropout"] is True and noisy.metadata["dropout_active"] is True
    plain = load_pix2pix(out, "cpu", test_dropout=False)
    same = plain.synthesize(ids, 2)
    assert np.array_equal(same[0], same[1]) and plain.metadata["test_dropout"] is False


def test_generator_test_mode_restores_modes():
    generator = build_generator(TINY_G).train()
    with generator_test_mode(generator, stochastic=True):
        assert all(m.training for m in generator.modules() if isinstance(m, (nn.Dropout, nn.BatchNorm2d)))
        assert not any(m.track_running_stats for m in generator.modules() if isinstance(m, nn.BatchNorm2d))
    assert all(m.training for m in generator.modules())
    assert all(m.track_running_stats for m in generator.modules() if isinstance(m, nn.BatchNorm2d))


def test_non_label_models_refuse_synthesize(trained):
    model = load_pix2pix(trained[0], "cpu")
    config = copy.deepcopy(model.config)
    config.data.mode = "aligned"
    aligned = LoadedPix2Pix(model.model, config, model.label_space, model.step, model.source)
    assert model.label_to_photo and not aligned.label_to_photo
    with pytest.raises(CheckpointError, match="translate"):
        aligned.synthesize(np.zeros((16, 16), np.uint8))


# ----------------------------------------------------------------------------- CLI
def test_cli_train_then_translate(tiny_root, tmp_path):
    runner = CliRunner()
    run = tmp_path / "run"
    result = runner.invoke(
        cli,
        [
            "train",
            "pix2pix",
            "--data",
            str(tiny_root),
            "--out",
            str(run),
            "--generator",
            "unet_16",
            "--ngf",
            "4",
            "--ndf",
            "4",
            "--n-layers-d",
            "1",
            "--load-size",
            "36",
            "--crop-size",
            "32",
            "--max-steps",
            "4",
            "--workers",
            "0",
            "--checkpoint-every",
            "4",
            "--no-amp",
        ],
    )
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["method"] == "pix2pix"
    train = config["train"]
    assert (train["lr"], train["betas"]) == (2e-4, [0.5, 0.999])
    assert (train["lr_schedule"], train["decay_start_step"]) == ("linear_decay", 2)  # max_steps // 2
    assert config["method_config"]["model"]["generator"]["depth"] == 4

    label = tmp_path / "in" / "scene_gtFine_color.png"
    label.parent.mkdir()
    Image.fromarray(CITYSCAPES.colorize(np.full((37, 91), 7, np.uint8))).save(label)
    result = runner.invoke(
        cli,
        [
            "translate",
            "--checkpoint",
            str(run),
            "--input",
            str(label.parent),
            "--out",
            str(tmp_path / "out"),
            "--variants",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out" / "scene_gtFine_color_v1.png").size == (91, 37)
    sidecar = json.loads((tmp_path / "out" / "scene_gtFine_color.json").read_text())
    assert sidecar["test_dropout"] is True and sidecar["step"] == 4 and sidecar["outputs"][1].endswith("_v1.png")
