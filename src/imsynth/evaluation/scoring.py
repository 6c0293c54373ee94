"""One pass over held-out layouts that scores synthesis runs and the real photos side by side.

For each of the first ``N`` layouts of a split (sorted by name, so every run sees the same ones):

* every run synthesizes ``k`` variants; **variant 0** is "the output": it is segmented (FCN-score),
  its features enter the Fréchet statistics, and it is compared with the real photo (PSNR, SSIM,
  feature distance). One output per layout keeps these numbers comparable between methods with
  different ``k`` (CRN k = 9, pix2pix k = 1) and gives the Fréchet statistics the same ``N`` as the
  real photos'. All ``k`` variants enter the **diversity** score (mean pairwise feature distance)
  and a second FCN-score over every variant ("all k"): a model trained with the diversity loss
  (CRN Sec. 3.4) spreads its modes over the variants, and variant 0 is only one of them.
* the real photo is segmented by the same network: the FCN-score upper bound.

Fréchet distances compare the outputs' statistics with those of the ``N`` real photos of the same
layouts. For the real-photo row the distance is a *sampling floor*: the ``N`` real photos against
``N`` other real photos (the first ``N`` of the other split), i.e. what two real sets of this size
already differ by.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from imsynth.data.cityscapes import CityscapesSample, find_pairs
from imsynth.data.datasets import DatasetError, read_rgb
from imsynth.data.labels import LabelSpace
from imsynth.evaluation.appearance import AppearanceStatistics, appearance_ratios
from imsynth.evaluation.frechet import FeatureStatistics, FrechetNetwork, statistics_distance
from imsynth.evaluation.image_metrics import FeatureDistance, pairwise_diversity, psnr, ssim
from imsynth.evaluation.kid import kernel_distance
from imsynth.evaluation.networks import EvaluationSettings, MetricNetworks
from imsynth.evaluation.runs import ResizedSynthesizer
from imsynth.evaluation.segmentation_metrics import ConfusionMatrix
from imsynth.inference.synthesizer import LayoutSynthesizer
from imsynth.utils.console import progress

__all__ = ["EvaluationSettings", "MetricNetworks", "GridRow", "ScoreTable", "score_runs", "select_samples"]

Log = Callable[[str], None]
GRID_VARIANTS = 4  # variants kept per run for the image grids


def select_samples(settings: EvaluationSettings) -> list[CityscapesSample]:
    """The first ``count`` pairs (sorted by city and name) of the split: the test layouts."""
    samples = find_pairs(settings.data_root, settings.split)
    if not samples:
        raise DatasetError(f"no photo/label pairs in split {settings.split!r} of {settings.data_root}")
    return samples[: settings.count] if settings.count is not None else samples


# --------------------------------------------------------------------------------------------- accumulation
@dataclass
class _Row:
    """Running scores of one row of the table: a run, or the real photos."""

    name: str
    info: dict[str, Any]
    confusion: ConfusionMatrix | None
    fld: FeatureStatistics
    fid: FeatureStatistics | None
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    feature_distance: list[float] = field(default_factory=list)
    diversity: list[float] = field(default_factory=list)
    confusion_all_variants: ConfusionMatrix | None = None
    appearance: AppearanceStatistics | None = None  # texture, contrast, colourfulness of every variant


@dataclass
class GridRow:
    """The images of one layout shown in the report grids (uint8 HxWx3)."""

    name: str
    layout: np.ndarray
    real: np.ndarray
    real_segmentation: np.ndarray | None
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # run -> k' x H x W x 3
    segmentations: dict[str, np.ndarray] = field(default_factory=dict)  # run -> colourised segmentation


@dataclass
class ScoreTable:
    """Everything :func:`score_runs` measured: one summary dict per row (real photos first)."""

    rows: list[dict[str, Any]]
    images: int
    layouts: list[str]
    class_names: list[str]
    networks: dict[str, Any]
    grid: list[GridRow]
    settings: EvaluationSettings
    floor_images: int = 0

    def to_json(self) -> dict[str, Any]:
        s = self.settings
        return {
            "format": "imsynth-evaluation-1",
            "data": str(s.data_root),
            "split": s.split,
            "images": self.images,
            "layouts": self.layouts,
            "networks": self.networks,
            "frechet_floor": {"split": s.floor_split, "images": self.floor_images},
            "rows": self.rows,
        }


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(255).to(device)


def _check_label_spaces(spaces: dict[str, LabelSpace]) -> LabelSpace:
    names = {name: (space.name, space.num_classes) for name, space in spaces.items()}
    if len(set(names.values())) > 1:
        listing = ", ".join(f"{n}: {v[0]} ({v[1]} classes)" for n, v in names.items())
        raise ValueError(
            f"the runs and the segmenter use different label spaces ({listing}); "
            "they must share one to be scored on the same layouts"
        )
    return next(iter(spaces.values()))


def _real_statistics(samples: list[CityscapesSample], network: FrechetNetwork) -> FeatureStatistics:
    stats = FeatureStatistics(network.dim)
    for sample in progress(samples, desc="real photos", unit="photo"):
        stats.add(network.features(read_rgb(sample.image_path)[None]))
    return stats


def score_runs(
    synthesizers: dict[str, LayoutSynthesizer], settings: EvaluationSettings, networks: MetricNetworks, log: Log = print
) -> ScoreTable:
    """Score every synthesizer (name -> model) and the real photos on the same test layouts."""
    samples = select_samples(settings)
    spaces = {name: s.label_space for name, s in synthesizers.items()}
    if networks.segmenter is not None:
        spaces["segmenter"] = networks.segmenter.label_space
    space = _check_label_spaces(spaces)
    device = next(networks.fld.network.parameters()).device

    def new_row(name: str, info: dict[str, Any]) -> _Row:
        confusion = ConfusionMatrix(space.num_classes, space.ignore_index) if networks.segmenter is not None else None
        fid = FeatureStatistics(networks.fid.dim) if networks.fid is not None else None
        row = _Row(name, info, confusion, FeatureStatistics(networks.fld.dim), fid)
        row.appearance = AppearanceStatistics(space.num_classes)
        if confusion is not None and info["kind"] == "run":
            row.confusion_all_variants = ConfusionMatrix(space.num_classes, space.ignore_index)
        return row

    real = new_row("real photos", {"kind": "real", "method": "real photos"})
    rows = {}
    for name, synth in synthesizers.items():
        size = list(synth.size) if isinstance(synth, ResizedSynthesizer) else None
        rows[name] = new_row(
            name,
            {
                "kind": "run",
                "method": synth.method,
                "step": synth.step,
                "variants": None,
                "checkpoint": str(getattr(synth, "source", "")),
                "synthesized_at": size,
                "loss_network": getattr(synth, "backbone", None),
            },
        )
    grid: list[GridRow] = []
    log(f"scoring {len(samples)} layouts of split '{settings.split}' ({', '.join(synthesizers) or 'real photos only'})")
    for index, sample in enumerate(progress(samples, desc="scoring", unit="layout")):
        ids = space.load(sample.label_path, kind=sample.label_kind)
        target = space.ids_to_train(ids)
        photo = read_rgb(sample.image_path)
        if photo.shape[:2] != ids.shape:
            raise DatasetError(
                f"{sample.stem}: photo is {photo.shape[0]}x{photo.shape[1]} but its layout is "
                f"{ids.shape[0]}x{ids.shape[1]}"
            )
        real_tensor = _to_tensor(photo[None], device)
        with torch.inference_mode():
            real_features = networks.distance.features(real_tensor)
        real_segmentation = _segment(networks, real, photo, target)
        assert real.appearance is not None
        real.appearance.add(photo[None], target)
        _add_frechet(networks, real, photo[None])
        keep = index < settings.grid_rows
        if keep:
            grid.append(
                GridRow(
                    sample.stem,
                    space.colorize(ids),
                    photo,
                    space.colorize_train(real_segmentation) if real_segmentation is not None else None,
                )
            )
        for name, synth in synthesizers.items():
            row = rows[name]
            outputs = synth.synthesize(ids, settings.variants)  # None: the model's own k
            row.info["variants"] = len(outputs)
            segmentation = _segment(networks, row, outputs[0], target)
            _segment_all_variants(networks, row, outputs, segmentation, target)
            _add_frechet(networks, row, outputs[:1])
            assert row.appearance is not None
            row.appearance.add(outputs, target)
            _add_pair_metrics(networks, row, _to_tensor(outputs, device), real_tensor, real_features)
            if keep:
                grid[-1].outputs[name] = outputs[:GRID_VARIANTS]
                if segmentation is not None:
                    grid[-1].segmentations[name] = space.colorize_train(segmentation)

    floor = _frechet_floor(networks, settings, len(samples), log)
    summaries = [_summary(real, real, space, floor)] + [_summary(r, real, space) for r in rows.values()]
    return ScoreTable(
        summaries,
        len(samples),
        [s.stem for s in samples],
        space.train_names,
        networks.provenance(),
        grid,
        settings,
        floor.images,
    )


def _segment(networks: MetricNetworks, row: _Row, photo: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    if networks.segmenter is None or row.confusion is None:
        return None
    prediction = networks.segmenter.predict(photo)
    row.confusion.add(target, prediction)
    return prediction


def _segment_all_variants(
    networks: MetricNetworks, row: _Row, outputs: np.ndarray, first: np.ndarray | None, target: np.ndarray
) -> None:
    """FCN-score over every variant (variant 0's segmentation ``first`` is reused)."""
    if networks.segmenter is None or row.confusion_all_variants is None or first is None:
        return
    row.confusion_all_variants.add(target, first)
    for output in outputs[1:]:
        row.confusion_all_variants.add(target, networks.segmenter.predict(output))


def _add_pair_metrics(
    networks: MetricNetworks, row: _Row, outputs: torch.Tensor, real: torch.Tensor, real_features: list[torch.Tensor]
) -> None:
    """PSNR, SSIM and feature distance of variant 0 against the real photo; diversity of all variants."""
    with torch.inference_mode():
        row.psnr.append(float(psnr(outputs[:1], real)[0]))
        row.ssim.append(float(ssim(outputs[:1], real)[0]))
        output_features = networks.distance.features(outputs[:1])
        row.feature_distance.append(float(FeatureDistance.between(output_features, real_features)[0]))
        if len(outputs) > 1:
            row.diversity.append(pairwise_diversity(networks.distance, outputs))


def _add_frechet(networks: MetricNetworks, row: _Row, images: np.ndarray) -> None:
    row.fld.add(networks.fld.features(images))
    if networks.fid is not None and row.fid is not None:
        row.fid.add(networks.fid.features(images))


@dataclass
class _Floor:
    """Fréchet statistics of other real photos: the sampling floor of the real row."""

    images: int = 0
    fld: FeatureStatistics | None = None
    fid: FeatureStatistics | None = None


def _frechet_floor(networks: MetricNetworks, settings: EvaluationSettings, count: int, log: Log) -> _Floor:
    """Fréchet statistics of the first ``count`` real photos of ``settings.floor_split``."""
    others = find_pairs(settings.data_root, settings.floor_split)[:count] if settings.floor_split else []
    if len(others) < 2:
        return _Floor()
    log(f"Fréchet sampling floor: {len(others)} real photos of split '{settings.floor_split}'")
    fid = _real_statistics(others, networks.fid) if networks.fid is not None else None
    return _Floor(len(others), _real_statistics(others, networks.fld), fid)


def _summary(row: _Row, real: _Row, space: LabelSpace, floor: _Floor | None = None) -> dict[str, Any]:
    """The row's numbers as plain JSON data (``None`` where a metric does not apply)."""
    out: dict[str, Any] = {"name": row.name, **row.info, "images": row.fld.count}
    if row.confusion is not None:
        scores = row.confusion.scores()
        out.update(
            fcn_pixel_accuracy=scores.pixel_accuracy,
            fcn_mean_class_accuracy=scores.mean_class_accuracy,
            fcn_mean_iou=scores.mean_iou,
            fcn_classes_in_mean_iou=scores.classes_in_mean_iou,
            fcn_class_iou=dict(zip(space.train_names, scores.class_iou, strict=True)),
        )
    else:
        out.update(
            fcn_pixel_accuracy=None,
            fcn_mean_class_accuracy=None,
            fcn_mean_iou=None,
            fcn_classes_in_mean_iou=None,
            fcn_class_iou=None,
        )
    if row.confusion_all_variants is not None:
        every = row.confusion_all_variants.scores()
        out.update(fcn_pixel_accuracy_all_variants=every.pixel_accuracy, fcn_mean_iou_all_variants=every.mean_iou)
    else:
        out.update(fcn_pixel_accuracy_all_variants=None, fcn_mean_iou_all_variants=None)
    if floor is not None:  # the real row: distance to other real photos
        out["fld2"] = statistics_distance(floor.fld, real.fld) if floor.fld is not None else None
        out["kid"], out["kid_std"] = _kid(floor.fld, real.fld)
        out["fid"] = (
            statistics_distance(floor.fid, real.fid) if floor.fid is not None and real.fid is not None else None
        )
    else:
        out["fld2"] = statistics_distance(row.fld, real.fld) if row.fld.count >= 2 else None
        out["kid"], out["kid_std"] = _kid(row.fld, real.fld)
        out["fid"] = (
            statistics_distance(row.fid, real.fid)
            if row.fid is not None and real.fid is not None and row.fid.count >= 2
            else None
        )
    out.update(
        psnr=_mean(row.psnr),
        ssim=_mean(row.ssim),
        feature_distance=_mean(row.feature_distance),
        diversity=_mean(row.diversity),
    )
    out.update(_appearance_summary(row, real, space))
    return out


def _kid(fake: FeatureStatistics | None, real: FeatureStatistics) -> tuple[float | None, float | None]:
    """KID over the FLD-2 features (:mod:`imsynth.evaluation.kid`), ``None`` under 2 images a side."""
    if fake is None or fake.count < 2 or real.count < 2:
        return None, None
    return kernel_distance(real.features, fake.features)


def _appearance_summary(row: _Row, real: _Row, space: LabelSpace) -> dict[str, Any]:
    """Texture, contrast and colourfulness ratios against the real photos of the same layouts
    (all k variants of a run; 1.0 for the real row), and the absolute statistics."""
    assert row.appearance is not None and real.appearance is not None
    names = space.train_names
    ratios = appearance_ratios(row.appearance, real.appearance, names)
    return {**ratios, "appearance": row.appearance.summary(names)}
