"""Cascaded Refinement Network (Chen & Koltun 2017): config, layers, label maps, model, growth."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from imsynth.models.crn import (
    CRN,
    MIN_WIDTH,
    CRNConfig,
    CRNModule,
    grow,
    reference_width,
    to_uint8,
)
from imsynth.nn.blocks import ConvNormAct, ResidualBlock
from imsynth.nn.labelmaps import (
    add_void_channel,
    label_pyramid,
    one_hot_with_void,
    resize_label_ids,
    to_label_channels,
)
from imsynth.nn.norm import LayerNorm2d

TINY = 1 / 64  # widths 16 (h <= 64) and 8 (the minimum) above


def tiny_crn(height: int = 32, width: int = 64, k: int = 3, classes: int = 5, **kw) -> CRN:
    torch.manual_seed(0)
    return CRN(CRNConfig(height, width, num_classes=classes, num_variants=k, width_multiplier=TINY, **kw))


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "size, modules",
    [((64, 128), 5), ((128, 256), 6), ((256, 512), 7), ((512, 1024), 8), ((1024, 2048), 9)],
)
def test_module_count_and_sizes(size: tuple[int, int], modules: int) -> None:
    cfg = CRNConfig(*size)
    assert cfg.num_modules == modules
    sizes = cfg.module_sizes()
    assert sizes[0] == (4, 8) and sizes[-1] == size
    assert all(h == 4 * 2**i and w == 2 * h for i, (h, w) in enumerate(sizes))


def test_other_base_size() -> None:
    cfg = CRNConfig(64, 64, base_height=4, base_width=4)
    assert cfg.num_modules == 5 and cfg.module_sizes()[0] == (4, 4)
    cfg = CRNConfig(96, 128, base_height=6, base_width=8)
    assert cfg.num_modules == 5 and cfg.module_sizes()[-1] == (96, 128)


@pytest.mark.parametrize("size", [(100, 200), (256, 256), (256, 1024), (2, 4), (0, 0)])
def test_invalid_size_is_a_clear_error(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="power of two|base size"):
        CRNConfig(*size)


def test_reference_width_table() -> None:
    assert [reference_width(4 * 2**i) for i in range(9)] == [1024] * 5 + [512, 512, 128, 32]
    assert CRNConfig(256, 512).module_widths() == [1024] * 5 + [512, 512]
    assert CRNConfig(512, 1024).module_widths() == [1024] * 5 + [512, 512, 128]
    assert CRNConfig(1024, 2048).module_widths() == [1024] * 5 + [512, 512, 128, 32]


def test_width_multiplier_and_override() -> None:
    cfg = CRNConfig(1024, 2048, width_multiplier=1 / 16)
    assert cfg.module_widths() == [64] * 5 + [32, 32, MIN_WIDTH, MIN_WIDTH]
    cfg = CRNConfig(32, 64, widths=[7, 6, 5, 4])
    assert cfg.widths == (7, 6, 5, 4) and cfg.module_widths() == [7, 6, 5, 4]
    with pytest.raises(ValueError, match="widths"):
        CRNConfig(32, 64, widths=(8, 8))


def test_config_json_round_trip() -> None:
    cfg = CRNConfig(32, 64, num_classes=7, widths=(9, 9, 9, 9), activation_checkpointing=True)
    again = CRNConfig(**json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


# --------------------------------------------------------------------------- layers


def test_layer_norm_matches_hand_computation() -> None:
    torch.manual_seed(1)
    x = torch.randn(3, 4, 5, 6) * 3 + 2
    norm = LayerNorm2d(4)
    assert norm.weight.shape == (4,) and norm.bias.shape == (4,)
    assert torch.equal(norm.weight, torch.ones(4)) and torch.equal(norm.bias, torch.zeros(4))
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([1.0, 2.0, -1.0, 0.5]))
        norm.bias.copy_(torch.tensor([0.0, 1.0, 2.0, -3.0]))
    expected = torch.empty_like(x)
    for b in range(3):
        sample = x[b]
        mean = sample.mean()
        var = ((sample - mean) ** 2).mean()  # biased, over all of (C, H, W)
        for c in range(4):
            expected[b, c] = (sample[c] - mean) / torch.sqrt(var + 1e-5) * norm.weight[c] + norm.bias[c]
    torch.testing.assert_close(norm(x), expected, rtol=1e-5, atol=1e-5)


def test_layer_norm_is_group_norm_within_1e6_of_the_hand_written_layer() -> None:
    """The swap to ``nn.GroupNorm(1, C)``: same parameter names, outputs within 1e-6 of the former code."""
    import torch.nn.functional as F

    torch.manual_seed(3)
    norm = LayerNorm2d(16)
    assert isinstance(norm, nn.GroupNorm) and norm.num_groups == 1
    assert [name for name, _ in norm.named_parameters()] == ["weight", "bias"]
    with torch.no_grad():
        norm.weight.copy_(torch.randn(16))
        norm.bias.copy_(torch.randn(16))
    for shape in [(2, 16, 8, 16), (1, 16, 33, 7), (4, 16, 64, 128)]:
        x = torch.randn(shape) * 4 + 1
        former = F.layer_norm(x, x.shape[1:], eps=1e-5) * norm.weight.view(1, -1, 1, 1) + norm.bias.view(1, -1, 1, 1)
        assert (norm(x) - former).abs().max().item() < 1e-6
    state = {"weight": torch.full((16,), 2.0), "bias": torch.full((16,), -1.0)}
    norm.load_state_dict(state)  # a state dict of the hand-written layer loads unchanged
    assert torch.equal(norm.weight, state["weight"])


def test_layer_norm_is_resolution_independent() -> None:
    norm = LayerNorm2d(3)
    assert norm(torch.randn(2, 3, 4, 8)).shape == (2, 3, 4, 8)
    assert norm(torch.randn(1, 3, 17, 5)).shape == (1, 3, 17, 5)
    with pytest.raises(ValueError):
        norm(torch.randn(1, 4, 4, 4))


def test_conv_norm_act_defaults_are_a_crn_layer() -> None:
    block = ConvNormAct(5, 6)
    assert block.conv.kernel_size == (3, 3) and block.conv.padding == (1, 1) and block.conv.bias is None
    assert isinstance(block.norm, LayerNorm2d)
    assert isinstance(block.act, nn.LeakyReLU) and block.act.negative_slope == 0.2
    assert block(torch.randn(2, 5, 7, 9)).shape == (2, 6, 7, 9)


def test_dilated_grouped_and_residual_blocks() -> None:
    block = ConvNormAct(8, 8, 3, dilation=4, groups=8, norm="batch", activation="relu")
    assert block.conv.padding == (4, 4) and block.conv.groups == 8
    assert block(torch.randn(2, 8, 11, 13)).shape == (2, 8, 11, 13)
    plain = ConvNormAct(4, 6, 1, norm="none", activation="none")
    assert plain.conv.bias is not None
    down = ConvNormAct(4, 6, 3, stride=2, norm="instance")
    assert down(torch.randn(1, 4, 16, 16)).shape == (1, 6, 8, 8)
    res = ResidualBlock(6, dilation=2, padding_mode="reflect")
    x = torch.randn(2, 6, 9, 9)
    assert res(x).shape == x.shape
    with torch.no_grad():  # zeroing the second norm's scale makes the block the identity
        res.body[1].norm.weight.zero_()
    torch.testing.assert_close(res(x), x)
    with pytest.raises(ValueError):
        ConvNormAct(4, 4, norm="bogus")


# --------------------------------------------------------------------------- label maps


def test_one_hot_with_void_sums_to_one() -> None:
    ids = torch.tensor([[[0, 1, 2], [255, 1, 0]]])
    maps = one_hot_with_void(ids, num_classes=3)
    assert maps.shape == (1, 4, 2, 3) and maps.dtype == torch.float32
    assert torch.equal(maps.sum(1), torch.ones(1, 2, 3))
    assert maps[0, 3, 1, 0] == 1  # ignore index -> void channel
    assert maps[0, 2, 0, 2] == 1
    with pytest.raises(ValueError, match="ignore_index"):
        one_hot_with_void(torch.tensor([[[0, 7]]]), num_classes=3)


def test_float_label_inputs() -> None:
    maps = one_hot_with_void(torch.randint(0, 4, (2, 5, 6)), num_classes=4)
    assert to_label_channels(maps, 4) is maps
    torch.testing.assert_close(to_label_channels(maps[:, :4], 4), maps)
    soft = torch.full((1, 2, 3, 3), 0.3)
    torch.testing.assert_close(add_void_channel(soft)[:, 2], torch.full((1, 3, 3), 0.4))
    with pytest.raises(ValueError):
        to_label_channels(torch.zeros(1, 7, 3, 3), 4)


def test_area_downsampling_gives_class_fractions() -> None:
    # 4 x 8 map, 2 classes + void. Left 2x2 block: 3 px class 0, 1 px void.
    ids = torch.tensor(
        [
            [0, 0, 1, 1, 0, 1, 1, 1],
            [0, 255, 1, 1, 1, 0, 1, 1],
            [1, 1, 1, 1, 0, 0, 0, 0],
            [1, 1, 1, 1, 0, 0, 0, 255],
        ]
    )[None]
    maps = one_hot_with_void(ids, num_classes=2)
    half, quarter, full = label_pyramid(maps, [(2, 4), (1, 2), (4, 8)])
    assert torch.equal(full, maps)  # the finest level is the map itself
    expected_half = torch.tensor(
        [  # per 2x2 block: fractions of (class 0, class 1, void)
            [[0.75, 0, 0.5, 0], [0, 0, 1, 0.75]],
            [[0, 1, 0.5, 1], [1, 1, 0, 0]],
            [[0.25, 0, 0, 0], [0, 0, 0, 0.25]],
        ]
    )
    torch.testing.assert_close(half[0], expected_half)
    expected_quarter = torch.tensor(
        [[3 / 16, 9 / 16], [12 / 16, 6 / 16], [1 / 16, 1 / 16]]
    )  # left 4x4: 3 class-0 px; right 4x4: 9 class-0 px
    torch.testing.assert_close(quarter[0, :, 0], expected_quarter)
    for level in (half, quarter):
        torch.testing.assert_close(level.sum(1), torch.ones_like(level[:, 0]))
    # direct area resampling (no 2x chain) gives the same fractions
    torch.testing.assert_close(label_pyramid(maps, [(1, 2)])[0], quarter)


def test_resize_label_ids_keeps_hard_labels() -> None:
    ids = torch.randint(0, 5, (2, 37, 91))
    small = resize_label_ids(ids, (8, 16))
    assert small.shape == (2, 8, 16) and small.dtype == ids.dtype
    assert set(small.unique().tolist()) <= set(ids.unique().tolist())


# --------------------------------------------------------------------------- model


@pytest.mark.parametrize("size", [(32, 64), (64, 128)])
def test_forward_shapes(size: tuple[int, int]) -> None:
    model = tiny_crn(*size, k=3)
    assert len(model.cascade) == model.config.num_modules
    ids = torch.randint(0, 5, (2, *size))
    out = model(ids)
    assert out.shape == (2, 3, 3, *size)
    # untrained output is near mid-gray
    assert abs(out.mean().item() - 0.5) < 0.05 and out.std().item() < 0.1


def test_module_input_widths() -> None:
    model = tiny_crn(32, 64, classes=5)
    widths = model.config.module_widths()
    assert model.cascade[0].conv1.conv.in_channels == 6
    for i in range(1, 4):
        assert model.cascade[i].conv1.conv.in_channels == widths[i - 1] + 6
        assert model.cascade[i].conv2.conv.out_channels == widths[i]


def test_gradient_reaches_every_module() -> None:
    model = tiny_crn(32, 64)
    model(torch.randint(0, 5, (2, 32, 64))).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_convs_have_no_bias_and_projection_is_last() -> None:
    model = tiny_crn(32, 64, k=3)
    for module in model.cascade.modules():
        if isinstance(module, nn.Conv2d):
            assert module.bias is None and module.kernel_size == (3, 3)
    proj = model.projection
    assert proj.kernel_size == (1, 1) and proj.bias is not None and proj.out_channels == 9
    assert list(model.children())[-1] is proj


def test_channel_layout_and_nothing_after_projection() -> None:
    model = tiny_crn(32, 64, k=3)
    captured: list[torch.Tensor] = []
    model.projection.register_forward_hook(lambda m, i, o: captured.append(o))
    out = model(torch.randint(0, 5, (2, 32, 64)))
    raw = captured[0]
    k = 3
    for j in range(k):
        for c in range(3):
            torch.testing.assert_close(out[:, j, c], (raw[:, c * k + j] + 1) / 2)


def test_outputs_are_not_clipped_in_forward() -> None:
    model = tiny_crn(32, 64, k=1)
    with torch.no_grad():
        model.projection.bias.fill_(3.0)  # raw y = 3 -> (y + 1) / 2 = 2
    out = model(torch.randint(0, 5, (1, 32, 64)))
    assert out.min() > 1.5
    shown = model.synthesize(torch.randint(0, 5, (1, 32, 64)))
    assert shown.max() == 1.0 and not shown.requires_grad
    assert to_uint8(shown).dtype == torch.uint8 and to_uint8(shown).max() == 255


@pytest.mark.parametrize("size", [(37, 91), (100, 30), (32, 64), (5, 7)])
def test_any_input_size(size: tuple[int, int]) -> None:
    model = tiny_crn(32, 64, k=2)
    assert model(torch.randint(0, 5, (1, *size))).shape == (1, 2, 3, *size)
    onehot = one_hot_with_void(torch.randint(0, 5, (1, *size)), 5)
    assert model(onehot).shape == (1, 2, 3, *size)
    assert model(onehot, out_size=(20, 30)).shape == (1, 2, 3, 20, 30)


def test_ids_and_one_hot_inputs_agree() -> None:
    model = tiny_crn(32, 64)
    ids = torch.randint(0, 5, (2, 32, 64))
    ids[0, :4, :4] = 255
    torch.testing.assert_close(model(ids), model(one_hot_with_void(ids, 5)))
    torch.testing.assert_close(model(ids), model(ids[:, None]))


def test_module_upsamples_with_align_corners() -> None:
    module = CRNModule(2 + 3, 4)
    prev = torch.randn(1, 2, 4, 8)
    labels = torch.rand(1, 3, 8, 16)
    up = F.interpolate(prev, size=(8, 16), mode="bilinear", align_corners=True)
    expected = module.conv2(module.conv1(torch.cat([up, labels], 1)))
    torch.testing.assert_close(module(labels, prev), expected)


def test_grow_adds_a_module_and_keeps_weights() -> None:
    model = tiny_crn(32, 64, k=3)
    bigger = grow(model)
    assert bigger.config.num_modules == 5 and bigger.grid_size == (64, 128)
    assert len(bigger.cascade) == 5
    for old, new in zip(model.cascade, bigger.cascade, strict=False):
        for (name, a), (_, b) in zip(old.state_dict().items(), new.state_dict().items(), strict=True):
            assert torch.equal(a, b), name
    assert bigger.projection.in_channels == bigger.config.module_widths()[-1]
    assert bigger(torch.randint(0, 5, (1, 64, 128))).shape == (1, 3, 3, 64, 128)
    explicit = grow(tiny_crn(32, 64, widths=(12, 10, 9, 8)), new_width=6)
    assert explicit.config.widths == (12, 10, 9, 8, 6) and explicit.cascade[4].conv2.conv.out_channels == 6


def test_activation_checkpointing_gives_identical_gradients() -> None:
    model = tiny_crn(32, 64)
    checkpointed = copy.deepcopy(model)
    checkpointed.config = CRNConfig(**{**model.config.to_dict(), "activation_checkpointing": True})
    ids = torch.randint(0, 5, (2, 32, 64))
    out_a = model(ids)
    out_b = checkpointed(ids)
    torch.testing.assert_close(out_a, out_b, rtol=0, atol=0)
    out_a.square().mean().backward()
    out_b.square().mean().backward()
    for (name, a), b in zip(model.named_parameters(), checkpointed.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0, msg=name)
