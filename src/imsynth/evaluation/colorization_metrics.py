"""How good is a colorization? Three measures used by Zhang, Isola & Efros (ECCV 2016, Sec. 3.1).

* :func:`psnr` -- peak signal-to-noise ratio of the RGB result against the original photo,
  ``10 log10(peak^2 / MSE)`` over all pixels and channels (peak 255 for uint8, 1 for floats).
* AuC of ab accuracy -- the fraction of pixels whose predicted ab lies within an L2 distance
  ``t`` of the ground truth, for the integer thresholds ``t = 0, 1, ..., 150``; the AuC is the mean
  of those fractions (the area under the curve normalised to [0, 1]: 1 when every pixel is
  exact). The *class-rebalanced* AuC weights each pixel by the inverse frequency of its
  ground-truth colour class (nearest ab bin) in the evaluated set, i.e. it averages the curves of
  the colour classes, so rare saturated colours count as much as common grays.
  :class:`ABAccuracy` accumulates both over a set of images.
* :func:`colorfulness` -- Hasler & Suesstrunk (2003): with ``rg = R - G`` and
  ``yb = (R + G) / 2 - B`` (signed, on the 0-255 scale),
  ``M = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2)``; 0 for a gray image.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from imsynth.color.encoding import nearest_bin
from imsynth.evaluation.image_metrics import psnr as image_psnr

__all__ = ["AUC_THRESHOLDS", "psnr", "colorfulness", "ab_accuracy_curve", "area_under_curve", "ABAccuracy"]

#: The thresholds of the ab accuracy curve: 0, 1, ..., 150 (ab units).
AUC_THRESHOLDS = np.arange(151)


def _as_float_array(image: np.ndarray | Tensor) -> np.ndarray:
    return image.detach().cpu().double().numpy() if isinstance(image, Tensor) else np.asarray(image, np.float64)


def psnr(prediction: np.ndarray | Tensor, target: np.ndarray | Tensor, peak: float | None = None) -> float:
    """PSNR in dB of one image pair of any layout (e.g. HxWx3); ``peak`` defaults to 255 for uint8
    inputs and 1 otherwise (inf for identical images). :func:`image_metrics.psnr` underneath."""
    if peak is None:
        peak = 255.0 if getattr(target, "dtype", None) in (np.uint8, torch.uint8) else 1.0
    a, b = (torch.from_numpy(_as_float_array(image)) for image in (prediction, target))
    if a.shape != b.shape:
        raise ValueError(f"PSNR needs two images of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return float(image_psnr(a.reshape(1, 1, 1, -1), b.reshape(1, 1, 1, -1), data_range=peak)[0])


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler-Suesstrunk colorfulness of an ``HxWx3`` image (uint8, or float in [0, 1] -> scaled to 255)."""
    image = np.asarray(rgb)
    values = image.astype(np.float64) * (1.0 if image.dtype == np.uint8 else 255.0)
    red, green, blue = values[..., 0], values[..., 1], values[..., 2]
    rg = red - green
    yb = 0.5 * (red + green) - blue
    spread = np.sqrt(rg.std() ** 2 + yb.std() ** 2)
    mean = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(spread + 0.3 * mean)


def _distances(predicted_ab: Tensor, true_ab: Tensor) -> Tensor:
    """Per-pixel L2 distance in ab, flattened; inputs ``(2, H, W)`` or ``(N, 2, H, W)``."""
    if predicted_ab.shape != true_ab.shape:
        raise ValueError(f"predicted ab {tuple(predicted_ab.shape)} and true ab {tuple(true_ab.shape)} differ")
    return (predicted_ab.double() - true_ab.double()).norm(dim=-3).flatten()


def _threshold_index(distances: Tensor) -> Tensor:
    """The smallest integer threshold each distance passes (151 = none): ``ceil(d)``, capped."""
    return torch.ceil(distances).clamp(max=len(AUC_THRESHOLDS)).long()


def ab_accuracy_curve(predicted_ab: Tensor, true_ab: Tensor) -> np.ndarray:
    """Fraction of pixels within each threshold of :data:`AUC_THRESHOLDS` (shape ``(151,)``)."""
    index = _threshold_index(_distances(predicted_ab, true_ab))
    passed = torch.bincount(index, minlength=len(AUC_THRESHOLDS) + 1)[:-1].cumsum(0)
    return (passed.double() / index.numel()).numpy()


def area_under_curve(curve: np.ndarray) -> float:
    """The normalised area under an accuracy curve over :data:`AUC_THRESHOLDS` (its mean)."""
    return float(np.mean(curve))


class ABAccuracy:
    """Accumulates ab accuracy over images, per ground-truth colour class, for raw and rebalanced AuC."""

    def __init__(self, centers: Tensor) -> None:
        self.centers = centers.double()
        levels = len(AUC_THRESHOLDS) + 1
        self.histogram = torch.zeros(centers.shape[0], levels, dtype=torch.float64)

    def update(self, predicted_ab: Tensor, true_ab: Tensor) -> None:
        """Add the pixels of ``(2, H, W)`` or ``(N, 2, H, W)`` ab maps."""
        predicted_ab, true_ab = predicted_ab.cpu(), true_ab.cpu()
        index = _threshold_index(_distances(predicted_ab, true_ab))
        batch = true_ab if true_ab.dim() == 4 else true_ab[None]
        classes = nearest_bin(batch.double(), self.centers).flatten()
        levels = self.histogram.shape[1]
        counts = torch.bincount(classes * levels + index, minlength=self.histogram.numel())
        self.histogram += counts.view_as(self.histogram).double()

    def curves(self) -> tuple[np.ndarray, np.ndarray]:
        """The raw and the class-rebalanced accuracy curves (each ``(151,)``)."""
        passed = self.histogram[:, :-1].cumsum(dim=1)  # (Q, 151): pixels of class q within t
        totals = self.histogram.sum(dim=1)
        if totals.sum() == 0:
            raise ValueError("ABAccuracy has seen no pixels")
        raw = passed.sum(dim=0) / totals.sum()
        present = totals > 0
        rebalanced = (passed[present] / totals[present, None]).mean(dim=0)
        return raw.numpy(), rebalanced.numpy()

    def auc(self) -> tuple[float, float]:
        """``(raw AuC, class-rebalanced AuC)``."""
        raw, rebalanced = self.curves()
        return area_under_curve(raw), area_under_curve(rebalanced)
