"""What the batch commands (``synthesize``, ``translate``, ``colorize``) share on the command line."""

from __future__ import annotations

import click

from imsynth.inference.batch import BatchReport

overwrite_option = click.option(
    "--overwrite", is_flag=True, help="Replace outputs that already exist in --out (default: refuse)."
)


def finish_batch(report: BatchReport, summary: str) -> None:
    """Print the summary, the skipped files and every failure; exit 1 if any input failed."""
    click.echo(summary)
    for line in report.problem_lines():
        click.echo(line, err=True)
    if report.failures:
        raise SystemExit(1)
