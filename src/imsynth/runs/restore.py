"""Putting a checkpoint's weights back into a model for inference, without trusting the checkpoint's config,
and checking what the model was trained on.

The config embedded in a checkpoint rebuilds the model; a crafted one could ask for any size
(``width_multiplier: 64`` is 150 GB). :func:`restore_model` therefore builds the model on PyTorch's
meta device first (no memory), compares its tensors with the file's and bounds its size, and only
then builds it for real.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from imsynth.runs.checkpoint import Checkpoint, load_weights_into
from imsynth.runs.locate import CheckpointError
from imsynth.utils.device import resolve_device

__all__ = ["MAX_MODEL_PARAMETERS", "check_label_space", "restore_model"]

ModelT = TypeVar("ModelT", bound=nn.Module)

MAX_MODEL_PARAMETERS = 2_000_000_000
"""Most numbers a checkpoint's config may ask one model to hold (8 GB as float32)."""


class _LabelSpaceLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def ignore_index(self) -> int: ...
    @property
    def num_classes(self) -> int: ...


def restore_model(
    build: ModelT | Callable[[], ModelT],
    name: str,
    checkpoint: Checkpoint,
    device: str | torch.device = "cpu",
    config: Any = None,
) -> ModelT:
    """The model ``build()`` makes, with the checkpoint's weights for ``name``, on ``device``, in eval mode.

    ``build`` runs first on PyTorch's meta device, which allocates nothing: a config (``config``,
    named in messages) that asks for more than :data:`MAX_MODEL_PARAMETERS` numbers, or for other
    tensors than the file holds, is refused before any memory is spent. (A built module is
    accepted too, unchecked.)
    """
    model: ModelT
    if isinstance(build, nn.Module):
        model = cast(ModelT, build)
    else:
        with torch.device("meta"), _ShapesOnly():
            skeleton = _build(build, checkpoint, config)
        _check_against_weights(skeleton, name, checkpoint, config)
        model = _build(build, checkpoint, config)
    load_weights_into({name: model}, checkpoint)
    return model.to(resolve_device(str(device))).eval()


def check_label_space(checkpoint: Checkpoint, space: _LabelSpaceLike, num_classes: int, ignore_index: int) -> None:
    """Refuse a checkpoint whose model was built for another class count or void/ignore id than ``space``.

    ``num_classes`` and ``ignore_index`` are what the checkpoint's config says the model learned; the
    label space is the one its config stores (see :func:`imsynth.data.labels.stored_label_space`).
    """
    if (num_classes, ignore_index) != (space.num_classes, space.ignore_index):
        raise CheckpointError(
            f"{checkpoint.path} was trained on {num_classes} classes with ignore id {ignore_index}, but label "
            f"space {space.name!r} has {space.num_classes} classes with ignore id {space.ignore_index}; "
            "pass the label-space file the model was trained with"
        )


class _ShapesOnly(TorchFunctionMode):
    """Skips weight initialisation while a model is built on the meta device: only shapes matter there,
    and PyTorch's meta versions of some init ops (``normal_``) import its compiler stack (~70 MB)."""

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        if getattr(func, "__module__", None) == "torch.nn.init" or getattr(func, "__name__", "") in _RANDOM_FILLS:
            return args[0] if args else (kwargs or {}).get("tensor")
        return func(*args, **(kwargs or {}))


_RANDOM_FILLS = frozenset({"normal_", "uniform_", "bernoulli_", "exponential_", "random_", "geometric_"})


def _build(build: Callable[[], ModelT], checkpoint: Checkpoint, config: Any) -> ModelT:
    try:
        return build()
    except (ValueError, TypeError, RuntimeError) as error:
        raise CheckpointError(
            f"{checkpoint.path}: the embedded run config does not describe a model that can be built ({error})"
            + (f"; model config {config}" if config is not None else "")
        ) from None


def _check_against_weights(skeleton: nn.Module, name: str, checkpoint: Checkpoint, config: Any) -> None:
    """Refuse a model (built on the meta device) too large, or whose tensors differ from the file's."""
    if name not in checkpoint.weights:
        raise CheckpointError(
            f"checkpoint {checkpoint.path} has no weights for {name!r}; it holds {sorted(checkpoint.weights)}"
        )
    wanted = {key: tuple(value.shape) for key, value in skeleton.state_dict().items()}
    stored = {key: tuple(value.shape) for key, value in checkpoint.weights[name].items()}
    size = sum(math.prod(shape) for shape in wanted.values())
    problems = [f"{key} is missing" for key in wanted if key not in stored]
    problems += [f"{key} is not part of the model" for key in stored if key not in wanted]
    problems += [
        f"{key} is {stored[key]} in the file, {wanted[key]} in the model"
        for key in wanted.keys() & stored.keys()
        if wanted[key] != stored[key]
    ]
    if problems or size > MAX_MODEL_PARAMETERS:
        shown = "; ".join(sorted(problems)[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        detail = shown if problems else f"over the limit of {MAX_MODEL_PARAMETERS:,}"
        held = sum(math.prod(shape) for shape in stored.values())
        raise CheckpointError(
            f"{checkpoint.path}: the embedded run config and the weights in the file do not match: the config asks "
            f"for a {size:,}-number {name}, the file holds {held:,} numbers ({detail})"
            + (f"; model config {config}" if config is not None else "")
        )
