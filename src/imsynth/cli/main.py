"""The ``imsynth`` console command: one group, a subcommand per job (``imsynth --help``)."""

from __future__ import annotations

import warnings

import click

from imsynth import __version__
from imsynth.cli.colorize import colorize_command, prior_command, train_colorizer
from imsynth.cli.data import data_group
from imsynth.cli.demo import demo_command
from imsynth.cli.evaluate import compare_command, evaluate_command, train_segmenter
from imsynth.cli.pix2pix import export_command, train_pix2pix, translate_command
from imsynth.cli.serve import serve_command
from imsynth.cli.synthesize import synthesize_command
from imsynth.cli.train import train_group
from imsynth.utils.console import is_quiet, set_quiet

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="imsynth")
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="No progress bars or informational lines: errors and each command's result only (imsynth -q train ...).",
)
@click.pass_context
def cli(ctx: click.Context, quiet: bool) -> None:
    """imsynth: learned photographic image synthesis from semantic layouts."""
    from PIL import Image

    # The commands check image sizes themselves (imsynth.data.imagefile) and say so clearly.
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    if quiet and not is_quiet():
        set_quiet(True)
        ctx.call_on_close(lambda: set_quiet(False))


cli.add_command(data_group)
cli.add_command(demo_command)
cli.add_command(train_group)
cli.add_command(synthesize_command)
cli.add_command(serve_command)
cli.add_command(translate_command)
cli.add_command(export_command)
train_group.add_command(train_pix2pix)
cli.add_command(evaluate_command)
cli.add_command(compare_command)
train_group.add_command(train_segmenter)
cli.add_command(prior_command)
cli.add_command(colorize_command)
train_group.add_command(train_colorizer)


def main() -> None:  # pragma: no cover - thin wrapper for ``python -m imsynth``
    cli(prog_name="imsynth")
