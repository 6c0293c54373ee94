"""Colorization commands (Zhang, Isola & Efros, ECCV 2016):

* ``imsynth prior --data DIR --out PRIOR_DIR`` -- the colour prior of a photo folder
  (``PRIOR_DIR/prior.json``), needed by the class-rebalanced loss;
* ``imsynth train colorizer --data DIR [--prior PRIOR_DIR] ...`` -- the shared training options
  plus the recipe's; without ``--prior`` the prior is computed first into ``OUT/prior``;
* ``imsynth colorize --checkpoint C --input IMAGE_OR_FOLDER --out DIR`` -- colorize photos of any
  size with a checkpoint alone (output: ``DIR/<name>.png``, same size and lightness).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from imsynth.cli.batch import finish_batch, input_option, out_option, overwrite_option
from imsynth.cli.configure import field_option
from imsynth.cli.options import device_option
from imsynth.cli.prepare import resolve_streets
from imsynth.cli.train import train_method, train_options
from imsynth.utils.console import say

if TYPE_CHECKING:
    from imsynth.color.encoding import DecodeMode
    from imsynth.training import TrainConfig

__all__ = ["prior_command", "train_colorizer", "colorize_command"]

_STREETS_SIZE = (256, 512)


def _photo_folder(data: str | None, dry_run: bool = False) -> str:
    """``--data``: a folder of photos, or ``streets`` (the photos of the embedded street renders)."""
    if data == "streets" and dry_run:
        return data
    if data == "streets":
        return str(resolve_streets(data, _STREETS_SIZE) / "leftImg8bit" / "train")
    if data is None:
        raise click.UsageError("--data is required: a folder of photos (searched recursively) or 'streets'")
    if not Path(data).is_dir():
        raise click.UsageError(f"--data {data}: no such folder")
    return data


def _describe_prior(prior: Any) -> str:
    a, b = prior.peak()
    return (
        f"{prior.images} image(s), {prior.images_without_color} without colour (skipped), "
        f"{len(prior.counts)} bins, most frequent bin at ab = ({a:g}, {b:g})"
    )


def _quantization_options(func: Any, fields: bool = False) -> Any:
    """``--grid`` and ``--gamut-rule`` (as config fields of ``train colorizer`` when ``fields``)."""

    def option(*decls: str, field: str, **attrs: Any) -> Any:
        return field_option(*decls, field=field, **attrs) if fields else click.option(*decls, **attrs)

    func = option(
        "--gamut-rule",
        field="quantization.gamut_rule",
        type=click.Choice(["nearest", "cell"]),
        default="nearest",
        show_default=True,
        help="In-gamut bins: nearest bin of an 8-bit sRGB colour (261) or cell touching the gamut (262).",
    )(func)
    return option(
        "--grid",
        field="quantization.grid",
        type=click.Choice(["gamut10", "uniform18"]),
        default="gamut10",
        show_default=True,
        help="ab classes: the in-gamut grid of size 10, or an 18x18 grid (Julia variant).",
    )(func)


@click.command("prior")
@click.option("--data", required=True, help="Folder of photos (searched recursively), or 'streets'.")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for prior.json."
)
@click.option(
    "--load-size",
    type=click.IntRange(1),
    default=256,
    show_default=True,
    help="Resize each photo's shorter side to this first (use the training --load-size).",
)
@_quantization_options
@click.option(
    "--workers", type=click.IntRange(0), default=0, show_default=True, help="Image-decoding worker processes."
)
def prior_command(data: str, out_dir: Path, load_size: int, grid: str, gamut_rule: str, workers: int) -> None:
    """Compute the ab colour prior of a photo folder (for the class-rebalanced colorizer loss)."""
    from imsynth.color.bins import QuantizationConfig
    from imsynth.data.datasets import DatasetError
    from imsynth.methods.colorizer import folder_prior
    from imsynth.utils.io import OutputError, describe_os_error, ensure_output_dir

    try:
        quantization = QuantizationConfig(grid=grid, gamut_rule=gamut_rule)  # type: ignore[arg-type]
        ensure_output_dir(out_dir)  # before the work: a clear message, not a traceback at the end
        photos = _photo_folder(data)
        prior = folder_prior(photos, quantization, load_size, workers, progress=True)
    except (DatasetError, ValueError, OutputError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        path = prior.save(out_dir)
    except OSError as exc:
        raise click.ClickException(f"--out {out_dir}: cannot write prior.json ({describe_os_error(exc)})") from None
    click.echo(f"colour prior: {_describe_prior(prior)} -> {path}")


@click.command("colorizer")
@train_options(lr=3e-5)
@click.option(
    "--prior",
    "prior_dir",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Folder written by `imsynth prior` (default: computed into OUT/prior).",
)
@field_option(
    "--head",
    field="model.head",
    type=click.Choice(["classification", "regression"]),
    default="classification",
    show_default=True,
    help="Zhang et al.'s classifier, or the L2 regression baseline.",
)
@field_option(
    "--width-multiplier",
    field="model.width_multiplier",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Scales every block's width (e.g. 0.25 for a small CPU model).",
)
@field_option(
    "--load-size",
    field="data.load_size",
    type=click.IntRange(8),
    default=256,
    show_default=True,
    help="Shorter side of the photos before cropping.",
)
@field_option(
    "--crop-size",
    field="data.crop_size",
    type=click.IntRange(8),
    default=176,
    show_default=True,
    help="Training crops (a multiple of 8).",
)
@field_option(
    "--no-flip",
    field=lambda off: {"data.flip": False} if off else {},
    is_flag=True,
    help="No random horizontal flips. [config: data.flip=false]",
)
@functools.partial(_quantization_options, fields=True)
@field_option(
    "--weighting",
    field="rebalance.weighting",
    type=click.Choice(["rebalance", "neglog", "none"]),
    default="rebalance",
    show_default=True,
    help="Pixel weights: Eq. 4 rebalancing, -log p (Julia variant) or none.",
)
@field_option(
    "--rebalance-lambda",
    field="rebalance.lam",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="lambda of Eq. 4: the share of the uniform distribution mixed into the prior.",
)
@field_option(
    "--sigma",
    field=lambda sigma: {"quantization.sigma": sigma, "rebalance.sigma": sigma},
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Gaussian of the soft encoding and of the prior smoothing (ab units). "
    "[config: quantization.sigma, rebalance.sigma]",
)
@field_option(
    "--neighbors",
    field="quantization.neighbors",
    type=click.IntRange(1),
    default=5,
    show_default=True,
    help="Bins each target colour is spread over.",
)
@field_option(
    "--decode",
    field="decode.mode",
    type=click.Choice(["annealed_mean", "mean", "mode"]),
    default="annealed_mean",
    show_default=True,
    help="How the sample grids turn class probabilities into colours.",
)
@field_option(
    "--temperature",
    field="decode.temperature",
    type=click.FloatRange(min=0, min_open=True),
    default=0.38,
    show_default=True,
    help="Annealed-mean temperature (paper: 0.38).",
)
@field_option(
    "--weight-decay",
    field="train.weight_decay",
    type=click.FloatRange(min=0),
    default=1e-3,
    show_default=True,
    help="Adam weight decay (the reference 1e-3).",
)
@click.pass_context
def train_colorizer(ctx: click.Context, prior_dir: Path | None, **params: Any) -> None:
    """Colorization (Zhang, Isola & Efros 2016): lightness -> ab classes, rebalanced cross-entropy.

    Reference settings: --lr 3e-5 (default), --batch-size 40, --crop-size 176; a narrow CPU model
    (--width-multiplier 0.25) learns faster with --lr 1e-3.
    """
    from imsynth.color.bins import ab_bins
    from imsynth.color.prior import ColorPrior
    from imsynth.methods.colorizer import ColorizerMethod, folder_prior
    from imsynth.training.speed import default_num_workers

    def prepare(config: Any, train: TrainConfig, dry_run: bool) -> None:
        config.data.root = _photo_folder(config.data.root or None, dry_run)
        if dry_run or config.model.head != "classification" or config.rebalance.weighting == "none" or config.prior:
            return
        if prior_dir is not None:
            prior, source = ColorPrior.load(prior_dir), str(prior_dir)
        else:
            source = str(Path(train.out_dir) / "prior")
            say(f"no --prior given: computing the colour prior of {config.data.root} into {source}")
            workers = train.num_workers if train.num_workers is not None else default_num_workers("cpu")
            prior = folder_prior(config.data.root, config.quantization, config.data.load_size, workers, progress=True)
            prior.save(source)
        prior.check_bins(ab_bins(config.quantization))
        say(f"colour prior: {_describe_prior(prior)}")
        config.prior, config.prior_source = prior.probabilities.tolist(), source

    train_method(ctx, params, ColorizerMethod, prepare)


@click.command("colorize")
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Run folder, checkpoint folder or colorizer.safetensors.",
)
@input_option("An image (gray, RGB or RGBA; any size) or a folder of images (searched recursively).")
@out_option("--input")
@click.option(
    "--decode",
    type=click.Choice(["annealed_mean", "mean", "mode"]),
    default=None,
    help="Override the run's decoding (default: annealed mean).",
)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Annealed-mean temperature (default: the run's, 0.38).",
)
@click.option(
    "--work-size",
    type=click.IntRange(0),
    default=256,
    show_default=True,
    help="Shorter side the network sees (the colours are upsampled to full size); 0 = full size.",
)
@device_option
@overwrite_option
def colorize_command(
    checkpoint: Path,
    input_path: Path,
    out_dir: Path,
    decode: DecodeMode | None,
    temperature: float | None,
    work_size: int,
    device: str,
    overwrite: bool,
) -> None:
    """Colorize photos with a trained colorizer: same size, same lightness, predicted colours.

    Every image is processed; the ones that cannot be read are listed at the end (exit status 1).
    """
    from dataclasses import replace

    from imsynth.inference.colorize import colorize_files, list_images_to_colorize, load_colorizer
    from imsynth.runs import CheckpointError
    from imsynth.utils.io import OutputError

    try:
        colorizer = load_colorizer(checkpoint, device, work_size=work_size or None)
        if decode is not None:
            colorizer.decode = replace(colorizer.decode, mode=decode)
        if temperature is not None:
            colorizer.decode = replace(colorizer.decode, temperature=temperature)
        paths = list_images_to_colorize(input_path)
        root = input_path if input_path.is_dir() else None
        say(
            f"colorizing {len(paths)} image(s) with the colorizer of step {colorizer.step} "
            f"({colorizer.decode.mode}) into {out_dir}"
        )
        report = colorize_files(colorizer, paths, out_dir, root=root, overwrite=overwrite)
    except (CheckpointError, FileNotFoundError, OutputError) as exc:
        raise click.ClickException(str(exc)) from None
    finish_batch(
        report, f"colorized {len(report.done)} image(s) into {out_dir} (step {colorizer.step}, {colorizer.decode.mode})"
    )
