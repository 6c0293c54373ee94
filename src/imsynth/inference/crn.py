"""Synthesize photographs from label maps with a trained CRN checkpoint.

The checkpoint carries its run config, so nothing about the architecture is repeated here:
:func:`load_crn` reads the config, rebuilds :class:`~imsynth.models.crn.CRN` and loads its weights.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from imsynth.data.labels import DEFAULT_COLOR_TOLERANCE, LabelSpace, get_label_space
from imsynth.models.crn import CRN
from imsynth.runs import check_label_space, load_method_checkpoint, restore_model
from imsynth.utils.images import tensor_to_uint8, tile_grid
from imsynth.utils.io import save_image

if TYPE_CHECKING:
    from imsynth.inference.synthesizer import LayoutSynthesizer


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
    space = get_label_space(config.data.label_space)
    check_label_space(loaded, space, config.model.num_classes, config.model.ignore_index)
    model = restore_model(CRN(config.model), "generator", loaded, device)
    return LoadedCRN(model, space, loaded.step, loaded.path, config.loss.backbone)


def synthesize_files(
    synthesizer: LayoutSynthesizer,
    label_paths: Iterable[Path],
    out_dir: str | Path,
    *,
    variants: int | None = None,
    tolerance: float = DEFAULT_COLOR_TOLERANCE,
) -> list[Path]:
    """Write ``<name>_v<j>.png`` for each variant and ``<name>_grid.png`` (layout | variants)."""
    out_dir = Path(out_dir)
    written = []
    for path in label_paths:
        ids = synthesizer.label_space.load(path, tolerance=tolerance)
        photos = synthesizer.synthesize(ids, variants)
        name = path.name.removesuffix("".join(path.suffixes[-1:])).removesuffix("_gtFine_labelIds")
        for j, photo in enumerate(photos):
            save_image(out_dir / f"{name}_v{j}.png", photo)
        grid = tile_grid([[synthesizer.label_space.colorize(ids), *photos]])
        save_image(out_dir / f"{name}_grid.png", grid)
        written.append(out_dir / f"{name}_grid.png")
    return written
