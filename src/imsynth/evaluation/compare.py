"""``imsynth compare``: several synthesis runs on the same layouts, in one table and one grid.

All runs are scored in one pass over the same test layouts (:func:`~imsynth.evaluation.scoring.score_runs`)
by the same networks, with the real photos as the upper bound row. Writes ``metrics.json`` (every
number), ``table.md`` (the headline table as Markdown, for a README) and ``report.html``.
Give the runs equal training budgets (e.g. the same ``--max-minutes``) for a fair comparison; the
table lists each run's step count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imsynth.evaluation.evaluate import (
    appearance_section,
    class_iou_table,
    grid_figures,
    metric_table,
    network_table,
    protocol_text,
    training_sections,
)
from imsynth.evaluation.report import Section, write_report
from imsynth.evaluation.runs import load_run, parse_run_spec, run_name
from imsynth.evaluation.scoring import EvaluationSettings, MetricNetworks, ScoreTable, score_runs
from imsynth.utils.io import write_json, write_text

__all__ = ["CompareResult", "compare_runs", "markdown_table", "unique_names"]


def unique_names(runs: list[str | Path]) -> list[str]:
    """Display names of the runs (their folder names), numbered where two would be equal."""
    names = [run_name(r) for r in runs]
    return [f"{n} ({i + 1})" if names.count(n) > 1 else n for i, n in enumerate(names)]


def markdown_table(table: ScoreTable) -> str:
    """The headline metric table as GitHub Markdown, with the image count and networks underneath."""
    rows = metric_table(table)
    columns = [c for c in rows[0] if c != "k" or any(r["k"] != "—" for r in rows)]
    lines = ["| " + " | ".join(c or "run" for c in columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    networks = table.networks
    segmenter = networks.get("segmenter")
    notes = [
        f"{table.images} layouts of split '{table.settings.split}'; one output (variant 0) per layout, "
        "except the 'all k' FCN columns (every variant segmented) and diversity (over the k variants of a "
        "layout); ↓ lower is better."
    ]
    if table.floor_images:
        notes.append(
            f"The real photos' Fréchet distances are their sampling floor: the {table.images} test photos "
            f"vs {table.floor_images} real photos of split '{table.settings.floor_split}'."
        )
    if segmenter:
        validation = segmenter.get("validation_on_real_photos") or {}
        quality = f", val mIoU on real photos {validation['mean_iou']:.3f}" if validation else ""
        notes.append(f"FCN-score: segmenter `{Path(segmenter['run']).name}` (step {segmenter['step']}{quality}).")
    notes.append(f"FLD-2: {networks['fld2']}.")
    if networks.get("fid"):
        notes.append(f"FID: {networks['fid']}.")
    notes.append(f"Feature distance / diversity: {networks['feature_distance']}.")
    notes.append(
        "Texture / contrast / colourful. ×: synthesized over real (mean |Laplacian| of the luminance inside "
        "class regions eroded by 2 px, averaged over road, sidewalk, building, vegetation and car; standard "
        "deviation of the luminance; Hasler-Süsstrunk colourfulness), over every variant; 1 = like the real photos."
    )
    return "\n".join(lines) + "\n\n" + " ".join(notes) + "\n"


@dataclass
class CompareResult:
    """What :func:`compare_runs` wrote."""

    table: ScoreTable
    metrics: dict[str, Any]
    out_dir: Path
    report: Path

    def markdown_table(self) -> str:
        return markdown_table(self.table)


def compare_runs(
    runs: list[str | Path], settings: EvaluationSettings, out_dir: str | Path, log: Callable[[str], None] = print
) -> CompareResult:
    """Score ``runs`` side by side and write the report.

    A run is a run folder, checkpoint folder or weight file, optionally ``PATH@HxW`` to synthesize
    at HxW (e.g. pix2pix trained on squashed 256x256 images) and resize back to the layouts' size.
    """
    out_dir = Path(out_dir)
    names = unique_names(list(runs))
    synthesizers = {name: load_run(spec, settings.device) for name, spec in zip(names, runs, strict=True)}
    networks = MetricNetworks.load(settings)
    table = score_runs(synthesizers, settings, networks, log)
    metrics = {**table.to_json(), "runs": {name: str(spec) for name, spec in zip(names, runs, strict=True)}}
    write_json(out_dir / "metrics.json", metrics)
    write_text(out_dir / "table.md", markdown_table(table))

    budget = ", ".join(f"{row['name']}: {row['method']}, step {row['step']}" for row in table.rows[1:])
    sections = [
        Section(
            "Metrics",
            text=f"{protocol_text(table, networks)} Runs: {budget}. The real-photo row is the upper "
            "bound of the FCN-score.",
            table=metric_table(table),
        ),
        Section("Networks", text="Every number above comes from these frozen networks.", table=network_table(networks)),
    ]
    ious = class_iou_table(table)
    if ious is not None:
        sections.append(
            Section(
                "Per-class IoU (FCN-score)",
                text=f"{networks.segmenter_sentence()} Dataset-level "
                f"IoU over the {table.images} test images of every row.",
                table=ious,
            )
        )
    sections.append(appearance_section(table))
    sections.append(
        Section("Images", text="The same layouts for every run.", figures=grid_figures(table, names, variants=False))
    )
    sections += training_sections({name: parse_run_spec(spec)[0] for name, spec in zip(names, runs, strict=True)})
    report = write_report(
        out_dir,
        "imsynth comparison: " + " vs ".join(names),
        sections,
        subtitle=f"{table.images} layouts of {settings.data_root} / {settings.split}",
    )
    return CompareResult(table, metrics, out_dir, report)
