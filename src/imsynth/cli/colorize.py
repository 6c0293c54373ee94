"""Colorization commands (Zhang, Isola & Efros, ECCV 2016):

* ``imsynth prior --data DIR --out PRIOR_DIR`` -- the colour prior of a photo folder
  (``PRIOR_DIR/prior.json``), needed by the class-rebalanced loss;
* ``imsynth train colorizer --data DIR [--prior PRIOR_DIR] ...`` -- the shared training options
  plus the recipe's; without ``--prior`` the prior is computed first into ``OUT/prior``;
* ``imsynth colorize --checkpoint C --input IMAGE_OR_FOLDER --out DIR`` -- colorize photos of any
  size with a checkpoint alone (output: ``DIR/<name>.png``, same size and lightness).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from imsynth.cli.train import resolve_streets, train_method, train_options

if TYPE_CHECKING:
    from imsynth.color.bins import GamutRule
    from imsynth.color.encoding import DecodeMode
    from imsynth.training import TrainConfig

__all__ = ["prior_command", "train_colorizer", "colorize_command"]

_STREETS_SIZE = (256, 512)


def _photo_folder(data: str | None) -> str:
    """``--data``: a folder of photos, or ``streets`` (the photos of the embedded street renders)."""
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


def _quantization_options(func: Any) -> Any:
    func = click.option(
        "--gamut-rule",
        type=click.Choice(["nearest", "cell"]),
        default="nearest",
        show_default=True,
        help="In-gamut bins: nearest bin of an 8-bit sRGB colour (261) or cell touching the gamut (262).",
    )(func)
    return click.option(
        "--grid",
        type=click.Choice(["gamut10", "uniform18"]),
        default="gamut10",
        show_default=True,
        help="ab classes: the in-gamut grid of size 10, or an 18x18 grid (Julia variant).",
    )(func)


@click.command("prior")
@click.option("--data", required=True, help="Folder of photos (searched recursively), or 'streets'.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--load-size",
    type=click.IntRange(1),
    default=256,
    show_default=True,
    help="Resize each photo's shorter side to this first (use the training --load-size).",
)
@_quantization_options
@click.option("--workers", type=click.IntRange(0), default=0, show_default=True)
def prior_command(data: str, out_dir: Path, load_size: int, grid: str, gamut_rule: str, workers: int) -> None:
    """Compute the ab colour prior of a photo folder (for the class-rebalanced colorizer loss)."""
    from imsynth.color.bins import QuantizationConfig
    from imsynth.data.datasets import DatasetError
    from imsynth.methods.colorizer import folder_prior

    try:
        quantization = QuantizationConfig(grid=grid, gamut_rule=gamut_rule)  # type: ignore[arg-type]
        prior = folder_prior(_photo_folder(data), quantization, load_size, workers, progress=True)
        path = prior.save(out_dir)
        click.echo(f"colour prior: {_describe_prior(prior)} -> {path}")
    except (DatasetError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@click.command("colorizer")
@train_options
@click.option(
    "--prior",
    "prior_dir",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Folder written by `imsynth prior` (default: computed into OUT/prior).",
)
@click.option(
    "--head",
    type=click.Choice(["classification", "regression"]),
    default="classification",
    show_default=True,
    help="Zhang et al.'s classifier, or the L2 regression baseline.",
)
@click.option(
    "--width-multiplier",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Scales every block's width (e.g. 0.25 for a small CPU model).",
)
@click.option(
    "--load-size",
    type=click.IntRange(8),
    default=256,
    show_default=True,
    help="Shorter side of the photos before cropping.",
)
@click.option(
    "--crop-size", type=click.IntRange(8), default=176, show_default=True, help="Training crops (a multiple of 8)."
)
@click.option("--no-flip", is_flag=True, help="No random horizontal flips.")
@_quantization_options
@click.option(
    "--weighting",
    type=click.Choice(["rebalance", "neglog", "none"]),
    default="rebalance",
    show_default=True,
    help="Pixel weights: Eq. 4 rebalancing, -log p (Julia variant) or none.",
)
@click.option("--rebalance-lambda", type=click.FloatRange(0, 1), default=0.5, show_default=True)
@click.option(
    "--sigma",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Gaussian of the soft encoding and of the prior smoothing (ab units).",
)
@click.option(
    "--neighbors", type=click.IntRange(1), default=5, show_default=True, help="Bins each target colour is spread over."
)
@click.option(
    "--decode", type=click.Choice(["annealed_mean", "mean", "mode"]), default="annealed_mean", show_default=True
)
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=0.38, show_default=True)
@click.option("--weight-decay", type=click.FloatRange(min=0), default=1e-3, show_default=True)
@click.pass_context
def train_colorizer(
    ctx: click.Context,
    prior_dir: Path | None,
    head: Literal["classification", "regression"],
    width_multiplier: float,
    load_size: int,
    crop_size: int,
    no_flip: bool,
    grid: Literal["gamut10", "uniform18"],
    gamut_rule: GamutRule,
    weighting: Literal["rebalance", "neglog", "none"],
    rebalance_lambda: float,
    sigma: float,
    neighbors: int,
    decode: DecodeMode,
    temperature: float,
    weight_decay: float,
    **params: Any,
) -> None:
    """Colorization (Zhang, Isola & Efros 2016): lightness -> ab classes, rebalanced cross-entropy.

    Reference settings: --lr 3e-5 (default), --batch-size 40, --crop-size 176; a narrow CPU model
    (--width-multiplier 0.25) learns faster with --lr 1e-3.
    """
    from imsynth.color.bins import QuantizationConfig, ab_bins
    from imsynth.color.encoding import DecodeConfig
    from imsynth.color.prior import ColorPrior, RebalanceConfig
    from imsynth.methods.colorizer import ColorizerDataConfig, ColorizerMethod, ColorizerMethodConfig, folder_prior
    from imsynth.models.colorizer import ColorizerConfig
    from imsynth.training.speed import default_num_workers

    def configure(train: TrainConfig) -> ColorizerMethodConfig:
        config = ColorizerMethodConfig(
            model=ColorizerConfig(head=head, width_multiplier=width_multiplier),
            quantization=QuantizationConfig(
                grid=grid,
                gamut_rule=gamut_rule,
                neighbors=neighbors,
                sigma=sigma,
            ),
            rebalance=RebalanceConfig(
                weighting=weighting,
                lam=rebalance_lambda,
                sigma=sigma,
            ),
            decode=DecodeConfig(mode=decode, temperature=temperature),
            data=ColorizerDataConfig(
                root=_photo_folder(params["data"]), load_size=load_size, crop_size=crop_size, flip=not no_flip
            ),
        )
        if head == "classification" and weighting != "none":
            if prior_dir is not None:
                prior, source = ColorPrior.load(prior_dir), str(prior_dir)
            else:
                source = str(Path(train.out_dir) / "prior")
                click.echo(f"no --prior given: computing the colour prior of {config.data.root} into {source}")
                workers = train.num_workers if train.num_workers is not None else default_num_workers("cpu")
                prior = folder_prior(config.data.root, config.quantization, load_size, workers, progress=True)
                prior.save(source)
            prior.check_bins(ab_bins(config.quantization))
            click.echo(f"colour prior: {_describe_prior(prior)}")
            config.prior, config.prior_source = prior.probabilities.tolist(), source
        return config

    train_method(ctx, params, ColorizerMethod, configure, weight_decay=weight_decay)


@click.command("colorize")
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Run folder, checkpoint folder or colorizer.safetensors.",
)
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="An image (gray, RGB or RGBA; any size) or a folder of images.",
)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
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
@click.option("--device", default="auto", show_default=True)
def colorize_command(
    checkpoint: Path,
    input_path: Path,
    out_dir: Path,
    decode: DecodeMode | None,
    temperature: float | None,
    work_size: int,
    device: str,
) -> None:
    """Colorize photos with a trained colorizer: same size, same lightness, predicted colours."""
    from dataclasses import replace

    from imsynth.inference.colorize import colorize_files, list_images_to_colorize, load_colorizer
    from imsynth.runs import CheckpointError

    try:
        colorizer = load_colorizer(checkpoint, device, work_size=work_size or None)
        if decode is not None:
            colorizer.decode = replace(colorizer.decode, mode=decode)
        if temperature is not None:
            colorizer.decode = replace(colorizer.decode, temperature=temperature)
        paths = list_images_to_colorize(input_path)
        root = input_path if input_path.is_dir() else None
        written = colorize_files(colorizer, paths, out_dir, root=root)
    except (CheckpointError, FileNotFoundError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"colorized {len(written)} image(s) into {out_dir} (step {colorizer.step}, {colorizer.decode.mode})")
