"""Export trained generators (pix2pix, CRN) to ONNX and check the export with ONNX Runtime.

The exported graph is the generator in deterministic ``eval()`` mode -- dropout off, batch norm
with its running statistics -- so that it is a pure function of its input (pix2pix's stochastic
test mode cannot be reproduced across runtimes). Inputs and outputs are image-space, with the
[0, 1] <-> [-1, 1] conversions inside the graph:

* pix2pix: ``input`` float32 ``N x 3 x H x W`` in [0, 1] -> ``output`` ``N x 3 x H x W`` in
  [0, 1]; N, H and W are dynamic, but H and W must be multiples of the generator's
  ``size_multiple`` (metadata key ``imsynth_size_multiple``; pad, e.g. by reflection, first).
* CRN: ``labels`` int64 ``N x H x W`` train ids (255 = void) at the model's grid size (fixed)
  -> ``images`` ``N x k x 3 x H x W`` in [0, 1]; N is dynamic.

Uses the TorchScript-based exporter (``dynamo=False``), which needs only the ``onnx`` package
(``pip install "imsynth[export]"``); ONNX Runtime is used for the optional verification.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from imsynth.models.crn import CRN
from imsynth.nn.norm import LayerNorm2d
from imsynth.runs import CheckpointError, read_checkpoint_config

__all__ = ["ExportResult", "Pix2PixGraph", "CRNGraph", "export_onnx", "run_onnx", "DEFAULT_OPSET"]

DEFAULT_OPSET = 17


class Pix2PixGraph(nn.Module):
    """Image-space pix2pix generator: [0, 1] in, [0, 1] out (tanh output rescaled, clamped)."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, images: Tensor) -> Tensor:
        return ((self.generator(images * 2.0 - 1.0) + 1.0) / 2.0).clamp(0.0, 1.0)


class CRNGraph(nn.Module):
    """CRN from a train-id map: one-hot with void (comparison ops only) -> k images in [0, 1].

    Takes over ``crn`` (its layer norms are swapped for traceable equivalents)."""

    def __init__(self, crn: CRN) -> None:
        super().__init__()
        self.crn = _traceable(crn)
        self.num_classes = int(crn.config.num_classes)

    def forward(self, labels: Tensor) -> Tensor:
        c = self.num_classes
        known = (labels >= 0) & (labels < c)
        index = torch.where(known, labels, torch.full_like(labels, c))  # anything else -> void
        channels = torch.arange(c + 1, device=labels.device).view(1, -1, 1, 1)
        one_hot = (index.unsqueeze(1) == channels).to(torch.float32)
        return self.crn(one_hot).clamp(0.0, 1.0)


class _TraceableLayerNorm2d(nn.Module):
    """:class:`~imsynth.nn.norm.LayerNorm2d` written with reductions over (C, H, W): the same
    function, but without ``F.layer_norm``'s shape argument, which the TorchScript exporter
    cannot take from a traced tensor shape."""

    def __init__(self, norm: LayerNorm2d) -> None:
        super().__init__()
        self.eps = norm.eps
        self.weight, self.bias = norm.weight, norm.bias

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        var = (x - mean).pow(2).mean(dim=(1, 2, 3), keepdim=True)
        y = (x - mean) / torch.sqrt(var + self.eps)
        if self.weight is not None and self.bias is not None:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y


def _traceable(module: nn.Module) -> nn.Module:
    """Replace (in place) every LayerNorm2d of ``module`` by its traceable twin."""
    for name, child in module.named_children():
        if isinstance(child, LayerNorm2d):
            setattr(module, name, _TraceableLayerNorm2d(child))
        else:
            _traceable(child)
    return module


@dataclass
class ExportResult:
    """What was written, and how closely ONNX Runtime reproduced PyTorch on the example input."""

    path: Path
    method: str
    input_name: str
    output_name: str
    example_shape: tuple[int, ...]
    metadata: dict[str, str]
    max_abs_diff: float | None = None  # None when not verified


def _pix2pix_graph(checkpoint: str | Path, size: tuple[int, int] | None) -> tuple[nn.Module, Tensor, dict[str, Any]]:
    from imsynth.inference.pix2pix import load_pix2pix

    loaded = load_pix2pix(checkpoint, "cpu", test_dropout=False)
    multiple = loaded.size_multiple
    if size is None:
        crop = loaded.config.data.crop_size
        size = (crop, crop)
    if size[0] % multiple or size[1] % multiple:
        raise ValueError(
            f"example size {size[0]}x{size[1]} must be a multiple of {multiple} for "
            f"{loaded.config.model.generator.name}"
        )
    channels = loaded.generator_config.in_channels
    example = torch.rand(1, channels, *size, generator=torch.Generator().manual_seed(0))
    info = {
        "step": loaded.step,
        "size_multiple": multiple,
        "generator": loaded.config.model.generator.name,
        "direction": loaded.config.data.direction,
        "dataset_mode": loaded.config.data.mode,
        "input": "float32 N x 3 x H x W in [0, 1]",
        "output": "float32 N x 3 x H x W in [0, 1]",
        "test_dropout": False,
        "batch_norm_statistics": "running averages from training",
    }
    return Pix2PixGraph(loaded.model).eval(), example, info


def _crn_graph(checkpoint: str | Path) -> tuple[nn.Module, Tensor, dict[str, Any]]:
    from imsynth.inference.crn import load_crn

    loaded = load_crn(checkpoint, "cpu")
    config = loaded.model.config
    generator = torch.Generator().manual_seed(0)
    example = torch.randint(0, config.num_classes, (1, config.height, config.width), generator=generator)
    example[:, :2] = config.ignore_index  # exercise the void channel
    info = {
        "step": loaded.step,
        "grid_size": [config.height, config.width],
        "num_variants": config.num_variants,
        "label_space": loaded.label_space.name,
        "input": f"int64 N x {config.height} x {config.width} train ids ({config.ignore_index} = void)",
        "output": f"float32 N x {config.num_variants} x 3 x H x W in [0, 1]",
    }
    return CRNGraph(loaded.model).eval(), example, info


def export_onnx(
    checkpoint: str | Path,
    out_path: str | Path,
    *,
    size: tuple[int, int] | None = None,
    opset: int = DEFAULT_OPSET,
    verify: bool = True,
) -> ExportResult:
    """Export the generator of a pix2pix or CRN checkpoint to ``out_path`` (.onnx).

    ``size``: pix2pix example H x W (default: the training crop); CRN always uses its grid.
    ``verify``: run the file with ONNX Runtime on the example and report the largest difference.
    """
    import onnx

    method = read_checkpoint_config(checkpoint).get("method")
    if method == "pix2pix":
        graph, example, info = _pix2pix_graph(checkpoint, size)
        names, dynamic = (
            ("input", "output"),
            {"input": {0: "batch", 2: "height", 3: "width"}, "output": {0: "batch", 2: "height", 3: "width"}},
        )
    elif method == "crn":
        graph, example, info = _crn_graph(checkpoint)
        names, dynamic = ("labels", "images"), {"labels": {0: "batch"}, "images": {0: "batch"}}
    else:
        raise CheckpointError(f"{checkpoint} holds a {method!r} model; ONNX export supports pix2pix and crn")

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", message=".*feature will be removed.*")
        # shape checks traced as constants: intended, CRN's grid is fixed and pix2pix has none
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            graph,
            (example,),
            str(out_path),
            dynamo=False,
            opset_version=opset,
            input_names=[names[0]],
            output_names=[names[1]],
            dynamic_axes=dynamic,
            do_constant_folding=True,
        )

    metadata = {
        "imsynth_method": method,
        "imsynth_checkpoint": str(checkpoint),
        **{f"imsynth_{key}": json.dumps(value) if not isinstance(value, str) else value for key, value in info.items()},
    }
    model = onnx.load(str(out_path))
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))

    result = ExportResult(out_path, method, names[0], names[1], tuple(example.shape), metadata)
    if verify:
        with torch.no_grad():
            expected = graph(example).numpy()
        actual = run_onnx(out_path, example.numpy())
        result.max_abs_diff = float(np.abs(actual - expected).max())
    return result


def run_onnx(path: str | Path, inputs: np.ndarray) -> np.ndarray:
    """Run an exported model (single input, single output) with ONNX Runtime on the CPU."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return session.run(None, {name: inputs})[0]
