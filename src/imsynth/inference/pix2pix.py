"""Run a trained pix2pix generator: label maps -> photos, or any A -> B translation.

:func:`load_pix2pix` rebuilds the generator from the config embedded in the checkpoint. The
result, :class:`LoadedPix2Pix`, implements
:class:`~imsynth.inference.synthesizer.LayoutSynthesizer` for label -> photo checkpoints
(``synthesize``: colourise the id map with the label space, as in training, and translate it)
and offers :meth:`LoadedPix2Pix.translate_image` for any checkpoint.

Test mode: the paper keeps dropout -- the generator's noise -- active at test time and uses the
test batch's batch-norm statistics (Sec. 3.3). ``test_dropout=True`` (default) does exactly that,
one image per batch as in training, so ``k`` variants of one input differ by their dropout
masks; ``seed`` makes them reproducible. ``test_dropout=False`` runs the usual deterministic
``eval()`` mode. :attr:`LoadedPix2Pix.metadata` records which was used.

Sizes: the generator needs sides that are multiples of 2^depth (U-Net; 256 for ``unet_256``) or
4 (ResNet). Any input is reflection-padded up to such a size, translated and cropped back, so
outputs always have the input's resolution.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from imsynth.data.datasets import DatasetError, read_rgb
from imsynth.data.labels import DEFAULT_COLOR_TOLERANCE, LabelDecodeError, LabelSpace
from imsynth.data.listing import LabelMapFile
from imsynth.inference.batch import BatchItem, BatchReport, plan_items, run_batch
from imsynth.inference.synthesizer import checkpoint_label_space
from imsynth.models.pix2pix import build_generator, generator_test_mode, to_signed, to_unit
from imsynth.runs import CheckpointError, load_method_checkpoint, restore_model
from imsynth.utils.images import tensor_to_uint8, uint8_to_tensor

__all__ = ["LoadedPix2Pix", "load_pix2pix", "reflect_pad_to_multiple", "translate_files"]


def _reflect_index(length: int, before: int, after: int) -> Tensor:
    """Source indices of a reflection (``dcb|abcd|cba``) padding of any width, even wider than the signal."""
    index = torch.arange(-before, length + after)
    if length == 1:
        return torch.zeros_like(index)
    period = 2 * (length - 1)
    index = index.abs() % period
    return torch.where(index >= length, period - index, index)


def reflect_pad_to_multiple(images: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int, int, int]]:
    """Reflection-pad ``B x C x H x W`` (centred) up to multiples of ``multiple``.

    Returns the padded tensor and the ``(top, left, H, W)`` window that crops the original back.
    Unlike ``F.pad(mode="reflect")`` the padding may exceed the image size (e.g. 37 -> 256).
    """
    h, w = images.shape[-2:]
    target_h, target_w = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    top, left = (target_h - h) // 2, (target_w - w) // 2
    rows = _reflect_index(h, top, target_h - h - top).to(images.device)
    cols = _reflect_index(w, left, target_w - w - left).to(images.device)
    return images.index_select(-2, rows).index_select(-1, cols), (top, left, h, w)


@dataclass
class LoadedPix2Pix:
    """A pix2pix generator ready for inference; a ``LayoutSynthesizer`` for label -> photo runs."""

    model: nn.Module
    config: Any  # Pix2PixMethodConfig
    label_space: LabelSpace
    step: int
    source: Path
    test_dropout: bool = True
    default_variants: int = 1
    seed: int | None = 0
    method: str = "pix2pix"

    # ------------------------------------------------------------------ facts
    @property
    def label_to_photo(self) -> bool:
        """True for checkpoints trained on colour-coded label maps -> photos (``synthesize`` works)."""
        return bool(self.config.data.is_label_to_photo)

    @property
    def num_variants(self) -> int:
        return self.default_variants

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def generator_config(self) -> Any:
        """The generator's own config (``GeneratorConfig``), falling back to the run's."""
        return getattr(self.model, "config", self.config.model.generator)

    @property
    def size_multiple(self) -> int:
        return self.generator_config.size_multiple

    @property
    def metadata(self) -> dict[str, Any]:
        """How outputs are produced: record it next to them (``imsynth translate`` writes it as JSON)."""
        generator = self.generator_config
        if generator.norm != "batch":
            statistics = f"{generator.norm} norm (same in both modes)"
        else:
            statistics = "test batch (batch size 1)" if self.test_dropout else "running averages from training"
        return {
            "method": self.method,
            "checkpoint": str(self.source),
            "step": self.step,
            "generator": generator.name,
            "direction": self.config.data.direction,
            "dataset_mode": self.config.data.mode,
            "test_dropout": self.test_dropout,
            "dropout_active": self.test_dropout and generator.dropout > 0,
            "batch_norm_statistics": statistics,
            "seed": self.seed,
            "size_multiple": self.size_multiple,
        }

    # ------------------------------------------------------------------ running
    @contextmanager
    def _random_stream(self) -> Iterator[None]:
        """A private RNG stream seeded with ``seed`` (global RNG state untouched), or the global one."""
        if self.seed is None:
            yield
            return
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            yield

    @torch.inference_mode()
    def translate_tensor(self, images: Tensor, variants: int = 1) -> Tensor:
        """``B x C x H x W`` in [0, 1] -> ``B x k x 3 x H x W`` in [0, 1], any H x W."""
        padded, (top, left, h, w) = reflect_pad_to_multiple(images.to(self.device, torch.float32), self.size_multiple)
        outputs = []
        with self._random_stream(), generator_test_mode(self.model, stochastic=self.test_dropout):
            for image in padded:  # one image per batch: batch statistics as in training
                runs = [self.model(to_signed(image[None]))[0] for _ in range(variants)]
                outputs.append(torch.stack(runs))
        result = to_unit(torch.stack(outputs)).clamp_(0.0, 1.0)
        return result[..., top : top + h, left : left + w]

    def translate_variants(self, image: np.ndarray, variants: int | None = None) -> np.ndarray:
        """``H x W x 3`` (or ``H x W``) uint8 input -> ``k x H x W x 3`` uint8 outputs."""
        array = np.asarray(image)
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=2)
        if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 image, got {array.dtype} {array.shape}")
        k = self.num_variants if variants is None else variants
        outputs = self.translate_tensor(uint8_to_tensor(array)[None], k)[0]
        return np.stack([tensor_to_uint8(output) for output in outputs])

    def translate_image(self, image: np.ndarray) -> np.ndarray:
        """Generic A -> B: ``H x W x 3`` uint8 -> ``H x W x 3`` uint8 at the same size."""
        return self.translate_variants(image, 1)[0]

    def synthesize(self, ids: np.ndarray, variants: int | None = None) -> np.ndarray:
        """Id map (H x W, ids of ``label_space``) -> ``k x H x W x 3`` uint8 photos (label -> photo runs)."""
        if not self.label_to_photo:
            data = self.config.data
            raise CheckpointError(
                f"{self.source} is a pix2pix {data.mode} {data.direction} model, not labels -> photo; "
                "use `imsynth translate` (LoadedPix2Pix.translate_image) for it"
            )
        return self.translate_variants(self.label_space.colorize(ids), variants)


def load_pix2pix(
    checkpoint: str | Path,
    device: str = "auto",
    *,
    test_dropout: bool = True,
    variants: int | None = None,
    seed: int | None = 0,
) -> LoadedPix2Pix:
    """Rebuild the generator from a run folder, checkpoint folder or ``generator.safetensors``.

    ``test_dropout``: the paper's stochastic test mode (default) or deterministic ``eval()``;
    ``variants``: outputs per input when none is asked for (default 1); ``seed``: reproducible
    dropout noise (``None``: the global RNG).
    """
    from imsynth.methods.pix2pix import Pix2PixMethodConfig

    loaded, config = load_method_checkpoint(checkpoint, "pix2pix", Pix2PixMethodConfig)
    space = checkpoint_label_space(loaded, config.data.label_space)
    generator = config.model.generator
    model = restore_model(lambda: build_generator(generator), "generator", loaded, device, generator)
    return LoadedPix2Pix(
        model,
        config,
        space,
        loaded.step,
        loaded.path,
        test_dropout=test_dropout,
        default_variants=variants or 1,
        seed=seed,
    )


def translation_outputs(name: Path, variants: int) -> list[Path]:
    """``<name>.png`` (``<name>_v<j>.png`` per variant when several) and the ``<name>.json`` sidecar."""
    images = [f"{name.name}.png"] if variants == 1 else [f"{name.name}_v{j}.png" for j in range(variants)]
    return [name.with_name(image) for image in images] + [name.with_name(f"{name.name}.json")]


def translate_files(
    model: LoadedPix2Pix,
    inputs: Sequence[Path | LabelMapFile],
    out_dir: str | Path,
    *,
    variants: int = 1,
    tolerance: float = DEFAULT_COLOR_TOLERANCE,
    root: Path | None = None,
    overwrite: bool = False,
    skipped: Sequence[tuple[Path, str]] = (),
) -> BatchReport:
    """Translate every input (label maps for label -> photo checkpoints, else images) into ``out_dir``.

    Each input gives its image(s) and a JSON sidecar of :attr:`LoadedPix2Pix.metadata`; outputs
    mirror the tree under ``root``; unreadable inputs are listed in the report, not raised.
    """
    sources = [(f.path, f.kind) if isinstance(f, LabelMapFile) else Path(f) for f in inputs]
    items = plan_items(sources, root, lambda name: translation_outputs(name, variants))
    labels = model.label_to_photo

    def produce(item: BatchItem) -> dict[Path, Any]:
        if labels:
            ids = model.label_space.load(item.source, kind=item.kind, tolerance=tolerance)  # type: ignore[arg-type]
            outputs = model.synthesize(ids, variants)
        else:
            outputs = model.translate_variants(read_rgb(item.source), variants)
        *images, sidecar = item.outputs
        metadata = {
            **model.metadata,
            "input": str(item.source),
            "input_kind": "label map" if labels else "image",
            "outputs": [image.name for image in images],
            "height": int(outputs.shape[1]),
            "width": int(outputs.shape[2]),
        }
        return {**dict(zip(images, outputs, strict=True)), sidecar: metadata}

    return run_batch(items, out_dir, produce, (LabelDecodeError, DatasetError), overwrite=overwrite, skipped=skipped)
