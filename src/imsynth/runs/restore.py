"""Putting a checkpoint's weights back into a model for inference, checking what it was trained on."""

from __future__ import annotations

from typing import Protocol, TypeVar

import torch
from torch import nn

from imsynth.runs.checkpoint import Checkpoint, load_weights_into
from imsynth.runs.locate import CheckpointError
from imsynth.utils.device import resolve_device

__all__ = ["restore_model", "check_label_space"]

ModelT = TypeVar("ModelT", bound=nn.Module)


class _LabelSpaceLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def ignore_index(self) -> int: ...
    @property
    def num_classes(self) -> int: ...


def restore_model(model: ModelT, name: str, checkpoint: Checkpoint, device: str | torch.device = "cpu") -> ModelT:
    """``model`` with the checkpoint's weights for ``name``, on ``device``, in eval mode."""
    load_weights_into({name: model}, checkpoint)
    return model.to(resolve_device(str(device))).eval()


def check_label_space(checkpoint: Checkpoint, space: _LabelSpaceLike, num_classes: int, ignore_index: int) -> None:
    """Refuse a checkpoint whose model was built for another class count or void/ignore id than ``space``.

    ``num_classes`` and ``ignore_index`` are what the checkpoint's config says the model learned; the
    label space is the one its config names, as this machine reads it (a changed label-space file shows here).
    """
    if (num_classes, ignore_index) != (space.num_classes, space.ignore_index):
        raise CheckpointError(
            f"{checkpoint.path} was trained on {num_classes} classes with ignore id {ignore_index}, but label "
            f"space {space.name!r} has {space.num_classes} classes with ignore id {space.ignore_index}; "
            "pass the label-space file the model was trained with"
        )
