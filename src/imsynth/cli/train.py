"""``imsynth train <method>``: every method shares the trainer and these options.

Every option sets a config field (``--help`` names it: ``[config: train.max_steps]``); ``--config FILE``
and ``--set KEY=VALUE`` reach every other field of the method's and the trainer's dataclasses
(:mod:`imsynth.cli.configure`). The same command line starts a run and, once ``--out`` holds one,
continues it (same config: the latest checkpoint; another config: refused with the differences).
``--resume RUN_DIR`` continues a run with its saved config; only run-control settings
(``--max-steps``, ``--max-minutes``, logging, workers, device) may be given with it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from imsynth.cli.configure import FieldOption, config_file_option, field_option, given_options, option_layers
from imsynth.cli.options import SIZE
from imsynth.cli.prepare import layout_label_space_option, prepare_layout_pairs, size_fields
from imsynth.utils.console import say

if TYPE_CHECKING:
    from imsynth.training import TrainConfig, TrainingMethod

#: Options that steer the command rather than set a field.
_CONTROL_OPTIONS = ("resume", "config_file", "set_items", "print_config", "recipe")
#: Control options that would change a run, refused with --resume.
_NEW_RUN_OPTIONS = ("config_file", "recipe")


def train_options(*, lr: float, batch_size: int = 1) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a ``train <method>`` command with the options every method shares.

    ``lr`` and ``batch_size``: the method's recipe (shown as the defaults; ``tests/test_recipes.py``
    checks they are the recipe's).
    """
    options = [
        field_option(
            "--data",
            field="data.root",
            default=None,
            help="Dataset root in the layout this method reads (Cityscapes "
            "format for crn and segmenter; also aligned A|B or A/ B/ folders for pix2pix; a photo "
            "folder for the colorizer), or 'streets' for the embedded procedural street scenes "
            "(rendered once into a cache).",
        ),
        field_option(
            "--out",
            "out_dir",
            field="train.out_dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Run folder (config, checkpoints, logs, samples). If it already holds a run with the same "
            "config, training continues from its latest checkpoint.",
        ),
        click.option(
            "--resume",
            default=None,
            metavar="RUN_DIR|auto",
            help="Continue the run in RUN_DIR with its saved config; 'auto': continue --out if it holds a run, "
            "else start it (what the command does anyway; for restart scripts).",
        ),
        config_file_option,
        field_option(
            "--max-steps",
            field="train.max_steps",
            type=click.IntRange(1),
            default=100_000,
            show_default=True,
            help="Training steps (optimizer updates) of the whole run.",
        ),
        field_option(
            "--max-minutes",
            field="train.max_minutes",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="Wall-clock budget of this invocation; a final checkpoint is saved when it runs out.",
        ),
        field_option(
            "--batch-size",
            field="train.batch_size",
            type=click.IntRange(1),
            default=batch_size,
            show_default=True,
            help="Images per step (the method's recipe by default).",
        ),
        field_option(
            "--lr",
            field="train.lr",
            type=click.FloatRange(min=0, min_open=True),
            default=lr,
            show_default=True,
            help="Learning rate (the method's paper value by default).",
        ),
        field_option(
            "--seed",
            field="train.seed",
            type=int,
            default=0,
            show_default=True,
            help="Seed of initialisation, data order and augmentation.",
        ),
        field_option(
            "--device", field="train.device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N"
        ),
        field_option(
            "--amp/--no-amp",
            field="train.amp",
            default=True,
            show_default=True,
            help="Mixed precision on CUDA: bfloat16 autocast (float16 with loss scaling on GPUs without bfloat16; "
            "--set train.amp_dtype=float16).",
        ),
        field_option(
            "--channels-last/--no-channels-last",
            field="train.channels_last",
            default=None,
            help="NHWC memory format (faster convolutions on recent GPUs)  [default: on with CUDA, off on the CPU]",
        ),
        field_option(
            "--compile/--no-compile",
            field="train.compile",
            default=None,
            help="torch.compile the networks: slow first steps, then faster; falls back to eager if it fails  "
            "[default: on with CUDA (one process), off on the CPU]",
        ),
        field_option(
            "--deterministic",
            field="train.deterministic",
            is_flag=True,
            help="Deterministic algorithms (bitwise resume on CPU).",
        ),
        field_option(
            "--workers",
            field="train.num_workers",
            type=click.IntRange(0),
            default=None,
            help="Data-loading worker processes  [default: min(8, cores - 1) with CUDA, min(4, cores) - 1 on "
            "the CPU; cores per process under torchrun]",
        ),
        field_option(
            "--log-every",
            field="train.log_every",
            type=click.IntRange(1),
            default=25,
            show_default=True,
            help="Steps between logged scalars (metrics.jsonl, TensorBoard).",
        ),
        field_option(
            "--sample-every",
            field="train.sample_every",
            type=click.IntRange(1),
            default=500,
            show_default=True,
            help="Steps between sample grids (samples/, TensorBoard).",
        ),
        field_option(
            "--checkpoint-every",
            field="train.checkpoint_every",
            type=click.IntRange(1),
            default=1000,
            show_default=True,
            help="Steps between checkpoints.",
        ),
    ]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        return functools.reduce(lambda f, option: option(f), reversed(options), func)

    return decorate


Prepare = Callable[[Any, "TrainConfig", bool], None]
"""``prepare(method_config, train, dry_run)``: fill derived fields (label space -> class count) and, unless
``dry_run``, make what the config names exist (render ``--data streets``, compute a colour prior)."""


def train_method(
    ctx: click.Context,
    params: dict[str, Any],
    method_cls: type[TrainingMethod[Any]],
    prepare: Prepare | None = None,
) -> tuple[TrainingMethod[Any], TrainConfig]:
    """Start the run the options, ``--config`` and ``--set`` describe, continue it, or ``--resume RUN``."""
    from imsynth.data.datasets import DatasetError
    from imsynth.methods import resume_method
    from imsynth.methods.runconfig import build_run, read_config_file, resumed_train_config, run_view
    from imsynth.models.backbones import WeightsNotFoundError
    from imsynth.runs import CheckpointError, NotARunError, find_latest
    from imsynth.runs.files import CHECKPOINTS_DIR
    from imsynth.utils.config import parse_overrides, to_dict
    from imsynth.utils.io import OutputError, ensure_output_dir

    defaults, given = option_layers(ctx)
    resume = params["resume"]
    try:
        overrides = parse_overrides(params["set_items"])
        if resume is not None and resume != "auto":
            run_dir = _resume_folder(ctx, resume)
            method, saved = resume_method(run_dir, method_cls.name)
            train = resumed_train_config(saved, [given, overrides], run_dir)
            if not params["print_config"]:
                ensure_output_dir(run_dir, "--resume")
            resuming = True
        else:
            # --lr and --batch-size show the default recipe's values; the chosen recipe supplies its own.
            defaults.get("train", {}).pop("lr", None)
            defaults.get("train", {}).pop("batch_size", None)
            layers = [defaults, read_config_file(params["config_file"]) if params["config_file"] else {}, given]
            layers.append(overrides)
            train, config = build_run(method_cls, layers, params.get("recipe"))
            if not any("out_dir" in (layer.get("train") or {}) for layer in layers[1:]):
                raise click.UsageError("--out RUN_DIR is required for a new run (or --resume RUN_DIR)")
            if not params["print_config"]:
                ensure_output_dir(train.out_dir)  # before rendering data or computing a prior into it
            if prepare is not None:
                prepare(config, train, params["print_config"])
            method = method_cls(config)
            resuming = find_latest(Path(train.out_dir) / CHECKPOINTS_DIR) is not None
        if params["print_config"]:
            import yaml

            click.echo(yaml.safe_dump(run_view(method.name, train, to_dict(method.config)), sort_keys=False), nl=False)
            ctx.exit(0)
        if resuming and resume is None:
            say(f"{train.out_dir} holds this run: continuing it from its latest checkpoint")
        dataset = method.build_dataset(train.seed)
    except NotARunError as exc:
        raise click.UsageError(str(exc)) from None
    except (ValueError, DatasetError, WeightsNotFoundError, CheckpointError, FileNotFoundError, OutputError) as exc:
        raise click.ClickException(str(exc)) from None
    run_training(method, train, dataset, resume=resuming)
    return method, train


def _resume_folder(ctx: click.Context, resume: str) -> Path:
    """``--resume RUN_DIR``: the folder, after refusing the options that would change the run."""
    from imsynth.training.config import RESUMABLE_TRAIN_FIELDS

    def allowed(param: click.Parameter) -> bool:
        if param.name in _CONTROL_OPTIONS and param.name not in _NEW_RUN_OPTIONS:
            return True
        if not isinstance(param, FieldOption) or param.name == "out_dir":
            return False
        keys = param.overrides(ctx.params.get(param.name))
        return all(key.startswith("train.") and key[6:] in RESUMABLE_TRAIN_FIELDS for key in keys)

    refused = given_options(ctx, allowed)
    if refused:
        raise click.UsageError(
            f"{', '.join(refused)} cannot be given with --resume {resume}: a resumed run keeps the settings it "
            f"was started with ({Path(resume) / 'config.yaml'}). Only run-control options may change "
            "(--max-steps, --max-minutes, --device, --workers, logging and checkpoint intervals)."
        )
    run_dir = Path(resume)
    if not run_dir.is_dir():
        raise click.UsageError(f"--resume {resume}: no such run folder (or --resume auto with --out RUN_DIR)")
    return run_dir


def run_training(method, train_config, dataset, resume: bool) -> None:
    """Build the trainer and fit, turning known failures into one clear message in the command's terms."""
    from imsynth.runs import CheckpointError
    from imsynth.training import Trainer
    from imsynth.training.config import ConfigMismatchError
    from imsynth.training.distributed import DistributedSetupError, environment, shutdown_distributed
    from imsynth.training.trainer import RunExistsError, RunWriteError, TrainingDivergedError

    out, name = train_config.out_dir, method.name
    try:
        result = Trainer(method, train_config, dataset, resume=resume).fit()
    except ConfigMismatchError as exc:
        listing = "\n  ".join(exc.differences)
        raise click.ClickException(
            f"{out} holds a run started with other settings:\n  {listing}\nTrain into another --out, or continue "
            f"that run as it was with `imsynth train {name} --resume {out}`."
        ) from None
    except (RunExistsError, RunWriteError, CheckpointError, DistributedSetupError) as exc:
        raise click.ClickException(str(exc)) from None
    except TrainingDivergedError as exc:
        raise click.ClickException(f"training diverged: {exc}") from None
    except KeyboardInterrupt:
        click.echo(
            f"interrupted; continue from the latest checkpoint with `imsynth train {name} --resume {out}`", err=True
        )
        raise SystemExit(130) from None
    finally:
        shutdown_distributed()  # a no-op unless launched by torchrun with several processes
    if environment().is_main:
        click.echo(f"run folder: {out} (checkpoint {result.checkpoint})")


@click.group("train")
def train_group() -> None:
    """Train a model (each method: `imsynth train METHOD --help`)."""


@train_group.command("crn")
@train_options(lr=2e-4)
@field_option(
    "--size",
    field=size_fields,
    type=SIZE,
    default="256x512",
    show_default=True,
    help="Output HEIGHTxWIDTH: base 4x8 times a power of two (7 modules at 256x512). [config: model.height, "
    "model.width]",
)
@field_option(
    "--variants",
    field="model.num_variants",
    type=click.IntRange(1),
    default=9,
    show_default=True,
    help="k images per layout (diversity loss when k > 1; paper: 9).",
)
@field_option(
    "--width-multiplier",
    field="model.width_multiplier",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Scales the paper's feature widths (e.g. 0.0625 for a small CPU model).",
)
@field_option(
    "--backbone",
    field="loss.backbone",
    type=click.Choice(["auto", "vgg19", "efficientnet_lite0", "efficientnet_lite2"]),
    default="auto",
    show_default=True,
    help="Loss network: VGG-19 when its weights are found, else EfficientNet-Lite0 (offline).",
)
@field_option(
    "--vgg-weights",
    field="loss.vgg_weights",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="torchvision-format VGG-19 weights (vgg19-dcbb9e9d.pth).",
)
@layout_label_space_option
@field_option(
    "--activation-checkpointing",
    field="model.activation_checkpointing",
    is_flag=True,
    help="Recompute activations: less memory, more time.",
)
@click.option(
    "--recipe",
    type=click.Choice(["default", "paper"]),
    default="default",
    show_default=True,
    help="default: photographic output (texture statistics, noise inputs, a multi-scale adversary; README "
    "'What makes the photos photographic'); paper: Chen & Koltun's loss and initialisation alone.",
)
@click.pass_context
def train_crn(ctx: click.Context, **params: Any) -> None:
    """Cascaded Refinement Network (Chen & Koltun 2017): label map -> k photographs."""
    from imsynth.methods.crn import CRNMethod

    train_method(ctx, params, CRNMethod, prepare_layout_pairs)
