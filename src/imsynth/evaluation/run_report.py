"""The report of one synthesis run: held-out layouts | real photos | synthesized variants.

Written by the main job (``imsynth demo``) and by ``imsynth report``: everything is read from the
run folder (its checkpoint carries the model config; ``metrics.jsonl`` the training curves).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from imsynth.data.cityscapes import find_pairs
from imsynth.evaluation.appearance import AppearanceStatistics, appearance_ratios
from imsynth.evaluation.report import Figure, Section, plot_curves, read_scalar_log, write_report
from imsynth.inference.crn import load_crn
from imsynth.runs.files import METRICS_FILE
from imsynth.utils.images import tile_grid
from imsynth.utils.io import save_image


def layout_grid(
    run_dir: str | Path, data_root: str | Path, split: str = "val", count: int = 6, variants: int = 3
) -> tuple[np.ndarray, dict]:
    """Rows of (layout | real | variant 0..variants-1) for the first ``count`` pairs of ``split``."""
    crn = load_crn(run_dir, device="cpu")
    samples = find_pairs(data_root, split)[:count]
    if not samples:
        raise ValueError(f"no pairs in split {split!r} of {data_root}")
    rows = []
    height, width = crn.model.grid_size
    for sample in samples:
        ids = crn.label_space.load(sample.label_path)
        with Image.open(sample.image_path) as photo:
            real = np.asarray(photo.convert("RGB"))
        photos = crn.synthesize(ids, variants)
        rows.append([crn.label_space.colorize(ids), real, *photos])
    k = min(variants, crn.model.num_variants)
    titles = ["layout", "real photo", *[f"synthesized {j}" for j in range(k)]]
    grid = tile_grid(rows, column_titles=titles, cell_size=(height, width))
    info = {
        "step": crn.step,
        "backbone": crn.backbone,
        "layouts": len(samples),
        "variants shown": k,
        "model variants": crn.model.num_variants,
        "resolution": f"{height}x{width}",
        "modules": crn.model.config.num_modules,
        "parameters": sum(p.numel() for p in crn.model.parameters()),
    }
    return grid, info


def appearance_on_split(run_dir: str | Path, data_root: str | Path, split: str = "val", count: int | None = 50) -> dict:
    """Texture, contrast and colourfulness ratios (:mod:`imsynth.evaluation.appearance`) of the run's
    synthesized photos (every variant) against the real photos of the first ``count`` layouts."""
    crn = load_crn(run_dir, device="cpu")
    samples = find_pairs(data_root, split)[:count]
    space = crn.label_space
    synthesized, real = AppearanceStatistics(space.num_classes), AppearanceStatistics(space.num_classes)
    for sample in samples:
        ids = space.load(sample.label_path)
        train_ids = space.ids_to_train(ids)
        with Image.open(sample.image_path) as photo:
            real.add(np.asarray(photo.convert("RGB"))[None], train_ids)
        synthesized.add(crn.synthesize(ids), train_ids)
    return {"layouts": len(samples), **appearance_ratios(synthesized, real, space.train_names)}


def appearance_summary(ratios: dict) -> str:
    """One line: the three overall ratios of :func:`appearance_on_split`."""
    parts = [
        f"{name} {ratios[key]:.2f}" if ratios.get(key) is not None else f"{name} -"
        for name, key in (
            ("texture", "texture_ratio"),
            ("contrast", "contrast_ratio"),
            ("colourfulness", "colourfulness_ratio"),
        )
    ]
    return ", ".join(parts) + f" (synthesized / real over {ratios['layouts']} held-out layouts; 1 = like the photos)"


def _appearance_section(ratios: dict, split: str) -> Section:
    classes = sorted(ratios["class_texture_ratio"], key=lambda n: -ratios["class_texture_ratio"][n])
    table = [
        {
            "class": "whole image / mean",
            "texture": ratios["texture_ratio"],
            "contrast": ratios["contrast_ratio"],
            "colourfulness": ratios["colourfulness_ratio"],
        }
    ]
    for name in classes:
        table.append(
            {
                "class": name,
                "texture": ratios["class_texture_ratio"].get(name, "—"),
                "contrast": ratios["class_contrast_ratio"].get(name, "—"),
                "colourfulness": ratios["class_colourfulness_ratio"].get(name, "—"),
            }
        )
    text = (
        f"Synthesized over real, on the first {ratios['layouts']} layouts of split '{split}' (every variant): "
        "mean |Laplacian| of the luminance inside class regions eroded by 2 px (the first row averages road, "
        "sidewalk, building, vegetation and car), standard deviation of the luminance, Hasler-Süsstrunk "
        "colourfulness. 1 = as textured, contrasty and colourful as the real photos."
    )
    return Section("Is it photographic?", text=text, table=table)


def write_run_report(
    run_dir: str | Path,
    data_root: str | Path,
    split: str = "val",
    count: int = 6,
    variants: int = 3,
    extra_sections: list[Section] | None = None,
    appearance: dict | None = None,
) -> Path:
    """Write ``run_dir/report.html`` (+ ``run_dir/synthesis_grid.png``) and return its path.
    ``appearance``: the ratios of :func:`appearance_on_split`, shown in their own section."""
    run_dir = Path(run_dir)
    grid, info = layout_grid(run_dir, data_root, split, count, variants)
    save_image(run_dir / "synthesis_grid.png", grid)
    sections = [
        Section(
            "Held-out layouts",
            text=(
                f"{info['layouts']} layouts of split '{split}' of {data_root}, never seen in training; "
                f"CRN at step {info['step']} ({info['resolution']}, {info['modules']} modules, "
                f"{info['parameters']:,} parameters, loss network {info['backbone']}); "
                f"first {info['variants shown']} of {info['model variants']} variants per layout."
            ),
            figures=[Figure(grid, "layout | real photo | synthesized variants", "synthesis_grid")],
        ),
        Section("Model", table=[{"property": k, "value": v} for k, v in info.items()]),
    ]
    if appearance is not None:
        sections.insert(1, _appearance_section(appearance, split))
    series = read_scalar_log(run_dir / METRICS_FILE)
    loss_keys = [k for k in series if k == "loss" or k.startswith("loss/")]
    if loss_keys:
        sections.append(
            Section(
                "Training curves",
                text="Logged by the trainer to metrics.jsonl (window means over the logging interval).",
                figures=[Figure(plot_curves(series, loss_keys), "loss terms per step", "loss_curves")],
            )
        )
    sections += extra_sections or []
    return write_report(run_dir, f"imsynth CRN run: {run_dir.name}", sections)
