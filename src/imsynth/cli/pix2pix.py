"""pix2pix commands: ``imsynth train pix2pix``, ``imsynth translate`` and ``imsynth export``.

* ``train pix2pix`` -- the shared training options (:func:`imsynth.cli.train.train_options`) plus
  the dataset mode, networks and objective; the paper's defaults (Isola et al. 2017).
* ``translate`` -- run a pix2pix checkpoint on an image or a folder; a JSON sidecar per input
  records how the outputs were made (dropout active or not, seed, step).
* ``export`` -- write a pix2pix or CRN generator as ONNX and check it with ONNX Runtime.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from imsynth.cli.batch import finish_batch, out_option, overwrite_option
from imsynth.cli.configure import field_option
from imsynth.cli.options import COLOR_TOLERANCE, SIZE
from imsynth.cli.prepare import data_root, store_label_space
from imsynth.cli.train import train_method, train_options

if TYPE_CHECKING:
    from imsynth.training import TrainConfig

STREETS_SIZE = (256, 512)  # the embedded street scenes are rendered at this size, then resized to load_size


def _generator_fields(name: str) -> dict[str, Any]:
    from imsynth.models.pix2pix import generator_config_from_name

    try:
        generator = generator_config_from_name(name)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--generator") from None
    keys = ("arch", "depth") if generator.arch == "unet" else ("arch", "num_blocks")
    return {f"model.generator.{key}": getattr(generator, key) for key in keys}


@click.command("pix2pix")
@train_options(lr=2e-4)
@field_option(
    "--dataset-mode",
    field="data.mode",
    type=click.Choice(["cityscapes", "aligned", "paired"]),
    default="cityscapes",
    show_default=True,
    help="cityscapes: colour-coded label map -> photo; aligned: A|B images; "
    "paired: folders A/ and B/ matched by file name.",
)
@field_option(
    "--data-b", field="data.root_b", default=None, help="paired mode: the folder of B images (default: DATA/B)."
)
@field_option(
    "--split",
    field="data.split",
    default="train",
    show_default=True,
    help="Subfolder (split) to train on, when present.",
)
@field_option(
    "--direction",
    field="data.direction",
    type=click.Choice(["AtoB", "BtoA"]),
    default="AtoB",
    show_default=True,
    help="Translate A to B (AtoB) or B to A.",
)
@field_option(
    "--generator",
    "generator_name",
    field=_generator_fields,
    default="unet_256",
    show_default=True,
    help="unet_256, unet_128, unet_<2^depth> (e.g. unet_32 for tiny models), resnet_9blocks, resnet_6blocks. "
    "[config: model.generator.arch, depth, num_blocks]",
)
@field_option(
    "--ngf",
    field="model.generator.ngf",
    type=click.IntRange(1),
    default=64,
    show_default=True,
    help="Generator base width.",
)
@field_option(
    "--ndf",
    field="model.discriminator.ndf",
    type=click.IntRange(1),
    default=64,
    show_default=True,
    help="Discriminator base width.",
)
@field_option(
    "--n-layers-d",
    field="model.discriminator.n_layers",
    type=click.IntRange(0),
    default=3,
    show_default=True,
    help="PatchGAN depth: 3 = 70x70 patches, 1 = 16x16, 5 = 286x286, 0 = 1x1 PixelGAN.",
)
@field_option(
    "--norm",
    field=lambda norm: {"model.generator.norm": norm, "model.discriminator.norm": norm},
    type=click.Choice(["batch", "instance"]),
    default="batch",
    show_default=True,
    help="Normalisation of both networks. [config: model.generator.norm, model.discriminator.norm]",
)
@field_option(
    "--no-dropout",
    field=lambda off: {"model.generator.dropout": 0.0} if off else {},
    is_flag=True,
    help="Remove the generator's dropout (its noise source). [config: model.generator.dropout=0]",
)
@field_option(
    "--gan-mode",
    field="loss.gan_mode",
    type=click.Choice(["vanilla", "lsgan"]),
    default="vanilla",
    show_default=True,
    help="Adversarial loss: the paper's cross-entropy (vanilla) or least squares.",
)
@field_option(
    "--lambda-l1",
    field="loss.lambda_l1",
    type=click.FloatRange(min=0),
    default=100.0,
    show_default=True,
    help="Weight of the L1 term (paper: 100).",
)
@field_option(
    "--load-size",
    field="data.load_size",
    type=click.IntRange(1),
    default=286,
    show_default=True,
    help="Resize to this square first...",
)
@field_option(
    "--crop-size",
    field="data.crop_size",
    type=click.IntRange(1),
    default=256,
    show_default=True,
    help="...then random-crop this square (a multiple of the generator's size multiple).",
)
@field_option(
    "--no-flip",
    field=lambda off: {"data.flip": False} if off else {},
    is_flag=True,
    help="No random horizontal flips. [config: data.flip=false]",
)
@field_option(
    "--label-space",
    field="data.label_space",
    default="cityscapes",
    show_default=True,
    help="cityscapes mode: the label colours.",
)
@click.pass_context
def train_pix2pix(ctx: click.Context, **params: Any) -> None:
    """pix2pix: conditional GAN + L1 translation, U-Net generator vs PatchGAN (Isola 2017).

    --data is a Cityscapes-format root or 'streets' (--dataset-mode cityscapes), a folder of
    A|B images (aligned) or a folder holding A/ and B/ (paired). Paper defaults (Isola et al.,
    CVPR 2017): the learning rate (2e-4, Adam betas 0.5/0.999) is constant for the first half of --max-steps
    and decays linearly to zero over the second half.
    """
    from imsynth.methods.pix2pix import Pix2PixMethod

    def prepare(config: Any, train: TrainConfig, dry_run: bool) -> None:
        data = config.data
        if data.root == "streets" and data.mode != "cityscapes":
            raise click.UsageError("--data streets needs --dataset-mode cityscapes")
        store_label_space(data)
        if data.mode == "cityscapes":
            data.root = data_root(data.root, STREETS_SIZE, dry_run)
        else:
            data.root = str(_existing(data.root or None))

    train_method(ctx, params, Pix2PixMethod, prepare)


def _existing(data: str | None) -> Path:
    if data is None:
        raise click.UsageError("--data is required")
    path = Path(data)
    if not path.is_dir():
        raise click.UsageError(f"--data {data}: no such folder")
    return path


@click.command("translate")
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="pix2pix run folder, checkpoint folder or generator.safetensors.",
)
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="An image or a folder of images (label -> photo models: label maps, colour or ids).",
)
@out_option("--input")
@click.option(
    "--variants",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Outputs per input (they differ by their dropout noise).",
)
@click.option(
    "--test-dropout/--no-test-dropout",
    default=True,
    show_default=True,
    help="The paper's test mode (dropout on, batch statistics) or deterministic eval mode.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the dropout noise.")
@click.option("--device", default="auto", show_default=True)
@click.option(
    "--color-tolerance",
    type=COLOR_TOLERANCE,
    default=40.0,
    show_default=True,
    help="Label maps: largest RGB distance snapped to a palette colour.",
)
@overwrite_option
def translate_command(
    checkpoint: Path,
    input_path: Path,
    out_dir: Path,
    variants: int,
    test_dropout: bool,
    seed: int,
    device: str,
    color_tolerance: float,
    overwrite: bool,
) -> None:
    """Translate images with a pix2pix checkpoint (outputs keep the input size).

    Writes NAME.png (NAME_v<j>.png for several variants) and NAME.json recording the checkpoint,
    step, seed and whether dropout was active. A folder is searched recursively and mirrored under
    --out; every input is processed and the ones that fail are listed at the end (exit status 1).
    """
    from imsynth.data.listing import LabelMapFile, list_images, list_label_maps
    from imsynth.inference.pix2pix import load_pix2pix, translate_files
    from imsynth.runs import CheckpointError
    from imsynth.utils.io import OutputError

    try:
        model = load_pix2pix(checkpoint, device, test_dropout=test_dropout, seed=seed)
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from None
    inputs: list[Path | LabelMapFile]
    if model.label_to_photo:
        listing = list_label_maps(input_path)
        inputs, skipped = list(listing.maps), listing.skipped
    else:
        inputs, skipped = [input_path] if input_path.is_file() else [*list_images(input_path, recursive=True)], []
    if not inputs:
        raise click.ClickException(f"no images found in {input_path}")
    root = input_path if input_path.is_dir() else None
    try:
        report = translate_files(
            model,
            inputs,
            out_dir,
            variants=variants,
            tolerance=color_tolerance,
            root=root,
            overwrite=overwrite,
            skipped=skipped,
        )
    except OutputError as exc:
        raise click.ClickException(str(exc)) from None
    mode = "dropout active (paper's test mode)" if test_dropout else "eval mode, no dropout"
    finish_batch(report, f"translated {len(report.done)} image(s) x {variants} variant(s) into {out_dir} ({mode})")


@click.command("export")
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="pix2pix or CRN run folder, checkpoint folder or generator.safetensors.",
)
@click.option(
    "--onnx",
    "onnx_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The .onnx file to write.",
)
@click.option(
    "--size",
    type=SIZE,
    default=None,
    help="pix2pix: example HEIGHTxWIDTH to trace (default: the training crop); H, W stay dynamic.",
)
@click.option("--opset", type=click.IntRange(9), default=17, show_default=True, help="ONNX operator set version.")
@click.option("--verify/--no-verify", default=True, show_default=True, help="Compare with ONNX Runtime.")
def export_command(checkpoint: Path, onnx_path: Path, size: tuple[int, int] | None, opset: int, verify: bool) -> None:
    """Export a pix2pix or CRN generator to ONNX (eval mode: no dropout, running BN statistics)."""
    from imsynth.runs import CheckpointError

    try:
        from imsynth.inference.export import export_onnx

        result = export_onnx(checkpoint, onnx_path, size=size, opset=opset, verify=verify)
    except ImportError as exc:
        raise click.ClickException(
            f"{exc}; install the export extra: pip install 'imsynth[export]' (onnx, onnxruntime)"
        ) from None
    except (CheckpointError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    check = "" if result.max_abs_diff is None else f" | ONNX Runtime max abs diff {result.max_abs_diff:.2e}"
    click.echo(
        f"exported {result.method} generator to {result.path} (input {result.input_name!r}, "
        f"example {'x'.join(map(str, result.example_shape))}){check}"
    )
    click.echo(json.dumps({k: v for k, v in result.metadata.items() if k != "imsynth_checkpoint"}))
