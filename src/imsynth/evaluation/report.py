"""Static HTML reports: tables, image grids and loss curves in one self-contained folder.

A report is a list of :class:`Section` s written to ``<dir>/report.html``; images are PNG files
beside it (``<dir>/report_files/``), so the folder can be copied or served as is.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imsynth.utils.io import save_image, write_text


@dataclass
class Figure:
    """An image (uint8 array) with a caption saying what it shows and how it was computed."""

    image: np.ndarray
    caption: str
    name: str


@dataclass
class Section:
    title: str
    text: str = ""
    table: list[dict[str, object]] | None = None
    figures: list[Figure] = field(default_factory=list)


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1400px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}img{max-width:100%;image-rendering:pixelated;border:1px solid #ddd}
figcaption{font-size:.9em;color:#555;margin-top:.3em}pre{background:#f6f6f6;padding:.6em;overflow:auto}
"""


def _format_cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table_html(rows: Sequence[dict[str, object]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_format_cell(row.get(c, ''))}</td>" for c in columns) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def write_report(
    out_dir: str | Path, title: str, sections: Sequence[Section], *, subtitle: str = "", filename: str = "report.html"
) -> Path:
    """Write ``out_dir/filename`` and its images; return the HTML path."""
    out_dir = Path(out_dir)
    files = out_dir / "report_files"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
    ]
    if subtitle:
        parts.append(f"<p>{html.escape(subtitle)}</p>")
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.text:
            parts.append(f"<p>{html.escape(section.text)}</p>")
        if section.table:
            parts.append(_table_html(section.table))
        for figure in section.figures:
            save_image(files / f"{figure.name}.png", figure.image)
            parts.append(
                f"<figure><img src='report_files/{html.escape(figure.name)}.png' "
                f"alt='{html.escape(figure.caption)}'><figcaption>{html.escape(figure.caption)}"
                "</figcaption></figure>"
            )
    parts.append("</body></html>")
    path = out_dir / filename
    write_text(path, "\n".join(parts))
    return path


def read_scalar_log(path: str | Path) -> dict[str, tuple[list[int], list[float]]]:
    """``metrics.jsonl`` (one JSON object per line with ``step`` and scalars) -> name -> (steps, values)."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    path = Path(path)
    if not path.exists():
        return series
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a crash: skip it
        step = record.get("step")
        if step is None:
            continue
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)):
                steps, values = series.setdefault(key, ([], []))
                steps.append(int(step))
                values.append(float(value))
    return series


PANELS_PER_ROW = 4


def plot_curves(
    series: dict[str, tuple[list[int], list[float]]], keys: Sequence[str] | None = None, title: str = "training losses"
) -> np.ndarray:
    """Line plots of logged scalars (matplotlib, Agg) -> uint8 RGB image: one panel per key, every key,
    in rows of at most :data:`PANELS_PER_ROW`."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    keys = [k for k in (keys or sorted(series)) if k in series]
    columns = max(1, min(PANELS_PER_ROW, len(keys)))
    rows = max(1, -(-len(keys) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    for ax in axes.flat[len(keys) :]:
        ax.set_visible(False)
    for ax, key in zip(axes.flat, keys, strict=False):
        steps, values = series[key]
        ax.plot(steps, values, lw=0.8)
        if len(values) > 20:  # a running mean makes the trend readable
            window = max(5, len(values) // 20)
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            ax.plot(steps[window - 1 :], smooth, lw=1.6)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.canvas.draw()
    canvas: Any = fig.canvas  # the Agg canvas (typed as the base class, which lacks buffer_rgba)
    image = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image
