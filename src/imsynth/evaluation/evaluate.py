"""``imsynth evaluate``: score one synthesis run and write ``metrics.json`` and ``report.html``.

::

    settings = EvaluationSettings(data_root="data/streets", split="val", segmenter=Path("runs/seg"))
    result = evaluate_run("runs/crn", settings, "runs/crn/evaluation_val")
    result.metrics["rows"][1]["fcn_mean_iou"]

The numbers are those of :mod:`imsynth.evaluation.scoring` (FCN-score, FLD-2 and optionally FID,
PSNR / SSIM / feature distance against the real photo, diversity of the variants), for the run
and for the real photos (upper bound). The report also shows the run's training curves and image
grids; every table and figure says which networks and how many images produced it. The helpers
that build those sections are shared with :mod:`imsynth.evaluation.compare`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imsynth.evaluation.appearance import TEXTURE_CLASSES
from imsynth.evaluation.report import Figure, Section, write_report
from imsynth.evaluation.runs import load_run, loss_curve_figure, parse_run_spec, run_dir_of, run_name
from imsynth.evaluation.scoring import EvaluationSettings, MetricNetworks, ScoreTable, score_runs
from imsynth.runs.tensorboard import log_evaluation
from imsynth.utils.images import tile_grid
from imsynth.utils.io import write_json

__all__ = [
    "EvaluationSettings",
    "EvaluationResult",
    "evaluate_run",
    "default_output_dir",
    "metric_table",
    "protocol_text",
    "class_iou_table",
    "appearance_section",
    "network_table",
    "grid_figures",
    "training_sections",
    "METRIC_COLUMNS",
]

#: metrics.json keys of the per-class appearance ratios, in the order the report shows them.
APPEARANCE_CLASS_KEYS = ("class_texture_ratio", "class_contrast_ratio", "class_colourfulness_ratio")

#: metrics.json key -> column title of the report tables.
METRIC_COLUMNS = {
    "fcn_pixel_accuracy": "FCN per-pixel acc.",
    "fcn_mean_class_accuracy": "FCN per-class acc.",
    "fcn_mean_iou": "FCN mIoU",
    "fcn_pixel_accuracy_all_variants": "FCN acc. (all k)",
    "fcn_mean_iou_all_variants": "FCN mIoU (all k)",
    "fld2": "FLD-2 ↓",
    "kid": "KID ↓",
    "fid": "FID ↓",
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "feature_distance": "feature dist. ↓",
    "diversity": "diversity",
    "texture_ratio": "texture ×",
    "contrast_ratio": "contrast ×",
    "colourfulness_ratio": "colourful. ×",
}


@dataclass
class EvaluationResult:
    """What :func:`evaluate_run` wrote."""

    metrics: dict[str, Any]
    out_dir: Path
    report: Path

    @property
    def run(self) -> dict[str, Any]:
        return self.metrics["rows"][1]

    def summary_line(self) -> str:
        run, real = self.run, self.metrics["rows"][0]
        parts = [f"{run['name']} ({run['method']}, step {run['step']}) on {run['images']} layouts:"]
        if run["fcn_mean_iou"] is not None:
            parts.append(
                f"FCN mIoU {run['fcn_mean_iou']:.3f} (real photos {real['fcn_mean_iou']:.3f}), "
                f"pixel acc. {run['fcn_pixel_accuracy']:.3f}"
            )
        parts.append(f"FLD-2 {run['fld2']:.2f}" if run["fld2"] is not None else "FLD-2 -")
        if run.get("kid") is not None:
            parts.append(f"KID {run['kid']:.4f} ± {run['kid_std']:.4f}")
        if run["fid"] is not None:
            parts.append(f"FID {run['fid']:.2f}")
        parts.append(f"PSNR {run['psnr']:.2f} dB, SSIM {run['ssim']:.3f}")
        if run["diversity"] is not None:
            parts.append(f"diversity {run['diversity']:.3f} (k={run['variants']})")
        return " ".join(parts[:1]) + " " + ", ".join(parts[1:])


def default_output_dir(checkpoint: str | Path, split: str) -> Path:
    """``RUN/evaluation_<split>``, or ``evaluation_<split>`` beside a stand-alone weight file."""
    path = parse_run_spec(checkpoint)[0]
    run = run_dir_of(path)
    base = run if run is not None else path.resolve().parent
    return base / f"evaluation_{split}"


def evaluate_run(
    checkpoint: str | Path,
    settings: EvaluationSettings,
    out_dir: str | Path,
    log: Callable[[str], None] = print,
    size: tuple[int, int] | None = None,
) -> EvaluationResult:
    """Score the model of ``checkpoint``; write ``out_dir/metrics.json`` and ``out_dir/report.html``.

    ``size``: run the model at this (height, width) and resize its outputs to the layouts' size
    (:class:`~imsynth.evaluation.runs.ResizedSynthesizer`; also ``checkpoint="PATH@HxW"``).
    """
    out_dir = Path(out_dir)
    name = run_name(checkpoint)
    synthesizer = load_run(checkpoint, settings.device, size)
    networks = MetricNetworks.load(settings)
    table = score_runs({name: synthesizer}, settings, networks, log)
    metrics = {**table.to_json(), "run": name}
    write_json(out_dir / "metrics.json", metrics)
    report = _write_report(out_dir, table, networks, name, checkpoint)
    result = EvaluationResult(metrics, out_dir, report)
    run = run_dir_of(parse_run_spec(checkpoint)[0])
    if run is not None and isinstance(result.run.get("step"), int):  # next to the training curves
        log_evaluation(run, result.run["step"], result.run, settings.split)
    return result


# --------------------------------------------------------------------------------------------- report pieces
def _cell(value: Any, digits: int = 3) -> Any:
    if value is None:
        return "—"
    if isinstance(value, float):
        return "inf" if np.isinf(value) else f"{value:.{digits}f}"
    return value


def metric_table(table: ScoreTable) -> list[dict[str, object]]:
    """One row per run plus the real photos: the headline numbers, formatted for the report."""
    out = []
    for row in table.rows:
        entry: dict[str, object] = {
            "": row["name"],
            "method": row["method"],
            "step": row.get("step", "—"),
            "layouts": row["images"],
            "k": row.get("variants") or "—",
        }
        for key, title in METRIC_COLUMNS.items():
            if key == "fid" and all(r.get("fid") is None for r in table.rows):
                continue
            digits = 2 if key in ("fld2", "fid", "psnr") else 4 if key == "kid" else 3
            entry[title] = _cell(row.get(key), digits)
        out.append(entry)
    return out


def protocol_text(table: ScoreTable, networks: MetricNetworks) -> str:
    """The sentence under every metric table: data, image counts and the networks used."""
    s = table.settings
    floor = (
        f"the real row's Fréchet distances compare them with the first {table.floor_images} real photos of "
        f"split '{s.floor_split}' (the sampling floor)"
        if table.floor_images
        else "no sampling floor (no other split to draw real photos from)"
    )
    fid = f"FID: {networks.fid.describe}." if networks.fid is not None else networks.fid_note + "."
    lite2 = [row["name"] for row in table.rows if row.get("loss_network") == "efficientnet_lite2"]
    caution = (
        f" Caution: {', '.join(lite2)} trained with an EfficientNet-Lite2 loss, the network of FLD-2 and of the "
        "feature distance: those numbers are optimistic for it."
        if lite2
        else ""
    )
    return (
        f"{table.images} layouts of split '{s.split}' of {s.data_root} (the first {table.images} by name), one "
        f"output (variant 0) per layout for every metric but diversity and the FCN columns marked 'all k' "
        f"(every variant segmented). {networks.segmenter_sentence()} "
        f"FCN metrics from one confusion matrix over all pixels of the {table.images} images (ignore label "
        "excluded; classes absent from both layout and prediction left out of the means). "
        f"FLD-2 (Fréchet EfficientNet-Lite2 Distance, not FID): {networks.fld.describe}; outputs vs the "
        f"{table.images} real photos of the same layouts; {floor}; biased upwards at small N, compare only "
        f"at equal N. KID: the unbiased squared MMD with the cubic polynomial kernel (Bińkowski et al. 2018) "
        f"over the same features, comparable across N (± its spread over subsets). {fid} PSNR and SSIM "
        f"(Gaussian 11x11, σ 1.5, kornia) against the real photo of each "
        f"layout. Feature distance (to the real photo) and diversity (mean over the k(k-1)/2 pairs of "
        f"variants of one layout): {networks.distance.description}.{caution}"
    )


def class_iou_table(table: ScoreTable) -> list[dict[str, object]] | None:
    """Per-class IoU of every row (classes as rows), or ``None`` without a segmenter."""
    if table.rows[0].get("fcn_class_iou") is None:
        return None
    out = []
    for name in table.class_names:
        entry: dict[str, object] = {"class": name}
        for row in table.rows:
            entry[row["name"]] = _cell(row["fcn_class_iou"][name])
        out.append(entry)
    return out


def appearance_section(table: ScoreTable) -> Section:
    """Per-class texture / contrast / colourfulness ratios of every run against the real photos."""
    runs = table.rows[1:]
    classes = [n for n in TEXTURE_CLASSES if n in table.class_names]
    classes += [n for n in table.class_names if n not in classes]
    rows: list[dict[str, object]] = []
    for name in classes:
        entry: dict[str, object] = {"class": name}
        for row in runs:
            ratios = [row[key].get(name) for key in APPEARANCE_CLASS_KEYS]
            entry[row["name"]] = " / ".join(_cell(v, 2) for v in ratios)
        if any(v != "— / — / —" for k, v in entry.items() if k != "class"):
            rows.append(entry)
    text = (
        "Synthesized over real, per class region (eroded by 2 px), over the same layouts and every variant: "
        "texture (mean |Laplacian| of the luminance) / contrast (its standard deviation) / colourfulness "
        "(Hasler & Süsstrunk). 1 = as textured, contrasty and colourful as the real photos; the texture "
        f"column of the metrics table averages {', '.join(TEXTURE_CLASSES)}. Read them with FLD-2 and the "
        "feature distance: noise raises texture but worsens those."
    )
    return Section("Texture, contrast and colourfulness per class", text=text, table=rows)


def network_table(networks: MetricNetworks) -> list[dict[str, object]]:
    """Which frozen network computed each metric, and the segmenter's own accuracy on real photos."""
    info = networks.provenance()
    rows: list[dict[str, object]] = []
    if networks.segmenter is not None:
        seg = info["segmenter"]
        validation = seg["validation_on_real_photos"]
        quality = (
            f"mIoU {validation['mean_iou']:.3f}, pixel acc. {validation['pixel_accuracy']:.3f} on "
            f"{validation['images']} real photos of '{validation['split']}'"
            if validation
            else "not measured"
        )
        rows.append(
            {
                "metric": "FCN-score",
                "network": f"segmenter run {seg['run']} (step {seg['step']}, trained "
                f"on the real photos of {seg['trained_on']} at {seg['trained_at'][0]}x{seg['trained_at'][1]})",
                "quality": quality,
            }
        )
    else:
        rows.append({"metric": "FCN-score", "network": "— (no --segmenter)", "quality": ""})
    rows.append({"metric": "FLD-2", "network": info["fld2"], "quality": ""})
    rows.append({"metric": "FID", "network": info["fid"] or info["fid_note"], "quality": ""})
    rows.append({"metric": "feature distance, diversity", "network": info["feature_distance"], "quality": ""})
    return rows


def training_sections(sources: dict[str, Path]) -> list[Section]:
    """Loss curves of each run (from its ``metrics.jsonl``), one figure per run."""
    figures = []
    for index, (name, path) in enumerate(sources.items()):
        figure = loss_curve_figure(path, f"loss_curves_{index}", f"{name}: training losses")
        if figure is not None:
            figures.append(figure)
    if not figures:
        return []
    return [
        Section(
            "Training curves",
            text="Loss terms logged by the trainer (no evaluation metric is computed during training).",
            figures=figures,
        )
    ]


def grid_figures(table: ScoreTable, runs: list[str], *, variants: bool) -> list[Figure]:
    """Image grids of the first layouts: layout | real | outputs (| variants), and the segmenter's view."""
    if not table.grid:
        return []
    figures = []
    rows, titles = [], ["layout", "real photo"]
    for grid_row in table.grid:
        cells = [grid_row.layout, grid_row.real]
        for name in runs:
            outputs = grid_row.outputs[name]
            cells += list(outputs) if variants else [outputs[0]]
        rows.append(cells)
    for name in runs:
        k = len(table.grid[0].outputs[name]) if variants else 1
        titles += [f"{name}" if k == 1 else f"{name} v{j}" for j in range(k)]
    shown = len(table.grid)
    what = "output, then further variants" if variants else "output (variant 0) of each run"
    figures.append(
        Figure(
            tile_grid(rows, column_titles=titles),
            f"The first {shown} of the {table.images} test layouts: layout | real photo | {what}.",
            "grid_outputs",
        )
    )
    if table.grid[0].real_segmentation is not None:
        rows = [
            [g.layout, real, *[g.segmentations[name] for name in runs]]
            for g in table.grid
            if (real := g.real_segmentation) is not None
        ]
        seg_titles = ["layout", "segm. of real", *[f"segm. of {name}" for name in runs]]
        figures.append(
            Figure(
                tile_grid(rows, column_titles=seg_titles),
                f"What the FCN-score segmenter sees in the first {shown} layouts: its labelling of the "
                "real photo and of each output, to be compared with the layout.",
                "grid_segmentations",
            )
        )
    return figures


def _write_report(
    out_dir: Path, table: ScoreTable, networks: MetricNetworks, name: str, checkpoint: str | Path
) -> Path:
    run = table.rows[1]
    sections = [
        Section("Metrics", text=protocol_text(table, networks), table=metric_table(table)),
        Section("Networks", text="Every number above comes from these frozen networks.", table=network_table(networks)),
    ]
    ious = class_iou_table(table)
    if ious is not None:
        text = (
            f"{networks.segmenter_sentence()} Dataset-level IoU over the {table.images} test images; '—': "
            "class absent from layouts and predictions."
        )
        sections.append(Section("Per-class IoU (FCN-score)", text=text, table=ious))
    sections.append(appearance_section(table))
    resized = (
        f", synthesized at {run['synthesized_at'][0]}x{run['synthesized_at'][1]} and resized to the layout"
        if run.get("synthesized_at")
        else ""
    )
    sections.append(
        Section(
            "Images",
            text=f"Outputs of {name} ({run['method']}, step {run['step']}, "
            f"{run['variants']} variant(s) per layout{resized}).",
            figures=grid_figures(table, [name], variants=True),
        )
    )
    sections += training_sections({name: parse_run_spec(checkpoint)[0]})
    return write_report(
        out_dir,
        f"imsynth evaluation: {name}",
        sections,
        subtitle=f"{run['method']} at step {run['step']} — {table.images} layouts of "
        f"{table.settings.data_root} / {table.settings.split}",
    )
