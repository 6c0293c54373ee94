"""What an evaluation runs with: its settings and the frozen networks every metric is computed with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imsynth.evaluation.fcn_score import LoadedSegmenter, load_segmenter, read_segmenter_validation
from imsynth.evaluation.frechet import FrechetNetwork, fid_network, fld2_network
from imsynth.evaluation.image_metrics import FeatureDistance
from imsynth.utils.device import resolve_device

__all__ = ["EvaluationSettings", "MetricNetworks"]


@dataclass
class EvaluationSettings:
    """What to evaluate on and with which networks (the options of ``imsynth evaluate`` / ``compare``)."""

    data_root: Path
    split: str = "val"
    count: int | None = None  # first N layouts of the split; None = all
    variants: int | None = None  # k per layout for diversity; None = all the model makes
    segmenter: Path | None = None  # run of `imsynth train segmenter`; None = no FCN-score
    grid_rows: int = 6
    inception_weights: Path | None = None
    require_fid: bool = False
    device: str = "auto"
    floor_split: str | None = None  # real photos for the Fréchet sampling floor; None = train (val if split is train)

    def __post_init__(self) -> None:
        self.data_root = Path(self.data_root)
        self.segmenter = Path(self.segmenter) if self.segmenter is not None else None
        self.inception_weights = Path(self.inception_weights) if self.inception_weights is not None else None
        if self.floor_split is None:
            self.floor_split = "val" if self.split == "train" else "train"


@dataclass
class MetricNetworks:
    """The frozen networks every metric is computed with, loaded once and described in reports."""

    fld: FrechetNetwork
    distance: FeatureDistance
    segmenter: LoadedSegmenter | None = None
    segmenter_validation: dict[str, Any] | None = None
    fid: FrechetNetwork | None = None
    fid_note: str = ""

    @classmethod
    def load(cls, settings: EvaluationSettings) -> MetricNetworks:
        from imsynth.models.backbones import WeightsNotFoundError

        device = resolve_device(settings.device)
        fld = fld2_network(device)
        networks = cls(fld=fld, distance=FeatureDistance(fld.network))  # one EfficientNet-Lite2 for both
        if settings.segmenter is not None:
            networks.segmenter = load_segmenter(settings.segmenter, settings.device)
            networks.segmenter_validation = read_segmenter_validation(networks.segmenter)
        if settings.inception_weights is not None or settings.require_fid:
            networks.fid = fid_network(str(settings.inception_weights) if settings.inception_weights else None, device)
        else:
            try:
                networks.fid = fid_network(None, device)  # $IMSYNTH_INCEPTION_WEIGHTS, if set
            except WeightsNotFoundError:
                networks.fid_note = (
                    "FID not computed: no Inception weights (pass --inception-weights "
                    "pt_inception-2015-12-05-6726825d.pth or set $IMSYNTH_INCEPTION_WEIGHTS)"
                )
        return networks

    def segmenter_sentence(self) -> str:
        """Which segmenter computed the FCN-score and how good it is on real photos."""
        if self.segmenter is None:
            return "No FCN-score: no segmenter given (--segmenter RUN of `imsynth train segmenter`)."
        text = f"FCN-score by {self.segmenter.describe()}"
        record = self.segmenter_validation
        if record is not None:
            text += (
                f", whose own scores on the {record['images']} real photos of split '{record['split']}' are "
                f"mIoU {record['mean_iou']:.3f}, pixel accuracy {record['pixel_accuracy']:.3f}, "
                f"mean class accuracy {record['mean_class_accuracy']:.3f}"
            )
        else:
            text += " (its validation record val_metrics.json is missing or from another step)"
        return text + "."

    def provenance(self) -> dict[str, Any]:
        """Machine-readable description of every network (stored in metrics.json)."""
        segmenter = None
        if self.segmenter is not None:
            segmenter = {
                "run": str(self.segmenter.run_dir or self.segmenter.source),
                "step": self.segmenter.step,
                "trained_at": list(self.segmenter.train_size),
                "trained_on": self.segmenter.data_root,
                "validation_on_real_photos": _validation_summary(self.segmenter_validation),
            }
        return {
            "segmenter": segmenter,
            "fld2": self.fld.describe,
            "fid": self.fid.describe if self.fid is not None else None,
            "fid_note": self.fid_note,
            "feature_distance": self.distance.description,
        }


def _validation_summary(record: dict[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    keys = ("split", "images", "mean_iou", "pixel_accuracy", "mean_class_accuracy", "step")
    return {k: record[k] for k in keys if k in record}
