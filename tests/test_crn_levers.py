"""The levers of the photographic-output work: CRN noise inputs and projection init, the
multi-scale discriminator, the conditional adversary and CRN trained with it."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from conftest import make_cityscapes_tree
from imsynth.data.datasets import CityscapesPairs
from imsynth.methods.adversary import AdversarialConfig, ConditionalAdversary
from imsynth.methods.crn import CRNDataConfig, CRNMethod, CRNMethodConfig, PerceptualLossConfig
from imsynth.models.crn import CRN, CRNConfig, grow
from imsynth.models.discriminators import MultiScaleDiscriminator, MultiScaleDiscriminatorConfig
from imsynth.training import TrainConfig, Trainer
from imsynth.training.context import TrainContext


def _labels(seed: int = 0, size=(16, 32), classes: int = 5) -> torch.Tensor:
    return torch.randint(0, classes, (1, *size), generator=torch.Generator().manual_seed(seed))


def test_noise_inputs_are_seeded_and_only_where_configured():
    cfg = CRNConfig(height=16, width=32, num_classes=5, num_variants=2, width_multiplier=1 / 64, noise_channels=3)
    assert cfg.module_noise_channels() == [0, 0, 0]  # modules of 4, 8 and 16 rows: all below 32
    cfg = dataclasses.replace(cfg, noise_min_height=8)
    assert cfg.module_noise_channels() == [0, 3, 3]
    torch.manual_seed(0)
    model = CRN(cfg)
    assert model.cascade[0].conv1.conv.in_channels == 6  # 5 classes + void, no noise
    assert model.cascade[1].conv1.conv.in_channels == model.cascade[0].conv2.conv.out_channels + 6 + 3
    labels = _labels()
    first, again = model.synthesize(labels, noise_seed=1), model.synthesize(labels, noise_seed=1)
    other = model.synthesize(labels, noise_seed=2)
    assert torch.equal(first, again)
    assert (first - other).abs().max() > 1e-4
    grown = grow(model)  # the 32-row module is added with noise too; old modules keep their weights
    assert grown.config.module_noise_channels() == [0, 3, 3, 3]
    assert torch.equal(grown.cascade[1].conv1.conv.weight, model.cascade[1].conv1.conv.weight)


def test_without_noise_the_seed_changes_nothing():
    torch.manual_seed(0)
    model = CRN(CRNConfig(height=16, width=32, num_classes=5, num_variants=1, width_multiplier=1 / 64))
    labels = _labels()
    assert torch.equal(model.synthesize(labels, noise_seed=0), model.synthesize(labels, noise_seed=5))


def test_xavier_projection_makes_untrained_outputs_as_varied_as_photos():
    torch.manual_seed(0)
    small = CRN(CRNConfig(height=32, width=64, num_classes=5, num_variants=3, width_multiplier=1 / 16))
    torch.manual_seed(0)
    xavier = CRN(dataclasses.replace(small.config, projection_init="xavier"))
    labels = _labels(size=(32, 64))
    with torch.no_grad():
        assert small(labels).std() < 0.05  # near mid-gray
        assert xavier(labels).std() > 0.15  # a photo's standard deviation is about 0.2
    with pytest.raises(ValueError, match="projection_init"):
        CRNConfig(height=16, width=32, projection_init="kaiming")


def test_multiscale_discriminator_returns_every_layer_of_every_scale():
    config = MultiScaleDiscriminatorConfig(ndf=8, n_layers=2, num_scales=3)
    disc = MultiScaleDiscriminator(6 + 3, config)
    outputs = disc(torch.rand(2, 9, 64, 64))
    assert len(outputs) == 3
    assert [len(scale) for scale in outputs] == [4, 4, 4]  # 3 conv blocks + the logits
    assert outputs[0][-1].shape[:2] == (2, 1)
    assert outputs[1][0].shape[-1] == outputs[0][0].shape[-1] // 2  # the second scale sees half the size


def test_adversary_trains_d_and_sends_gradients_only_to_the_generator():
    torch.manual_seed(0)
    adversary = ConditionalAdversary(
        AdversarialConfig(weight=1.0, discriminator=MultiScaleDiscriminatorConfig(ndf=8, n_layers=2)), 4
    )
    disc = adversary.build_discriminator()
    adversary.make_optimizer(disc, 1e-3)
    ctx = TrainContext(device=torch.device("cpu"))
    labels = torch.nn.functional.one_hot(torch.randint(0, 4, (2, 32, 32)), 4).permute(0, 3, 1, 2).float()
    real = torch.rand(2, 3, 32, 32) * 0.2 + 0.6  # bright "photos"
    fakes = torch.rand(2, 3, 3, 32, 32) * 0.2  # dark fakes, k = 3
    first = adversary.discriminator_step(ctx, disc, labels, real, fakes)["loss_d"].item()
    for _ in range(15):
        last = adversary.discriminator_step(ctx, disc, labels, real, fakes)["loss_d"].item()
    assert last < 0.5 * first  # D learns to tell them apart
    fakes.requires_grad_(True)
    disc.zero_grad(set_to_none=True)
    loss, terms = adversary.generator_terms(disc, labels, real, fakes)
    loss.backward()
    assert set(terms) == {"g_adv", "g_fm"} and terms["g_fm"] > 0
    assert fakes.grad is not None and fakes.grad.abs().sum() > 0
    assert all(p.grad is None for p in disc.parameters())
    assert all(p.requires_grad for p in disc.parameters())  # unfrozen again


def _tiny_config(root, **adversarial) -> CRNMethodConfig:
    return CRNMethodConfig(
        model=CRNConfig(
            height=32,
            width=64,
            num_variants=2,
            width_multiplier=1 / 64,
            noise_channels=2,
            noise_min_height=16,
            projection_init="xavier",
        ),
        loss=PerceptualLossConfig(
            backbone="efficientnet_lite0", texture_weights=[5.0, 0.04, 0.01, 0.01, 0.02, 0.03], image_downsample=4
        ),
        data=CRNDataConfig(root=str(root)),
        adversarial=AdversarialConfig(**adversarial),
    )


def _train(root, out, steps, resume=False, **adversarial):
    train = TrainConfig(
        out_dir=out,
        max_steps=steps,
        lr=1e-3,
        betas=(0.9, 0.999),
        log_every=1,
        sample_every=100,
        checkpoint_every=3,
        progress=False,
        tensorboard=False,
        deterministic=True,
    )
    method = CRNMethod(_tiny_config(root, **adversarial))
    Trainer(method, train, CityscapesPairs(root, "train", size=(32, 64)), resume=resume).fit()
    return method


def test_crn_with_texture_noise_and_adversary_trains_and_resumes_exactly(tmp_path):
    torch.set_num_threads(1)
    root = tmp_path / "data"
    make_cityscapes_tree(root, 3, size=(32, 64), split="train")
    adversarial = {"weight": 1.0, "discriminator": MultiScaleDiscriminatorConfig(ndf=8, n_layers=2)}
    whole = _train(root, tmp_path / "whole", 6, **adversarial)
    _train(root, tmp_path / "split", 3, **adversarial)
    resumed = _train(root, tmp_path / "split", 6, resume=True, **adversarial)
    for name in ("generator", "discriminator"):
        a, b = whole.models()[name].state_dict(), resumed.models()[name].state_dict()
        assert all(torch.equal(a[key], b[key]) for key in a), name
    log = (tmp_path / "whole" / "metrics.jsonl").read_text()
    for key in ("loss_d", "loss/g_adv", "loss/g_fm", "loss/texture0", "loss/layer1"):
        assert f'"{key}"' in log


def test_images_too_small_for_the_discriminator_are_refused_clearly(tmp_path):
    config = MultiScaleDiscriminatorConfig(ndf=4, n_layers=3, num_scales=2)
    assert config.smallest_side() == 47  # 3 halvings and two 4x4 layers after one more halving
    disc = MultiScaleDiscriminator(7, config)
    disc(torch.rand(1, 7, 47, 47))  # the smallest side it judges
    with pytest.raises((RuntimeError, ValueError)):
        disc(torch.rand(1, 7, 46, 46))
    small = _tiny_config(tmp_path, weight=1.0)
    small.model = dataclasses.replace(small.model, height=16, width=32)
    with pytest.raises(ValueError, match="judges images of at least 47x47, not 16x32.*adversarial.weight=0"):
        CRNMethod(small)
