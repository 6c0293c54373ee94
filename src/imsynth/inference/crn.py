"""Synthesize photographs from label maps with a trained CRN checkpoint.

The checkpoint carries its run config, so nothing about the architecture is repeated here:
:func:`load_crn` reads the config, rebuilds :class:`~imsynth.models.crn.CRN` and loads its weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from imsynth.data.cityscapes import parse_label_name
from imsynth.data.labels import DEFAULT_COLOR_TOLERANCE, LabelDecodeError, LabelSpace
from imsynth.data.listing import LabelMapFile
from imsynth.inference.batch import BatchItem, BatchReport, plan_items, run_batch
from imsynth.inference.synthesizer import checkpoint_label_space
from imsynth.models.crn import CRN
from imsynth.runs import CheckpointError, check_label_space, load_method_checkpoint, restore_model
from imsynth.utils.images import tensor_to_uint8, tile_grid

if TYPE_CHECKING:
    from imsynth.inference.synthesizer import LayoutSynthesizer

MAX_GRID_PIXELS = 2048 * 4096
"""Largest CRN grid (height x width) a checkpoint may ask for: the activations grow with it."""


@dataclass
class LoadedCRN:
    """A CRN ready for inference, with the label space and step it was trained with.

    Implements :class:`imsynth.inference.synthesizer.LayoutSynthesizer`.
    """

    model: CRN
    label_space: LabelSpace
    step: int
    source: Path
    backbone: str
    method: str = "crn"

    @property
    def num_variants(self) -> int:
        return self.model.num_variants

    @property
    def device(self) -> torch.device:
        return self.model.projection.weight.device

    @torch.inference_mode()
    def synthesize(self, ids: np.ndarray, variants: int | None = None) -> np.ndarray:
        """Id map (HxW) -> ``k x H x W x 3`` uint8 photographs at the map's own size."""
        train = torch.from_numpy(self.label_space.ids_to_train(ids).astype(np.int64))[None]
        images = self.model.synthesize(train.to(self.device))[0]
        if variants is not None:
            images = images[:variants]
        return np.stack([tensor_to_uint8(image) for image in images])


def load_crn(checkpoint: str | Path, device: str = "auto") -> LoadedCRN:
    """Rebuild a CRN from a run folder, checkpoint folder or ``generator.safetensors`` file."""
    from imsynth.methods.crn import CRNMethodConfig

    loaded, config = load_method_checkpoint(checkpoint, "crn", CRNMethodConfig)
    space = checkpoint_label_space(loaded, config.data.label_space)
    check_label_space(loaded, space, config.model.num_classes, config.model.ignore_index)
    grid = config.model.height * config.model.width
    if grid > MAX_GRID_PIXELS:
        raise CheckpointError(
            f"{loaded.path}: the embedded run config asks for a {config.model.height}x{config.model.width} CRN; "
            f"the largest this loader runs is {MAX_GRID_PIXELS:,} pixels (1024x2048 and 2048x4096 fit)"
        )
    model = restore_model(lambda: CRN(config.model), "generator", loaded, device, config.model)
    return LoadedCRN(model, space, loaded.step, loaded.path, config.loss.backbone)


def synthesis_outputs(name: Path, variants: int) -> list[Path]:
    """The files one layout named ``name`` gives: ``<name>_v<j>.png`` per variant and ``<name>_grid.png``."""
    return [name.with_name(f"{name.name}_v{j}.png") for j in range(variants)] + [
        name.with_name(f"{name.name}_grid.png")
    ]


def _scene_stem(path: Path) -> str:
    """``scene`` for ``scene_gtFine_labelIds.png`` (any Cityscapes label name), else the file's stem."""
    parsed = parse_label_name(path)
    return parsed[0] if parsed else path.stem


def synthesize_files(
    synthesizer: LayoutSynthesizer,
    label_maps: Iterable[Path | LabelMapFile],
    out_dir: str | Path,
    *,
    variants: int | None = None,
    tolerance: float = DEFAULT_COLOR_TOLERANCE,
    root: Path | None = None,
    overwrite: bool = False,
    skipped: Sequence[tuple[Path, str]] = (),
) -> BatchReport:
    """Synthesize every label map into ``out_dir``: each variant and a grid (layout | variants).

    Outputs mirror the tree under ``root`` (``None``: flat); unreadable maps are listed in the
    returned report, not raised (see :mod:`imsynth.inference.batch`).
    """
    count = synthesizer.num_variants if variants is None else min(variants, synthesizer.num_variants)
    sources = [(m.path, m.kind) if isinstance(m, LabelMapFile) else Path(m) for m in label_maps]
    items = plan_items(sources, root, lambda name: synthesis_outputs(name, count), stem=_scene_stem)

    def produce(item: BatchItem) -> dict[Path, np.ndarray]:
        ids = synthesizer.label_space.load(item.source, kind=item.kind, tolerance=tolerance)  # type: ignore[arg-type]
        photos = synthesizer.synthesize(ids, count)
        grid = tile_grid([[synthesizer.label_space.colorize(ids), *photos]])
        return dict(zip(item.outputs, [*photos, grid], strict=True))

    return run_batch(items, out_dir, produce, (LabelDecodeError,), overwrite=overwrite, skipped=skipped)
