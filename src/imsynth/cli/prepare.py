"""What a training config names, made ready before the run starts: ``--data streets`` rendered, the label
space stored and its class count in the model (the ``prepare`` step of :func:`imsynth.cli.train.train_method`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from imsynth.cli.configure import field_option
from imsynth.utils.console import say

if TYPE_CHECKING:
    from imsynth.training import TrainConfig

__all__ = ["resolve_streets", "data_root", "store_label_space", "prepare_layout_pairs", "size_fields"]


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
        say(f"rendering the embedded street dataset into {root} (once)")
        ensure_streets_dataset(root, n_train, n_val, size)
    return root


def data_root(root: str, size: tuple[int, int], dry_run: bool = False) -> str:
    """``data.root`` ready to read: ``streets`` rendered at ``size`` (unless ``dry_run``), a path checked."""
    if not root:
        raise click.UsageError("--data is required: a Cityscapes-format folder or 'streets'")
    if root == "streets" and dry_run:
        return root
    return str(resolve_streets(root, size))


def store_label_space(data: Any) -> Any:
    """``data.label_space`` as run configs record it (a built-in's name, or a file's contents, never its
    path: :func:`imsynth.data.labels.label_space_to_store`); returns the label space."""
    from imsynth.data.labels import label_space_to_store, stored_label_space

    if isinstance(data.label_space, str):
        try:
            data.label_space = label_space_to_store(data.label_space)
        except (OSError, ValueError) as error:
            raise click.BadParameter(str(error), param_hint="--label-space") from None
    return stored_label_space(data.label_space)


def prepare_layout_pairs(config: Any, train: TrainConfig, dry_run: bool) -> None:
    """CRN and segmenter: the class count (and void id) of the label space; the data root."""
    space = store_label_space(config.data)
    config.model.num_classes = space.num_classes
    if hasattr(config.model, "ignore_index"):
        config.model.ignore_index = space.ignore_index
    config.data.root = data_root(config.data.root, (config.model.height, config.model.width), dry_run)


def size_fields(size: tuple[int, int]) -> dict[str, Any]:
    return {"model.height": size[0], "model.width": size[1]}


#: ``--label-space`` of the commands that train on layout pairs (``train crn``, ``train segmenter``).
layout_label_space_option = field_option(
    "--label-space",
    field="data.label_space",
    default="cityscapes",
    show_default=True,
    help="Label space of the layouts (its class count sets the model's).",
)
