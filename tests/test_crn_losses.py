"""CRN losses (Chen & Koltun 2017): feature matching (Eq. 1) and the diversity loss (Sec. 3.4)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from imsynth.losses import DiversityLoss, FeatureExtractor, FeatureMatchingLoss
from imsynth.nn.labelmaps import one_hot_with_void


class PoolExtractor(nn.Module):
    """Fake extractor: layer 1 = 2x2 average pool, layer 2 = 1x1 conv (fixed) of a 4x4 pool.

    Every feature depends only on the pixels of its own 2x2 / 4x4 block, which keeps the
    class-selection construction below exact. Records the batch size of every call.
    """

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(123)
        self.conv = nn.Conv2d(3, 4, 1)
        self.conv.requires_grad_(False)
        self.default_layer_weights = [1.0, 0.5, 0.25]
        self.calls: list[int] = []

    def forward(self, images: Tensor) -> list[Tensor]:
        self.calls.append(images.size(0))
        return [F.avg_pool2d(images, 2), self.conv(F.avg_pool2d(images, 4))]


def test_fake_extractor_fits_the_contract() -> None:
    assert isinstance(PoolExtractor(), FeatureExtractor)


# --------------------------------------------------------------------------- feature matching


def test_feature_matching_hand_value() -> None:
    class Identity2(nn.Module):  # layer 1 = the image, layer 2 = its 2x2 average pool
        default_layer_weights = [1.0, 2.0, 4.0]

        def forward(self, images: Tensor) -> list[Tensor]:
            return [images, F.avg_pool2d(images, 2)]

    real = torch.zeros(1, 3, 2, 2)
    fake = torch.zeros(1, 3, 2, 2)
    fake[:, :, 0, 0] = 1.0  # one pixel of four is off by 1 in every channel
    loss, terms = FeatureMatchingLoss(Identity2())(fake, real)
    # layer 0: mean |diff| = 1/4; layer 1: the same; layer 2: pooled diff 1/4 everywhere
    assert loss.item() == pytest.approx(1.0 * 0.25 + 2.0 * 0.25 + 4.0 * 0.25)
    assert set(terms) == {"layer0", "layer1", "layer2"}
    assert terms["layer2"].item() == pytest.approx(1.0)


def test_feature_matching_formula_and_weights() -> None:
    torch.manual_seed(0)
    extractor = PoolExtractor()
    real, fake = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    loss, terms = FeatureMatchingLoss(extractor)(fake, real)
    r1, r2 = extractor(real)
    f1, f2 = extractor(fake)
    expected = (real - fake).abs().mean() + 0.5 * (r1 - f1).abs().mean() + 0.25 * (r2 - f2).abs().mean()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(sum(terms.values()), loss)
    custom, custom_terms = FeatureMatchingLoss(extractor, layer_weights=[0.0, 1.0, 0.0])(fake, real)
    torch.testing.assert_close(custom, (r1 - f1).abs().mean())
    assert set(custom_terms) == {"layer1"}
    with pytest.raises(ValueError, match="layer weights"):
        FeatureMatchingLoss(extractor, layer_weights=[1.0, 1.0])(fake, real)


def test_feature_matching_gradient_only_through_fake() -> None:
    real = torch.rand(1, 3, 8, 8, requires_grad=True)
    fake = torch.rand(1, 3, 8, 8, requires_grad=True)
    FeatureMatchingLoss(PoolExtractor())(fake, real)[0].backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert real.grad is None


# --------------------------------------------------------------------------- diversity


def brute_force_diversity(
    extractor: nn.Module, fakes: Tensor, real: Tensor, masks: Tensor, weights: list[float], a: float, b: float
) -> float:
    """Sec. 3.4 written out with loops: per (sample, class, image, layer)."""
    batch, k = fakes.shape[:2]
    num_classes = masks.size(1)
    real_levels = [real, *extractor(real)]
    total = 0.0
    for n in range(batch):
        fake_levels = [[fakes[n, j : j + 1], *extractor(fakes[n, j : j + 1])] for j in range(k)]
        for p in range(num_classes):
            per_image = []
            for j in range(k):
                value = 0.0
                for l, weight in enumerate(weights):
                    r = real_levels[l][n]
                    f = fake_levels[j][l][0]
                    _, h, w = r.shape
                    factor = masks.size(-1) // w  # block size of this layer
                    acc = 0.0
                    for y in range(h):
                        for x in range(w):
                            block = masks[n, p, y * factor : (y + 1) * factor, x * factor : (x + 1) * factor]
                            acc += block.mean().item() * (r[:, y, x] - f[:, y, x]).abs().mean().item()
                    value += weight * acc / (h * w)
                per_image.append(value)
            total += a * min(per_image) + b * sum(per_image) / k
    return total / batch


def test_diversity_matches_brute_force() -> None:
    torch.manual_seed(0)
    extractor = PoolExtractor()
    ids = torch.randint(0, 3, (2, 8, 8))
    ids[0, 0, :3] = 255
    masks = one_hot_with_void(ids, 3)
    real, fakes = torch.rand(2, 3, 8, 8), torch.rand(2, 4, 3, 8, 8)
    loss_fn = DiversityLoss(extractor)
    loss, terms = loss_fn(fakes, real, masks)
    expected = brute_force_diversity(extractor, fakes, real, masks, [1.0, 0.5, 0.25], 0.999, 0.001)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    torch.testing.assert_close(sum(terms.values()), loss.detach())
    other = DiversityLoss(extractor, layer_weights=[0.3, 0.0, 2.0], min_weight=0.7, mean_weight=0.3)
    expected = brute_force_diversity(extractor, fakes, real, masks, [0.3, 0.0, 2.0], 0.7, 0.3)
    assert other(fakes, real, masks)[0].item() == pytest.approx(expected, rel=1e-5)


def test_extractor_runs_once_on_real_and_once_on_all_fakes() -> None:
    extractor = PoolExtractor()
    DiversityLoss(extractor)(torch.rand(2, 5, 3, 8, 8), torch.rand(2, 3, 8, 8), torch.ones(2, 1, 8, 8))
    assert extractor.calls == [2, 10]


def test_single_variant_is_feature_matching() -> None:
    torch.manual_seed(1)
    extractor = PoolExtractor()
    masks = one_hot_with_void(torch.randint(0, 4, (3, 16, 16)), 4)
    real, fakes = torch.rand(3, 3, 16, 16), torch.rand(3, 1, 3, 16, 16)
    diversity, _ = DiversityLoss(extractor)(fakes, real, masks)
    matching, _ = FeatureMatchingLoss(extractor)(fakes[:, 0], real)
    torch.testing.assert_close(diversity, matching, rtol=1e-5, atol=1e-6)


def half_and_half_case() -> tuple[Tensor, Tensor, Tensor]:
    """Class A = left half, class B = right half; fake 0 is perfect on A, fake 1 on B."""
    torch.manual_seed(2)
    real = torch.rand(1, 3, 8, 8)
    noise = torch.rand(1, 3, 8, 8)
    fake0 = torch.cat([real[..., :4], noise[..., 4:]], dim=-1)
    fake1 = torch.cat([noise[..., :4], real[..., 4:]], dim=-1)
    masks = torch.zeros(1, 2, 8, 8)
    masks[:, 0, :, :4] = 1
    masks[:, 1, :, 4:] = 1
    return torch.stack([fake0, fake1], dim=1), real, masks


def test_min_selects_the_better_image_per_class() -> None:
    fakes, real, masks = half_and_half_case()
    min_only = DiversityLoss(PoolExtractor(), min_weight=1.0, mean_weight=0.0)
    loss, _ = min_only(fakes, real, masks)
    assert loss.item() == pytest.approx(0.0, abs=1e-7)
    # Neither fake alone is good: plain feature matching of each is clearly positive.
    for j in range(2):
        assert FeatureMatchingLoss(PoolExtractor())(fakes[:, j], real)[0].item() > 0.05
    default, _ = DiversityLoss(PoolExtractor())(fakes, real, masks)
    assert 0 < default.item() < 0.01


def test_mean_term_gives_every_image_gradient() -> None:
    fakes, real, masks = half_and_half_case()
    fakes = torch.cat([fakes, torch.rand(1, 1, 3, 8, 8)], dim=1).requires_grad_(True)  # a useless third
    DiversityLoss(PoolExtractor())(fakes, real, masks)[0].backward()
    assert fakes.grad is not None
    assert all(fakes.grad[:, j].abs().sum() > 0 for j in range(3))
    fakes.grad = None
    DiversityLoss(PoolExtractor(), min_weight=1.0, mean_weight=0.0)(fakes, real, masks)[0].backward()
    assert fakes.grad is not None and fakes.grad[:, 2].abs().sum() == 0


def test_diversity_shape_errors() -> None:
    loss_fn = DiversityLoss(PoolExtractor())
    with pytest.raises(ValueError):
        loss_fn(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8))
    with pytest.raises(ValueError):
        loss_fn(torch.rand(1, 2, 3, 8, 8), torch.rand(1, 3, 8, 8), torch.ones(1, 8, 8))
