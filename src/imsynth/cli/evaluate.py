"""``imsynth evaluate``, ``imsynth compare`` and ``imsynth train segmenter``: reproducible numbers.

* ``imsynth train segmenter --data D --out SEG`` trains the FCN-score segmenter on the real photos
  and scores it on the real validation photos (``SEG/val_metrics.json``);
* ``imsynth evaluate --checkpoint RUN --data D --segmenter SEG`` scores one synthesis run
  (``metrics.json`` + ``report.html``);
* ``imsynth compare RUN1 RUN2 ... --data D --segmenter SEG --out DIR`` scores several runs on the
  same layouts, with the real photos as the upper bound, in one table and one grid.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from imsynth.cli.configure import field_option
from imsynth.cli.options import SIZE, device_option
from imsynth.cli.prepare import layout_label_space_option, prepare_layout_pairs, resolve_streets, size_fields
from imsynth.cli.train import train_method, train_options
from imsynth.utils.console import say

_STREETS_SIZE = (256, 512)  # what `imsynth train crn/pix2pix --data streets` renders by default

if TYPE_CHECKING:
    from imsynth.evaluation.scoring import EvaluationSettings


def _metric_options(func):
    """Options shared by ``evaluate`` and ``compare``."""
    options = [
        click.option(
            "--data",
            required=True,
            help="Cityscapes-format dataset root with the test layouts and their real photos, or 'streets' "
            "(the embedded street scenes the run was trained on, as in `imsynth train`).",
        ),
        click.option("--split", default="val", show_default=True, help="Split whose layouts are synthesized."),
        click.option(
            "--segmenter",
            "segmenter_path",
            type=click.Path(exists=True, path_type=Path),
            default=None,
            help="Run folder of `imsynth train segmenter` (FCN-score); without it no FCN-score.",
        ),
        click.option(
            "--count",
            type=click.IntRange(1),
            default=None,
            help="Use the first N layouts of the split (sorted by name); default all.",
        ),
        click.option(
            "--variants",
            type=click.IntRange(1),
            default=None,
            help="Variants synthesized per layout for the diversity score (default: all the model has).",
        ),
        click.option(
            "--grid-rows",
            type=click.IntRange(1),
            default=6,
            show_default=True,
            help="Layouts shown in the report's image grid.",
        ),
        click.option(
            "--inception-weights",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth: also compute the true FID "
            "(or set $IMSYNTH_INCEPTION_WEIGHTS).",
        ),
        click.option(
            "--fid",
            "require_fid",
            is_flag=True,
            help="Fail unless the FID Inception weights are found (default: FID only when they are).",
        ),
        device_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


_SIZED_RUN = re.compile(r"^(.*)@\d+x\d+$")


def _evaluation_data(data: str, checkpoints: list[str]) -> Path:
    """``--data``: a dataset folder, or ``streets``: the street scenes the (first) run trained on, else the
    embedded scenes at the size ``imsynth train --data streets`` renders by default."""
    if data != "streets":
        path = Path(data)
        if not path.is_dir():
            raise click.UsageError(f"--data {data}: no such folder (or use --data streets)")
        return path
    from imsynth.data.streets import is_streets_dataset
    from imsynth.runs import CheckpointError, read_checkpoint_config

    for checkpoint in checkpoints:
        match = _SIZED_RUN.match(checkpoint)
        try:
            config = read_checkpoint_config(match.group(1) if match else checkpoint)
        except (CheckpointError, OSError, ValueError):
            continue
        root = str(((config.get("method_config") or {}).get("data") or {}).get("root") or "")
        if root and is_streets_dataset(Path(root)):
            return Path(root)
    return resolve_streets("streets", _STREETS_SIZE)


def _settings(params: dict[str, Any], checkpoints: list[str]) -> EvaluationSettings:
    """The evaluation settings of the shared options (FID weights: option, else the env variable)."""
    from imsynth.evaluation.evaluate import EvaluationSettings
    from imsynth.models.backbones.inception import INCEPTION_ENV_VAR

    weights = params["inception_weights"] or os.environ.get(INCEPTION_ENV_VAR) or None
    return EvaluationSettings(
        data_root=_evaluation_data(params["data"], checkpoints),
        split=params["split"],
        count=params["count"],
        variants=params["variants"],
        segmenter=params["segmenter_path"],
        grid_rows=params["grid_rows"],
        inception_weights=Path(weights) if weights else None,
        require_fid=params["require_fid"],
        device=params["device"],
    )


def _known_errors() -> tuple[type[Exception], ...]:
    from imsynth.data.datasets import DatasetError
    from imsynth.data.labels import LabelDecodeError
    from imsynth.models.backbones import WeightsNotFoundError
    from imsynth.runs import CheckpointError
    from imsynth.utils.io import OutputError

    return CheckpointError, DatasetError, LabelDecodeError, WeightsNotFoundError, ValueError, OutputError


@click.command("evaluate")
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Run folder, checkpoint folder or generator.safetensors of a layout -> photo model.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where metrics.json and report.html go (default: RUN/evaluation_<split>).",
)
@click.option(
    "--synthesis-size",
    type=SIZE,
    default=None,
    help="Synthesize at HEIGHTxWIDTH and resize the outputs to the layouts' size (e.g. 256x256 for "
    "pix2pix trained on squashed square images).",
)
@_metric_options
def evaluate_command(
    checkpoint: Path, out_dir: Path | None, synthesis_size: tuple[int, int] | None, **params: Any
) -> None:
    """Score one synthesis run: FCN-score, FLD-2 (and FID), PSNR/SSIM/feature distance, diversity.

    Writes OUT/metrics.json and OUT/report.html (metric table, training curves, image grids).
    """
    from imsynth.evaluation.evaluate import default_output_dir, evaluate_run
    from imsynth.utils.io import ensure_output_dir

    try:
        settings = _settings(params, [str(checkpoint)])
        out_dir = ensure_output_dir(out_dir or default_output_dir(checkpoint, settings.split))
        result = evaluate_run(checkpoint, settings, out_dir, log=say, size=synthesis_size)
    except _known_errors() as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(result.summary_line())
    say(f"wrote {out_dir / 'metrics.json'} and {out_dir / 'report.html'}")


@click.command("compare")
@click.argument("runs", nargs=-1, required=True, metavar="RUN...")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for metrics.json, table.md and report.html.",
)
@_metric_options
def compare_command(runs: tuple[str, ...], out_dir: Path, **params: Any) -> None:
    """Score several runs on the same layouts in one table and one grid, real photos as the upper bound.

    RUNS are run folders, checkpoint folders or weight files; RUN@HxW synthesizes at HxW and resizes the
    outputs to the layouts' size (e.g. runs/pix2pix@256x256 for pix2pix trained on squashed squares).
    """
    from imsynth.evaluation.compare import compare_runs
    from imsynth.utils.io import ensure_output_dir

    try:
        settings = _settings(params, list(runs))
        ensure_output_dir(out_dir)
        result = compare_runs(list(runs), settings, out_dir, log=say)
    except _known_errors() as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(result.markdown_table())
    say(f"wrote {out_dir / 'metrics.json'}, {out_dir / 'table.md'} and {out_dir / 'report.html'}")


@click.command("segmenter")
@train_options(lr=1e-3, batch_size=4)
@field_option(
    "--size",
    field=size_fields,
    type=SIZE,
    default="128x256",
    show_default=True,
    help="Training HEIGHTxWIDTH; photos are resized to it (evaluation resizes to it as well). "
    "[config: model.height, model.width]",
)
@field_option(
    "--width-multiplier",
    field="model.width_multiplier",
    type=click.FloatRange(min=0, min_open=True),
    default=0.5,
    show_default=True,
    help="Scales the widths (32, 64, 128, 128) of the backbone, ASPP and decoder.",
)
@layout_label_space_option
@field_option(
    "--val-split",
    field="data.val_split",
    default="val",
    show_default=True,
    help="Real photos scored after training (RUN/val_metrics.json); '' skips it.",
)
@click.pass_context
def train_segmenter(ctx: click.Context, **params: Any) -> None:
    """Segmentation network for the FCN-score, trained on the REAL photos.

    Dilated residual backbone + ASPP + DeepLab v3+ decoder, per-pixel cross-entropy (ignore
    index of the label space), Adam lr 1e-3, betas (0.9, 0.999), batch size 4.
    """
    from imsynth.data.datasets import DatasetError
    from imsynth.evaluation.fcn_score import write_segmenter_validation
    from imsynth.methods.segmenter import SegmenterMethod

    method, train_config = train_method(ctx, params, SegmenterMethod, prepare_layout_pairs)
    config = method.config
    split = config.data.val_split
    if not split:
        return
    try:
        record = write_segmenter_validation(train_config.out_dir, config.data.root, split, train_config.device)
    except (ValueError, DatasetError) as exc:
        click.echo(f"validation on real photos skipped: {exc}")
        return
    click.echo(
        f"real photos of split '{split}' ({record['images']} images): mIoU {record['mean_iou']:.3f}, "
        f"pixel accuracy {record['pixel_accuracy']:.3f}, mean class accuracy "
        f"{record['mean_class_accuracy']:.3f} -> {train_config.out_dir / 'val_metrics.json'}"
    )
