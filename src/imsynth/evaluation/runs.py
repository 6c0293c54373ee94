"""Runs to evaluate: finding a run from any of its checkpoint paths, loading its model (optionally
at a fixed size, ``PATH@HxW``), and its training curves for a report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from imsynth.evaluation.report import Figure, plot_curves, read_scalar_log
from imsynth.inference.synthesizer import LayoutSynthesizer
from imsynth.runs import locate
from imsynth.runs.files import METRICS_FILE
from imsynth.utils.sizes import parse_size

__all__ = ["run_dir_of", "run_name", "loss_curve_figure", "ResizedSynthesizer", "parse_run_spec", "load_run"]


def run_dir_of(path: str | Path) -> Path | None:
    """The run folder of a run folder, checkpoint folder or weight file (:func:`imsynth.runs.locate`);
    ``None`` for a weight file copied out of its run."""
    return locate(path).run_dir


def run_name(path: str | Path) -> str:
    """A short display name: the run folder's name (or the file's stem), plus ``@HxW`` if given."""
    path, size = parse_run_spec(path)
    suffix = f"@{size[0]}x{size[1]}" if size is not None else ""
    run = run_dir_of(path)
    if run is not None:
        return run.name + suffix
    return Path(path).stem + suffix


def loss_curve_figure(path: str | Path, name: str, title: str) -> Figure | None:
    """The logged loss terms (``loss*`` keys of ``metrics.jsonl``) of the run of ``path``, if any."""
    run = run_dir_of(parse_run_spec(path)[0])
    if run is None:
        return None
    series = read_scalar_log(run / METRICS_FILE)
    keys = [k for k in series if k.startswith("loss")]  # every term (layer5 and the adversary's too)
    if not keys:
        return None
    image: np.ndarray = plot_curves(series, keys, title=title)
    steps = max(len(series[k][0]) for k in keys)
    return Figure(
        image,
        f"{title}: {', '.join(keys)} from {run / METRICS_FILE} ({steps} logged points, "
        "means over each logging interval)",
        name,
    )


# --------------------------------------------------------------------------------------------- run specs
class ResizedSynthesizer:
    """Runs a layout -> photo model at a fixed size: each layout is resized to ``size`` (nearest, so
    labels stay hard), synthesized, and the outputs are resized back (bilinear, antialiased).

    This is the pix2pix test protocol for a model trained on squashed square images (Isola et al.
    resize Cityscapes to 256x256): evaluate it at the size it learned, score at the layout's size.
    Every other attribute is the wrapped model's.
    """

    def __init__(self, inner: LayoutSynthesizer, size: tuple[int, int]) -> None:
        self.inner = inner
        self.size = size

    def __getattr__(self, name: str):  # called only for attributes this wrapper lacks
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def num_variants(self) -> int:
        return self.inner.num_variants

    def synthesize(self, ids: np.ndarray, variants: int | None = None) -> np.ndarray:
        height, width = ids.shape
        small = np.asarray(Image.fromarray(ids.astype(np.uint8)).resize(self.size[::-1], Image.Resampling.NEAREST))
        outputs = torch.from_numpy(self.inner.synthesize(small, variants)).permute(0, 3, 1, 2).float()
        if outputs.shape[-2:] != (height, width):
            outputs = F.interpolate(outputs, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
        return outputs.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def parse_run_spec(spec: str | Path) -> tuple[Path, tuple[int, int] | None]:
    """``PATH`` or ``PATH@HxW`` (run the model at HxW, see :class:`ResizedSynthesizer`)."""
    text = str(spec)
    size = None
    if "@" in text and not Path(text).exists():
        text, _, size_text = text.rpartition("@")
        try:
            size = parse_size(size_text)
        except ValueError as error:
            raise ValueError(f"{spec!r}: write PATH@HEIGHTxWIDTH, e.g. runs/pix2pix@256x256 ({error})") from None
    path = Path(text)
    if not path.exists():
        raise ValueError(f"run {path} does not exist")
    return path, size


def load_run(spec: str | Path, device: str = "auto", size: tuple[int, int] | None = None) -> LayoutSynthesizer:
    """Load the layout -> photo model of ``PATH[@HxW]`` (``size`` overrides the spec's)."""
    from imsynth.inference.synthesizer import load_synthesizer

    path, spec_size = parse_run_spec(spec)
    synthesizer = load_synthesizer(path, device)
    size = size or spec_size
    return ResizedSynthesizer(synthesizer, size) if size is not None else synthesizer
