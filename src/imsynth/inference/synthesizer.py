"""The common face of every layout -> photo model at inference time.

CRN, pix2pix (labels -> photo) and any later method load from a checkpoint into an object with
this interface; synthesis, evaluation, comparison reports and the painter use only it.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from imsynth.data.labels import LabelSpace, stored_label_space

if TYPE_CHECKING:
    from imsynth.runs import Checkpoint


@runtime_checkable
class LayoutSynthesizer(Protocol):
    """A trained model that turns an id map into ``k`` photographs."""

    method: str
    label_space: LabelSpace
    step: int

    @property
    def num_variants(self) -> int: ...

    def synthesize(self, ids: np.ndarray, variants: int | None = None) -> np.ndarray:
        """Id map (HxW uint8, ids of ``label_space``) -> ``k x H x W x 3`` uint8, same size as the map."""
        ...


# method name in the run config -> "module:function" loading a LayoutSynthesizer
_LOADERS = {
    "crn": "imsynth.inference.crn:load_crn",
    "pix2pix": "imsynth.inference.pix2pix:load_pix2pix",
}


def checkpoint_label_space(checkpoint: Checkpoint, value: Any) -> LabelSpace:
    """The label space a checkpoint config stores (a built-in name or the space); errors as :class:`CheckpointError`."""
    from imsynth.runs import CheckpointError

    try:
        return stored_label_space(value)
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(
            f"{checkpoint.path}: the embedded run config's label space is unusable: {error}"
        ) from None


def load_synthesizer(checkpoint: str | Path, device: str = "auto") -> LayoutSynthesizer:
    """Load any layout -> photo checkpoint (run folder, checkpoint folder or .safetensors)."""
    from imsynth.runs import CheckpointError, read_checkpoint_config

    method = read_checkpoint_config(checkpoint).get("method")
    if method not in _LOADERS:
        raise CheckpointError(
            f"{checkpoint} holds a {method!r} model, which does not synthesize photos from "
            f"layouts; layout models: {', '.join(sorted(_LOADERS))}"
        )
    module, function = _LOADERS[method].split(":")
    return getattr(import_module(module), function)(checkpoint, device)
