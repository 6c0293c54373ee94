"""What the batch commands (``synthesize``, ``translate``, ``colorize``) share on the command line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from imsynth.inference.batch import BatchReport

overwrite_option = click.option(
    "--overwrite", is_flag=True, help="Replace outputs that already exist in --out (default: refuse)."
)


def out_option(mirrored: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--out DIR``, the output folder, which mirrors the folders under the option ``mirrored``."""
    return click.option(
        "--out",
        "out_dir",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help=f"Output folder; it mirrors the folders under {mirrored}.",
    )


def finish_batch(report: BatchReport, summary: str) -> None:
    """Print the summary, the skipped files and every failure; exit 1 if any input failed."""
    click.echo(summary)
    for line in report.problem_lines():
        click.echo(line, err=True)
    if report.failures:
        raise SystemExit(1)
