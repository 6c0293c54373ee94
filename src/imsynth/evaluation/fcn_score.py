"""The FCN-score: segment images with a segmenter trained on real photos, compare with the layout.

Protocol (Isola et al., pix2pix, CVPR 2017, Sec. 4.2): a semantic segmentation network trained on
the *real* training photos labels each synthesized image; the better the synthesis, the closer
that labelling is to the layout the image was synthesized from. Scores are those of
:mod:`imsynth.evaluation.segmentation_metrics`. The same network applied to the real test photos
gives the upper bound ("ground truth" row of the paper's Table 1).

The segmenter is a run of ``imsynth train segmenter`` (:mod:`imsynth.methods.segmenter`). Images
are resized (bilinear, antialiased) to the resolution it was trained at and its logits resized
back to the layout's size before the argmax, so every layout pixel gets a prediction.

After training, :func:`write_segmenter_validation` stores the segmenter's own scores on the real
photos of the validation split in ``RUN/val_metrics.json``; every report quotes them, so a
reader knows how much a score can be trusted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from imsynth.data.cityscapes import find_pairs
from imsynth.data.labels import LabelSpace
from imsynth.evaluation.runs import run_dir_of
from imsynth.evaluation.segmentation_metrics import ConfusionMatrix, SegmentationScores
from imsynth.inference.synthesizer import checkpoint_label_space
from imsynth.models.segmenter import Segmenter
from imsynth.runs import check_label_space, load_method_checkpoint, restore_model
from imsynth.utils.config import to_dict
from imsynth.utils.io import write_json

__all__ = [
    "LoadedSegmenter",
    "load_segmenter",
    "segment_photos",
    "write_segmenter_validation",
    "read_segmenter_validation",
    "VALIDATION_FILE",
]

VALIDATION_FILE = "val_metrics.json"


@dataclass
class LoadedSegmenter:
    """A trained segmenter ready to label photos, with where it came from."""

    net: Segmenter
    label_space: LabelSpace
    step: int
    source: Path
    run_dir: Path | None
    data_root: str

    @property
    def num_classes(self) -> int:
        return self.net.num_classes

    @property
    def train_size(self) -> tuple[int, int]:
        return self.net.config.height, self.net.config.width

    @property
    def device(self) -> torch.device:
        return self.net.classifier.weight.device

    @torch.inference_mode()
    def predict(self, photos: np.ndarray) -> np.ndarray:
        """``N x H x W x 3`` (or ``H x W x 3``) uint8 photos -> ``N x H x W`` (or ``H x W``) train ids."""
        single = photos.ndim == 3
        batch = torch.from_numpy(np.ascontiguousarray(photos[None] if single else photos))
        images = batch.permute(0, 3, 1, 2).float().div(255).to(self.device)
        size = images.shape[-2:]
        if tuple(size) != self.train_size:
            images = F.interpolate(
                images, size=self.train_size, mode="bilinear", align_corners=False, antialias=True
            ).clamp(0, 1)
        logits = self.net(images)
        if logits.shape[-2:] != size:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        labels = logits.argmax(dim=1).to(torch.uint8).cpu().numpy()
        return labels[0] if single else labels

    def describe(self) -> str:
        name = self.run_dir.name if self.run_dir is not None else self.source.name
        return f"segmenter '{name}' (step {self.step}, trained at {self.train_size[0]}x{self.train_size[1]})"


def load_segmenter(checkpoint: str | Path, device: str = "auto") -> LoadedSegmenter:
    """Rebuild a segmenter from a run folder, checkpoint folder or ``segmenter.safetensors``."""
    from imsynth.methods.segmenter import SegmenterMethodConfig

    loaded, config = load_method_checkpoint(
        checkpoint,
        "segmenter",
        SegmenterMethodConfig,
        " (train one with `imsynth train segmenter --data DIR --out RUN`)",
    )
    space = checkpoint_label_space(loaded, config.data.label_space)
    check_label_space(loaded, space, config.model.num_classes, space.ignore_index)
    net = restore_model(lambda: Segmenter(config.model), "segmenter", loaded, device, config.model)
    return LoadedSegmenter(
        net,
        space,
        loaded.step,
        Path(loaded.path),
        run_dir_of(checkpoint),
        config.data.root,
    )


def segment_photos(segmenter: LoadedSegmenter, photos: list[np.ndarray], layouts: list[np.ndarray]) -> ConfusionMatrix:
    """Confusion matrix of the segmenter's labelling of ``photos`` against their train-id ``layouts``."""
    matrix = ConfusionMatrix(segmenter.num_classes, segmenter.label_space.ignore_index)
    for photo, layout in zip(photos, layouts, strict=True):
        matrix.add(layout, segmenter.predict(photo))
    return matrix


def _validation_scores(segmenter: LoadedSegmenter, data_root: str | Path, split: str) -> tuple[SegmentationScores, int]:
    from imsynth.data.datasets import read_rgb

    samples = find_pairs(data_root, split)
    if not samples:
        raise ValueError(f"no photo/label pairs in split {split!r} of {data_root}")
    matrix = ConfusionMatrix(segmenter.num_classes, segmenter.label_space.ignore_index)
    for sample in samples:
        ids = segmenter.label_space.load(sample.label_path, kind=sample.label_kind)
        photo = read_rgb(sample.image_path)
        matrix.add(segmenter.label_space.ids_to_train(ids), segmenter.predict(photo))
    return matrix.scores(), len(samples)


def write_segmenter_validation(
    run_dir: str | Path, data_root: str | Path | None = None, split: str = "val", device: str = "auto"
) -> dict[str, Any]:
    """Score the run's latest segmenter on the real photos of ``split``; write ``RUN/val_metrics.json``."""
    segmenter = load_segmenter(run_dir, device)
    root = data_root if data_root is not None else segmenter.data_root
    scores, count = _validation_scores(segmenter, root, split)
    record = {
        "step": segmenter.step,
        "data": str(root),
        "split": split,
        "images": count,
        "label_space": segmenter.label_space.name,
        **to_dict(scores),
        "class_names": segmenter.label_space.train_names,
    }
    write_json(Path(run_dir) / VALIDATION_FILE, record)
    return record


def read_segmenter_validation(segmenter: LoadedSegmenter) -> dict[str, Any] | None:
    """The stored validation record of this segmenter, if it was measured at this very step."""
    if segmenter.run_dir is None:
        return None
    path = segmenter.run_dir / VALIDATION_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except ValueError:
        return None
    return record if record.get("step") == segmenter.step else None
