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
import torch.nn.functional as F
from torch import Tensor

from imsynth.color.encoding import DecodeConfig
from imsynth.color.lab import L_CENTER, fit_to_gamut, lab_to_rgb, rgb_to_lab
from imsynth.data.datasets import IMAGE_EXTENSIONS, list_images
from imsynth.data.imagefile import ImageReadError, open_image
from imsynth.inference.batch import BatchItem, BatchReport, plan_items, run_batch
from imsynth.models.colorizer import SIZE_MULTIPLE, ColorizerNet
from imsynth.training.checkpoint import load_method_checkpoint
from imsynth.training.restore import restore_model
from imsynth.utils.images import tensor_to_uint8, uint8_to_tensor

__all__ = [
    "LoadedColorizer",
    "load_colorizer",
    "predict_ab",
    "colorize_tensor",
    "colorize_files",
    "list_images_to_colorize",
]


def predict_ab(
    net: ColorizerNet, lightness: Tensor, decode: DecodeConfig | None = None, work_size: int | None = None
) -> Tensor:
    """ab ``(N, 2, H, W)`` for lightness ``(N, 1, H, W)`` in [0, 100] of any size.

    The network runs on ``L - 50``, first shrunk so its shorter side is at most ``work_size`` (if
    given) and padded (edge replication) to a multiple of 8; its output is upsampled back to ``H x W``.
    """
    decode = decode or DecodeConfig()
    height, width = lightness.shape[-2:]
    x = lightness - L_CENTER
    if work_size is not None and min(height, width) > work_size:
        scale = work_size / min(height, width)
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % SIZE_MULTIPLE, -w % SIZE_MULTIPLE
    x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    ab = net.predict_ab(x, decode.mode, decode.temperature, full_resolution=True)[..., :h, :w]
    if (h, w) != (height, width):
        ab = F.interpolate(ab, size=(height, width), mode="bilinear", align_corners=False)
    return ab


def colorize_tensor(
    net: ColorizerNet, rgb: Tensor, decode: DecodeConfig | None = None, work_size: int | None = None
) -> Tensor:
    """RGB (or gray, any channels averaged by Lab) ``(N, 3, H, W)`` in [0, 1] -> colorized RGB, same L."""
    lightness = rgb_to_lab(rgb.float())[:, :1]
    ab = predict_ab(net, lightness, decode, work_size)
    return lab_to_rgb(fit_to_gamut(torch.cat([lightness, ab], dim=1))).clamp(0, 1)


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


def list_images_to_colorize(path: str | Path) -> list[Path]:
    """An image file, or the images under a folder (recursively, hidden files skipped)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no such image or folder: {path}")
    files = list_images(path, recursive=True)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {path}")
    return files


def _read_for_colorization(path: Path) -> np.ndarray:
    """A file as uint8 gray, RGB or RGBA (palette and 16-bit images converted, EXIF orientation applied)."""
    from PIL import ImageOps

    with open_image(path) as image:
        image = ImageOps.exif_transpose(image)
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
