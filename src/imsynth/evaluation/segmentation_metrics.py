"""Semantic segmentation scores from a confusion matrix (the FCN-score metrics).

The three numbers of the FCN-score (Isola et al., pix2pix, Sec. 4.2, following Long, Shelhamer &
Darrell, "Fully Convolutional Networks", CVPR 2015, Sec. 5) are computed from one confusion
matrix ``M`` accumulated over **all pixels of all images** of the test set (dataset-level, as the
Cityscapes benchmark does, not a mean of per-image scores). ``M[i, j]`` counts pixels whose
ground truth is class ``i`` and whose prediction is class ``j``; pixels whose ground truth is the
ignore index (255) are not counted, whatever was predicted there.

* per-pixel accuracy ``= sum_i M[i, i] / sum_ij M[i, j]``;
* class accuracy ``acc_i = M[i, i] / sum_j M[i, j]`` -- defined only for classes present in the
  ground truth; **mean class accuracy** averages the defined ones;
* class IoU ``IoU_i = M[i, i] / (sum_j M[i, j] + sum_j M[j, i] - M[i, i])`` -- defined when class
  ``i`` occurs in the ground truth *or* the prediction; **mean IoU** averages the defined ones.

So classes absent from both ground truth and prediction are excluded from both means (their
scores are 0/0, reported as ``None``); a class that is only predicted (a false positive
everywhere) has IoU 0 and counts in the mean IoU, but has no accuracy. This matches the
``nanmean`` convention of the FCN and pix2pix evaluation scripts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imsynth.data.labels import IGNORE_INDEX

__all__ = ["confusion_matrix", "ConfusionMatrix", "SegmentationScores", "scores_from_confusion"]


def confusion_matrix(target: Any, prediction: Any, num_classes: int, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """``num_classes x num_classes`` int64 counts, rows = ground truth, columns = prediction.

    ``target`` and ``prediction`` are integer arrays (or tensors) of the same shape. Ground-truth
    pixels equal to ``ignore_index`` are skipped; any other value outside ``[0, num_classes)``
    in either map is an error.
    """
    target = np.asarray(target).astype(np.int64).ravel()
    prediction = np.asarray(prediction).astype(np.int64).ravel()
    if target.shape != prediction.shape:
        raise ValueError(f"target has {target.size} pixels but prediction has {prediction.size}")
    keep = target != ignore_index
    target, prediction = target[keep], prediction[keep]
    for name, values in (("target", target), ("prediction", prediction)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"{name} holds class {values.min() if values.min() < 0 else values.max()}, "
                f"outside [0, {num_classes}) (and not the ignore index {ignore_index})"
            )
    counts = np.bincount(target * num_classes + prediction, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


@dataclass
class SegmentationScores:
    """The FCN-score metrics of one confusion matrix (see the module docstring for definitions).

    Per-class lists hold ``None`` where the score is undefined (0/0).
    """

    pixel_accuracy: float
    mean_class_accuracy: float
    mean_iou: float
    class_accuracy: list[float | None]
    class_iou: list[float | None]
    classes_in_mean_iou: int
    classes_in_mean_accuracy: int
    pixels: int

    def summary(self) -> dict[str, float | int]:
        """The three headline numbers plus how many pixels and classes they were computed with."""
        return {
            "pixel_accuracy": self.pixel_accuracy,
            "mean_class_accuracy": self.mean_class_accuracy,
            "mean_iou": self.mean_iou,
            "classes_in_mean_iou": self.classes_in_mean_iou,
            "pixels": self.pixels,
        }


def _ratios(numerator: np.ndarray, denominator: np.ndarray) -> list[float | None]:
    return [float(n / d) if d > 0 else None for n, d in zip(numerator, denominator, strict=True)]


def _mean(values: list[float | None]) -> float:
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else float("nan")


def scores_from_confusion(matrix: np.ndarray) -> SegmentationScores:
    """Pixel accuracy, mean class accuracy and mean IoU of a confusion matrix (rows = truth)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a confusion matrix is square, got shape {matrix.shape}")
    true_positives = np.diag(matrix)
    ground_truth = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    total = matrix.sum()
    class_accuracy = _ratios(true_positives, ground_truth)
    class_iou = _ratios(true_positives, ground_truth + predicted - true_positives)
    return SegmentationScores(
        pixel_accuracy=float(true_positives.sum() / total) if total > 0 else float("nan"),
        mean_class_accuracy=_mean(class_accuracy),
        mean_iou=_mean(class_iou),
        class_accuracy=class_accuracy,
        class_iou=class_iou,
        classes_in_mean_iou=sum(v is not None for v in class_iou),
        classes_in_mean_accuracy=sum(v is not None for v in class_accuracy),
        pixels=int(total),
    )


@dataclass
class ConfusionMatrix:
    """A confusion matrix accumulated image by image::

    cm = ConfusionMatrix(19)
    for layout, prediction in pairs:
        cm.add(layout, prediction)
    print(cm.scores().mean_iou)
    """

    num_classes: int
    ignore_index: int = IGNORE_INDEX
    matrix: np.ndarray = field(init=False)
    images: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def add(self, target: Any, prediction: Any) -> None:
        """Count one image (or a batch: any matching shapes)."""
        self.matrix += confusion_matrix(target, prediction, self.num_classes, self.ignore_index)
        self.images += 1

    def scores(self) -> SegmentationScores:
        return scores_from_confusion(self.matrix)
