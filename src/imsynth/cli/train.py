"""``imsynth train <method>``: every method shares the trainer and these options.

Common options: ``--data``, ``--out RUN_DIR``, ``--max-steps``, ``--max-minutes``, ``--resume RUN_DIR``
and the optimisation / hardware / logging settings of :class:`~imsynth.training.TrainConfig`.
A resumed run takes its whole config from ``RUN_DIR/config.yaml``; only run-control options
given on the command line (``--max-steps``, ``--max-minutes``, logging, workers, device) change.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from imsynth.cli.options import SIZE

if TYPE_CHECKING:
    from imsynth.training import TrainConfig, TrainingMethod

# Options that map 1:1 onto TrainConfig fields (CLI name -> field).
_TRAIN_FIELDS = {
    "max_steps": "max_steps",
    "max_minutes": "max_minutes",
    "batch_size": "batch_size",
    "lr": "lr",
    "seed": "seed",
    "device": "device",
    "amp": "amp",
    "channels_last": "channels_last",
    "workers": "num_workers",
    "log_every": "log_every",
    "sample_every": "sample_every",
    "checkpoint_every": "checkpoint_every",
    "deterministic": "deterministic",
    "compile": "compile",
}


def train_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a ``train <method>`` command with the options every method shares."""
    options = [
        click.option(
            "--data",
            default=None,
            help="Dataset root in the layout this method reads (Cityscapes "
            "format for crn and segmenter; also aligned A|B or A/ B/ folders for pix2pix; a photo "
            "folder for the colorizer), or 'streets' for the embedded procedural street scenes "
            "(rendered once into a cache).",
        ),
        click.option(
            "--out",
            "out_dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Run folder (config, checkpoints, logs, samples).",
        ),
        click.option(
            "--resume",
            "resume_dir",
            type=click.Path(file_okay=False, exists=True, path_type=Path),
            default=None,
            help="Continue the run in this folder with its saved config.",
        ),
        click.option("--max-steps", type=click.IntRange(1), default=100_000, show_default=True),
        click.option(
            "--max-minutes",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="Wall-clock budget; a final checkpoint is saved when it runs out.",
        ),
        click.option("--batch-size", type=click.IntRange(1), default=1, show_default=True),
        click.option("--lr", type=float, default=None, help="Learning rate (default: the method's paper value)."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N"),
        click.option(
            "--amp/--no-amp",
            default=True,
            show_default=True,
            help="Mixed precision on CUDA: bfloat16 autocast (float16 with loss scaling on GPUs without bf16).",
        ),
        click.option(
            "--channels-last/--no-channels-last",
            default=None,
            help="Channels-last memory format  [default: on with CUDA, off on the CPU]",
        ),
        click.option(
            "--compile/--no-compile",
            default=None,
            help="torch.compile the networks: slow first steps, then faster; falls back to eager if it fails  "
            "[default: on with CUDA (one process), off on the CPU]",
        ),
        click.option("--deterministic", is_flag=True, help="Deterministic algorithms (bitwise resume on CPU)."),
        click.option(
            "--workers",
            type=click.IntRange(0),
            default=None,
            help="Data-loading worker processes  [default: min(8, cores - 1) with CUDA, min(4, cores) - 1 on "
            "the CPU; cores per process under torchrun]",
        ),
        click.option("--log-every", type=click.IntRange(1), default=25, show_default=True),
        click.option("--sample-every", type=click.IntRange(1), default=500, show_default=True),
        click.option("--checkpoint-every", type=click.IntRange(1), default=1000, show_default=True),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), func)


def _explicit(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP, None)


#: Shared options whose default is the method's recipe (they pass on only when given).
_RECIPE_OPTIONS = ("lr", "batch_size")


def train_method(
    ctx: click.Context,
    params: dict[str, Any],
    method_cls: type[TrainingMethod[Any]],
    configure: Callable[[TrainConfig], Any],
    **recipe_settings: Any,
) -> tuple[TrainingMethod[Any], TrainConfig]:
    """Start a run of ``method_cls`` in ``--out`` or continue ``--resume RUN``, then train it.

    A new run takes the method's recipe (lr, betas, schedule...; ``recipe_settings`` and the shared
    options override it) and its config from ``configure(train_config)``. A resumed run takes both from
    the run folder through the method registry; only run-control options may change.
    """
    from imsynth.data.datasets import DatasetError
    from imsynth.methods import resume_method
    from imsynth.models.backbones import WeightsNotFoundError
    from imsynth.runs import CheckpointError, NotARunError

    resuming = params["resume_dir"] is not None
    try:
        if resuming:
            method, train = resume_method(params["resume_dir"], method_cls.name)
            _override_run_control(ctx, params, train)
        else:
            if params["out_dir"] is None:
                raise click.UsageError("--out RUN_DIR is required for a new run (or --resume RUN_DIR)")
            settings = {
                field: params[option]
                for option, field in _TRAIN_FIELDS.items()
                if option not in _RECIPE_OPTIONS or _explicit(ctx, option)
            }
            train = method_cls.recipe.train_config(out_dir=params["out_dir"], **{**recipe_settings, **settings})
            method = method_cls(configure(train))
        dataset = method.build_dataset(train.seed)
    except NotARunError as exc:
        raise click.UsageError(str(exc)) from None
    except (ValueError, DatasetError, WeightsNotFoundError, CheckpointError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    run_training(method, train, dataset, resume=resuming)
    return method, train


def _override_run_control(ctx: click.Context, params: dict[str, Any], train: TrainConfig) -> None:
    """Apply the explicitly given shared options to a resumed run's saved settings."""
    from imsynth.training.config import RESUMABLE_TRAIN_FIELDS

    for option, field in _TRAIN_FIELDS.items():
        if _explicit(ctx, option):
            if field not in RESUMABLE_TRAIN_FIELDS:
                raise click.UsageError(
                    f"--{option.replace('_', '-')} cannot change when resuming (it changes the training trajectory)"
                )
            setattr(train, field, params[option])


def resolve_streets(data: str | None, size: tuple[int, int], n_train: int = 500, n_val: int = 50) -> Path:
    """``--data streets`` -> the rendered embedded dataset (cached by size); a path -> itself."""
    if data is None:
        raise click.UsageError("--data is required: a Cityscapes-format folder or 'streets'")
    if data != "streets":
        path = Path(data)
        if not path.exists():
            raise click.UsageError(f"--data {data}: no such folder (or use --data streets)")
        return path
    cache = Path(os.environ.get("IMSYNTH_CACHE", Path.home() / ".cache" / "imsynth"))
    root = cache / f"streets_{size[0]}x{size[1]}_{n_train}_{n_val}"
    from imsynth.data.streets import ensure_streets_dataset, is_streets_dataset

    if not is_streets_dataset(root):
        click.echo(f"rendering the embedded street dataset into {root} (once)")
        ensure_streets_dataset(root, n_train, n_val, size)
    return root


def run_training(method, train_config, dataset, resume: bool) -> None:
    """Build the trainer and fit, turning known failures into one clear message."""
    from imsynth.runs import CheckpointError
    from imsynth.training import Trainer
    from imsynth.training.config import ConfigMismatchError
    from imsynth.training.distributed import DistributedSetupError, environment, shutdown_distributed
    from imsynth.training.trainer import RunExistsError, TrainingDivergedError

    try:
        result = Trainer(method, train_config, dataset, resume=resume).fit()
    except (RunExistsError, ConfigMismatchError, CheckpointError, DistributedSetupError) as exc:
        raise click.ClickException(str(exc)) from None
    except TrainingDivergedError as exc:
        raise click.ClickException(f"training diverged: {exc}") from None
    finally:
        shutdown_distributed()  # a no-op unless launched by torchrun with several processes
    if environment().is_main:
        click.echo(f"run folder: {train_config.out_dir} (checkpoint {result.checkpoint})")


@click.group("train")
def train_group() -> None:
    """Train a model (each method: `imsynth train METHOD --help`)."""


@train_group.command("crn")
@train_options
@click.option(
    "--size",
    type=SIZE,
    default="256x512",
    show_default=True,
    help="Output HEIGHTxWIDTH: base 4x8 times a power of two (7 modules at 256x512).",
)
@click.option(
    "--variants",
    type=click.IntRange(1),
    default=9,
    show_default=True,
    help="k images per layout (diversity loss when k > 1; paper: 9).",
)
@click.option(
    "--width-multiplier",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Scales the paper's feature widths (e.g. 0.0625 for a small CPU model).",
)
@click.option(
    "--backbone",
    type=click.Choice(["auto", "vgg19", "efficientnet_lite0", "efficientnet_lite2"]),
    default="auto",
    show_default=True,
    help="Loss network: VGG-19 when its weights are found, else EfficientNet-Lite0 (offline).",
)
@click.option(
    "--vgg-weights",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="torchvision-format VGG-19 weights (vgg19-dcbb9e9d.pth).",
)
@click.option("--label-space", default="cityscapes", show_default=True)
@click.option("--activation-checkpointing", is_flag=True, help="Recompute activations: less memory, more time.")
@click.pass_context
def train_crn(
    ctx: click.Context,
    size: tuple[int, int],
    variants: int,
    width_multiplier: float,
    backbone: str,
    vgg_weights: str | None,
    label_space: str,
    activation_checkpointing: bool,
    **params: Any,
) -> None:
    """Cascaded Refinement Network (Chen & Koltun 2017): label map -> k photographs."""
    from imsynth.data.labels import get_label_space
    from imsynth.methods.crn import CRNDataConfig, CRNMethod, CRNMethodConfig, PerceptualLossConfig
    from imsynth.models.crn import CRNConfig

    def configure(train: TrainConfig) -> CRNMethodConfig:
        data_root = resolve_streets(params["data"], size)
        space = get_label_space(label_space)
        return CRNMethodConfig(
            model=CRNConfig(
                height=size[0],
                width=size[1],
                num_classes=space.num_classes,
                ignore_index=space.ignore_index,
                num_variants=variants,
                width_multiplier=width_multiplier,
                activation_checkpointing=activation_checkpointing,
            ),
            loss=PerceptualLossConfig(backbone=backbone, vgg_weights=vgg_weights),
            data=CRNDataConfig(root=str(data_root), label_space=label_space),
        )

    train_method(ctx, params, CRNMethod, configure)
