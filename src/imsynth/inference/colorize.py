"""Colorize photos with a trained colorizer checkpoint (Zhang, Isola & Efros, ECCV 2016, Sec. 2.3).

The network sees the lightness only and predicts ab at 1/4 resolution; the ab map is upsampled
bilinearly to the full size and joined with the input's own full-resolution L, so the result has
the input's size and detail. Colours the prediction places outside sRGB are pulled in by
shrinking their chroma (:func:`~imsynth.color.lab.fit_to_gamut`), which keeps L unchanged: the
output's L equals the input's up to 8-bit rounding.

Everything needed comes from the checkpoint: the run config rebuilds the network, and the
network's buffers hold its ab bin centres and training prior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from imsynth.color.encoding import DecodeConfig
from imsynth.data.imagefile import ImageReadError, open_image
from imsynth.data.listing import list_photos as list_images_to_colorize  # an image, or a folder's images
from imsynth.inference.batch import BatchItem, BatchReport, plan_items, run_batch
from imsynth.models.colorizer import ColorizerNet, colorize_tensor, predict_ab
from imsynth.runs import load_method_checkpoint, restore_model
from imsynth.utils.images import tensor_to_uint8, uint8_to_tensor

__all__ = [
    "LoadedColorizer",
    "load_colorizer",
    "predict_ab",
    "colorize_tensor",
    "colorize_files",
    "list_images_to_colorize",
]


@dataclass
class LoadedColorizer:
    """A colorizer ready for inference, with how it decodes and the step it was trained to."""

    model: ColorizerNet
    decode: DecodeConfig
    step: int
    source: Path
    work_size: int | None = 256

    @property
    def device(self) -> torch.device:
        return self.model.classifier.weight.device

    @torch.inference_mode()
    def colorize(self, image: np.ndarray) -> np.ndarray:
        """uint8 ``HxW`` (gray), ``HxWx3`` (RGB) or ``HxWx4`` (RGBA) -> colorized uint8 ``HxWx3`` (``HxWx4``
        for RGBA: the alpha channel is passed through unchanged). Only the input's lightness is used.
        """
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            raise ValueError(f"expected a uint8 HxW, HxWx3 or HxWx4 image, got {image.dtype} {image.shape}")
        if image.ndim == 2:
            image = image[..., None]
        alpha = image[..., 3:] if image.shape[2] == 4 else None
        rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else np.array(image[..., :3])
        tensor = uint8_to_tensor(rgb)[None].to(self.device)
        result = tensor_to_uint8(colorize_tensor(self.model, tensor, self.decode, self.work_size)[0])
        return np.concatenate([result, alpha], axis=2) if alpha is not None else result


def load_colorizer(
    checkpoint: str | Path, device: str = "auto", decode: DecodeConfig | None = None, work_size: int | None = 256
) -> LoadedColorizer:
    """Rebuild a colorizer from a run folder, checkpoint folder or ``colorizer.safetensors`` file.

    ``decode`` overrides the decoding the run was configured with; ``work_size`` caps the shorter
    side the network sees (``None``: full resolution).
    """
    from imsynth.methods.colorizer import ColorizerMethodConfig

    loaded, config = load_method_checkpoint(checkpoint, "colorizer", ColorizerMethodConfig)
    model = restore_model(lambda: ColorizerNet(config.model), "colorizer", loaded, device, config.model)
    return LoadedColorizer(model, decode or config.decode, loaded.step, loaded.path, work_size)


def _read_for_colorization(path: Path) -> np.ndarray:
    """A file as uint8 gray, RGB or RGBA (palette and 16-bit images converted, EXIF orientation applied)."""
    from PIL import ImageOps

    with open_image(path) as opened:
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("L", "RGB", "RGBA"):
            return np.array(image)
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            values = np.asarray(image, dtype=np.float64)
            values = values / 257.0 if values.size and values.max() > 255 else values
            return np.clip(np.round(values), 0, 255).astype(np.uint8)
        has_alpha = "A" in image.getbands() or "transparency" in image.info
        return np.array(image.convert("RGBA" if has_alpha else "RGB"))


def colorize_files(
    colorizer: LoadedColorizer,
    paths: Sequence[Path],
    out_dir: str | Path,
    root: Path | None = None,
    *,
    overwrite: bool = False,
) -> BatchReport:
    """Write ``out_dir/<name>.png`` for each input, mirroring the tree under ``root`` (``None``: flat).

    Unreadable inputs are listed in the returned report, not raised (see :mod:`imsynth.inference.batch`).
    """
    items = plan_items(list(paths), root, lambda name: [name.with_name(f"{name.name}.png")])

    def produce(item: BatchItem) -> dict[Path, np.ndarray]:
        return {item.outputs[0]: colorizer.colorize(_read_for_colorization(item.source))}

    return run_batch(items, out_dir, produce, (ImageReadError,), overwrite=overwrite)
