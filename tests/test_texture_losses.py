"""Per-class texture statistics, the texture-strength probe, and the diversity loss's new terms."""

from __future__ import annotations

import pytest
import torch

from imsynth.losses.perceptual import DiversityLoss
from imsynth.losses.texture import (
    calibrate_texture_weights,
    class_gram_matrices,
    class_moments,
    class_texture_distance,
)
from imsynth.losses.texture_curve import best_strength, scale_texture, texture_strength_curve


class PoolExtractor(torch.nn.Module):
    """Two 'layers': the image at half and quarter resolution (no weights)."""

    default_layer_weights = [1.0, 1.0, 1.0]

    def forward(self, images):
        return [torch.nn.functional.avg_pool2d(images, 2), torch.nn.functional.avg_pool2d(images, 4)]


def _two_class_masks(b: int = 1, size: int = 16) -> torch.Tensor:
    masks = torch.zeros(b, 2, size, size)
    masks[:, 0, :, : size // 2] = 1
    masks[:, 1, :, size // 2 :] = 1
    return masks


def test_class_moments_known_values():
    features = torch.zeros(1, 2, 4, 4)
    features[0, 0, :, :2] = 3.0  # class 0: constant 3
    features[0, 0, :, 2:] = torch.tensor([1.0, -1.0]).repeat(4, 1)  # class 1: +-1 -> mean 0, std 1
    features[0, 1] = 2.0
    masks = _two_class_masks(size=4)
    mean, std, area = class_moments(features, masks)
    assert torch.allclose(mean[0, :, 0], torch.tensor([3.0, 0.0]))
    assert torch.allclose(std[0, :, 0], torch.tensor([0.0, 1.0]), atol=1e-3)
    assert torch.allclose(mean[0, :, 1], torch.tensor([2.0, 2.0]))
    assert torch.allclose(area[0], torch.tensor([0.5, 0.5]))
    grams, _ = class_gram_matrices(features, masks)
    assert grams[0, 0, 0, 0] == pytest.approx(9.0) and grams[0, 1, 0, 0] == pytest.approx(1.0)
    assert grams[0, 1, 0, 1] == pytest.approx(0.0) and grams[0, 0, 0, 1] == pytest.approx(6.0)


@pytest.mark.parametrize("statistics", ["meanstd", "gram"])
def test_texture_distance_ignores_where_a_pattern_lies_but_l1_does_not(statistics):
    """Shifting the texture inside its region leaves the statistics alone: the point of the term."""
    torch.manual_seed(0)
    real = torch.rand(1, 3, 16, 16)
    masks = torch.ones(1, 1, 16, 16)
    shifted = torch.roll(real, shifts=(5, 3), dims=(-2, -1))  # one region: a cyclic shift keeps it
    assert class_texture_distance(shifted, real, masks, statistics).abs().max() < 1e-5
    assert (shifted - real).abs().mean() > 0.2
    flat = real.mean(dim=(-2, -1), keepdim=True).expand_as(real)
    assert class_texture_distance(flat, real, masks, statistics).item() > 0.01


def test_texture_distance_groups_k_fakes_per_layout_and_gives_gradients():
    torch.manual_seed(1)
    real = torch.rand(2, 4, 8, 8)
    fakes = torch.rand(2 * 3, 4, 8, 8, requires_grad=True)
    masks = _two_class_masks(2, 8)
    distance = class_texture_distance(fakes, real, masks)
    assert distance.shape == (2, 3, 2)
    alone = class_texture_distance(fakes[3:4], real[1:2], masks[1:2])  # layout 1, variant 0
    assert torch.allclose(distance[1, 0], alone[0, 0])
    distance.sum().backward()
    assert fakes.grad is not None and fakes.grad.abs().sum() > 0


def test_texture_distance_rejects_unknown_statistics():
    with pytest.raises(ValueError, match="unknown texture statistics"):
        class_texture_distance(torch.rand(1, 2, 4, 4), torch.rand(1, 2, 4, 4), torch.ones(1, 1, 4, 4), "median")


def test_diversity_loss_texture_terms_and_lowpass_image_term():
    torch.manual_seed(2)
    fakes, real, masks = torch.rand(2, 3, 3, 16, 16), torch.rand(2, 3, 16, 16), _two_class_masks(2)
    plain = DiversityLoss(PoolExtractor())
    textured = DiversityLoss(PoolExtractor(), texture_weights=[0.5, 0.0, 2.0])
    loss, terms = textured(fakes, real, masks)
    assert set(terms) == {"layer0", "layer1", "layer2", "texture0", "texture2"}
    assert loss.item() == pytest.approx(sum(t.item() for t in terms.values()), rel=1e-5)
    assert loss.item() > plain(fakes, real, masks)[0].item()
    # image term at 1/4: equals the plain term of the 4x4-averaged images
    lowpass = DiversityLoss(PoolExtractor(), layer_weights=[1.0, 0.0, 0.0], image_downsample=4)
    reference = DiversityLoss(PoolExtractor(), layer_weights=[1.0, 0.0, 0.0])
    pooled = torch.nn.functional.avg_pool2d
    expected = reference(pooled(fakes.flatten(0, 1), 4).view(2, 3, 3, 4, 4), pooled(real, 4), masks)[0]
    assert lowpass(fakes, real, masks)[0].item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="texture weights"):
        DiversityLoss(PoolExtractor(), texture_weights=[1.0])


def test_scale_texture_flattens_and_restores_each_region():
    torch.manual_seed(3)
    images, masks = torch.rand(1, 3, 16, 16) * 0.5 + 0.25, _two_class_masks()
    assert torch.allclose(scale_texture(images, masks, 1.0), images)
    flat = scale_texture(images, masks, 0.0)
    assert flat[..., :8].std(dim=(-2, -1)).max() < 1e-6 and flat[..., 8:].std(dim=(-2, -1)).max() < 1e-6
    assert torch.allclose(flat[..., :8].mean(dim=(-2, -1)), images[..., :8].mean(dim=(-2, -1)), atol=1e-6)
    assert scale_texture(images, masks, 1.5)[..., :8].std() > images[..., :8].std()


def test_a_pixel_loss_prefers_flat_a_texture_loss_the_real_strength():
    """Against a photo whose texture has another phase: L1 is lowest flat, mean/std statistics at s = 1."""
    torch.manual_seed(4)
    masks = _two_class_masks()
    base = torch.tensor([0.3, 0.5, 0.7]).view(1, 3, 1, 1)
    reference = (base + 0.2 * torch.randn(1, 1, 16, 16)).clamp(0, 1)
    other = (base + 0.2 * torch.randn(1, 1, 16, 16)).clamp(0, 1)
    strengths = (0.0, 0.5, 1.0, 1.5)

    def pixel(f, r, m):
        return DiversityLoss(PoolExtractor(), layer_weights=[1.0, 0.0, 0.0])(f, r, m)[0]

    def texture(f, r, m):
        return DiversityLoss(PoolExtractor(), layer_weights=[0, 0, 0], texture_weights=[1, 1, 1])(f, r, m)[0]

    assert best_strength(texture_strength_curve(pixel, reference, other, masks, strengths), strengths) == 0.0
    assert best_strength(texture_strength_curve(texture, reference, other, masks, strengths), strengths) == 1.0


def test_calibrated_texture_weights_equalise_the_terms():
    torch.manual_seed(5)
    pairs = [(torch.rand(3, 16, 16), torch.rand(3, 16, 16)) for _ in range(2)]
    weights = calibrate_texture_weights(PoolExtractor(), pairs)
    assert len(weights) == 3 and all(w > 0 for w in weights)
    image_term = sum(float((a - b).abs().mean()) for a, b in pairs) / 2
    mask = torch.ones(1, 1, 16, 16)
    level0 = sum(float(class_texture_distance(b[None], a[None], mask).mean()) for a, b in pairs) / 2
    assert weights[0] * level0 == pytest.approx(image_term, rel=1e-5)


def _recipe_criterion(recipe: str):
    import dataclasses

    from imsynth.methods.crn import CRNMethod, PerceptualLossConfig, build_criterion, build_loss_network

    layer = dict(CRNMethod.recipe_named(recipe).method_config.get("loss", {}))
    config = dataclasses.replace(PerceptualLossConfig(backbone="efficientnet_lite0"), **layer)
    return build_criterion(config, num_variants=3, extractor=build_loss_network(config))


@pytest.mark.slow
def test_default_crn_loss_is_lowest_at_full_texture_and_the_papers_is_not():
    """Issue 13: the default loss's texture-strength curve (B = another photo of the layout) has its
    minimum at s >= 0.9; the paper's own loss prefers flatter regions (which is why it was changed)."""
    from imsynth.losses.texture_curve import street_probe

    torch.manual_seed(0)
    reference, source, masks = street_probe(3, (64, 128))
    strengths = (0.5, 0.75, 0.9, 1.0, 1.1, 1.25)
    curves = {}
    with torch.no_grad():
        for recipe in ("default", "paper"):
            criterion = _recipe_criterion(recipe)
            loss = lambda f, r, m, c=criterion: c(f, r, m)[0]  # noqa: E731
            curves[recipe] = texture_strength_curve(loss, reference, source, masks, strengths)
    assert best_strength(curves["default"], strengths) >= 0.9
    assert best_strength(curves["paper"], strengths) < 0.9
    # Flat regions cost the default loss clearly more than the paper's (relative to s = 1).
    at_one = strengths.index(1.0)
    assert curves["default"][0] / curves["default"][at_one] > curves["paper"][0] / curves["paper"][at_one] + 0.1
