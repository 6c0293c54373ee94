"""VGG-19 (Simonyan & Zisserman 2015) feature extractor, as used by the CRN perceptual loss.

Module layout mirrors torchvision's ``vgg19().features`` / ``.classifier`` index for index, so
a torchvision state dict (``vgg19-dcbb9e9d.pth``: ``features.{0,2,5,...,34}.weight/bias``,
``classifier.{0,3,6}.weight/bias``) loads directly. Only the layers up to the deepest
requested feature are built and run (conv5_2 by default); the classifier is optional.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import FeatureExtractor
from .weights import load_checked, load_state_dict_file, locate_vgg19_weights

_BLOCKS = (2, 2, 4, 4, 4)  # convs per block in VGG-19 (configuration "E")
_CHANNELS = (64, 128, 256, 512, 512)


def _layer_table() -> dict[str, int]:
    """``conv{b}_{j}``, ``relu{b}_{j}``, ``pool{b}`` -> index in torchvision's ``features``."""
    table: dict[str, int] = {}
    idx = 0
    for b, n in enumerate(_BLOCKS, start=1):
        for j in range(1, n + 1):
            table[f"conv{b}_{j}"] = idx
            table[f"relu{b}_{j}"] = idx + 1
            idx += 2
        table[f"pool{b}"] = idx
        idx += 1
    return table


VGG19_LAYERS = _layer_table()
FULL_DEPTH = VGG19_LAYERS["pool5"]  # 36
# CRN: ReLU outputs of conv1_2 ... conv5_2 (Chen & Koltun 2017).
DEFAULT_VGG_LAYERS = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")
# CRN layer weights [image, relu1_2, ..., relu5_2] from the authors' latest code for the
# 256x512 diversity model. They were tuned with 0..255 images and caffe preprocessing.
CRN_VGG_LAYER_WEIGHTS = [1.0, 1 / 1.6, 1 / 2.3, 1 / 1.8, 1 / 2.8, 10 / 0.8]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)  # MatConvNet / caffe VGG, RGB order, 0..255 input


class _Pool(nn.Module):
    """2x2/2 pooling slot; the mode is chosen at run time (``avg`` or ``max``)."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: Tensor, mode: str | None = None) -> Tensor:
        mode = mode or self.mode
        return F.max_pool2d(x, 2, 2) if mode == "max" else F.avg_pool2d(x, 2, 2)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class VGG19Features(FeatureExtractor):
    """Frozen VGG-19 returning ReLU features (default: relu1_2 ... relu5_2, as in CRN).

    Parameters
    ----------
    weights: path to a torchvision-format ``.pth``/``.safetensors`` state dict, an in-memory
        state dict, or ``None`` to search ``$IMSYNTH_VGG19_WEIGHTS`` then the torch hub cache
        (``<hub>/checkpoints/vgg19-dcbb9e9d.pth``). Raises
        :class:`~imsynth.models.backbones.weights.WeightsNotFoundError` when absent.
    pretrained: ``False`` skips loading (random Kaiming init; tests and smoke runs only).
    pooling: ``"avg"`` (default; the CRN authors replace max by average pooling) or ``"max"``.
        Applies to :meth:`forward`; :meth:`imagenet_logits` / :meth:`pooled_features` always use
        max pooling, as the classifier was trained with it.
    preprocess: ``"torchvision"`` (ImageNet mean/std on 0..1 input; right for torchvision
        weights) or ``"caffe"`` (0..255 input minus the RGB mean (123.68, 116.779, 103.939), for
        weights converted from the MatConvNet/caffe VGG used by the CRN authors).
    layers: names such as ``relu3_2``/``conv3_2``/``pool3`` (see ``VGG19_LAYERS``).
    with_classifier: also build conv5_3..pool5 and the fully connected classifier (needed by
        :meth:`imagenet_logits` and :meth:`pooled_features`; the file must contain them).
    download: when no file is found, download torchvision's into the torch hub cache
        (:func:`~imsynth.models.backbones.weights.download_vgg19_weights`; hash-checked).
    """

    name = "vgg19"
    input_size = 224

    mean: Tensor  # buffers: input normalisation
    std: Tensor

    def __init__(
        self,
        weights: str | os.PathLike | Mapping[str, Tensor] | None = None,
        *,
        pretrained: bool = True,
        pooling: str = "avg",
        preprocess: str = "torchvision",
        layers: Sequence[str] | None = None,
        with_classifier: bool = False,
        download: bool = False,
    ) -> None:
        super().__init__()
        if pooling not in ("avg", "max"):
            raise ValueError(f"pooling must be 'avg' or 'max', got {pooling!r}")
        if preprocess not in ("torchvision", "caffe"):
            raise ValueError(f"preprocess must be 'torchvision' or 'caffe', got {preprocess!r}")
        layers = tuple(layers) if layers is not None else DEFAULT_VGG_LAYERS
        if not layers:
            raise ValueError("at least one layer is required")
        for n in layers:
            if n not in VGG19_LAYERS:
                raise ValueError(f"unknown VGG-19 layer {n!r}; choose from {list(VGG19_LAYERS)}")
        idx = [VGG19_LAYERS[n] for n in layers]
        if idx != sorted(idx) or len(set(idx)) != len(idx):
            raise ValueError(f"layers must be distinct and in network order, got {list(layers)}")
        self.layer_names = list(layers)
        self._layer_indices = idx
        self.pooling = pooling
        self.preprocess_mode = preprocess
        self.with_classifier = with_classifier
        self.download = download
        depth = FULL_DEPTH if with_classifier else idx[-1]

        # Built on the meta device and materialised uninitialised: every parameter is then
        # either loaded or explicitly initialised, so no time is spent on default inits
        # (the 120M-parameter classifier would take seconds).
        with torch.device("meta"):
            modules: list[nn.Module] = []
            cin = 3
            for convs, c in zip(_BLOCKS, _CHANNELS, strict=True):
                for _ in range(convs):
                    modules += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(inplace=False)]
                    cin = c
                modules.append(_Pool(pooling))
            features = nn.Sequential(*modules[: depth + 1])
            classifier = (
                nn.Sequential(
                    nn.Linear(512 * 7 * 7, 4096),
                    nn.ReLU(inplace=False),
                    nn.Dropout(),
                    nn.Linear(4096, 4096),
                    nn.ReLU(inplace=False),
                    nn.Dropout(),
                    nn.Linear(4096, 1000),
                )
                if with_classifier
                else None
            )
        self.features = features.to_empty(device="cpu")
        self.classifier: nn.Sequential | None = classifier.to_empty(device="cpu") if classifier is not None else None

        if preprocess == "torchvision":
            scale, mean, std = 1.0, IMAGENET_MEAN, IMAGENET_STD
        else:
            scale, mean, std = 255.0, CAFFE_MEAN_RGB, (1.0, 1.0, 1.0)
        self.input_scale = scale
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

        self.weights_path: str | None = None
        if pretrained:
            self._load(weights)
        else:
            self._random_init()
        self.default_layer_weights = (
            list(CRN_VGG_LAYER_WEIGHTS)
            if self.layer_names == list(DEFAULT_VGG_LAYERS)
            else [1.0] * (1 + len(self.layer_names))
        )
        self._freeze()

    # -- weights ------------------------------------------------------------------------------
    def _random_init(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def _load(self, weights: str | os.PathLike | Mapping[str, Tensor] | None) -> None:
        what = "torchvision VGG-19" + (" (with classifier)" if self.with_classifier else "")
        if isinstance(weights, Mapping):
            load_checked(self, weights, "the given state dict", what)
            return
        path = locate_vgg19_weights(weights, download=self.download)
        prefixes = ("features.", "classifier.") if self.with_classifier else ("features.",)
        load_checked(self, load_state_dict_file(path, prefixes), path, what)
        self.weights_path = str(path)

    # -- computation --------------------------------------------------------------------------
    def preprocess(self, images: Tensor) -> Tensor:
        if self.input_scale != 1.0:
            images = images * self.input_scale
        return (images - self.mean) / self.std

    def _run(self, x: Tensor, stop: int, keep: Sequence[int], pool_mode: str | None) -> list[Tensor]:
        out: list[Tensor] = []
        want = set(keep)
        for i, layer in enumerate(self.features):
            x = layer(x, pool_mode) if isinstance(layer, _Pool) else layer(x)
            if i in want:
                out.append(x)
            if i == stop:
                break
        return out

    def _check_size(self, x: Tensor, stop: int) -> None:
        n_pools = sum(isinstance(m, _Pool) for m in list(self.features)[:stop])
        need = 2**n_pools
        if min(x.shape[-2:]) < need:
            raise ValueError(
                f"VGG-19 up to layer index {stop} needs images of at least {need}x{need} "
                f"pixels, got {tuple(x.shape[-2:])}"
            )

    def extract(self, x: Tensor) -> list[Tensor]:
        self._check_size(x, self._layer_indices[-1])
        return self._run(x, self._layer_indices[-1], self._layer_indices, None)

    def _pool5(self, x: Tensor) -> Tensor:
        if not self.with_classifier:
            raise RuntimeError("build VGG19Features(with_classifier=True) to use imagenet_logits/pooled_features")
        self._check_size(x, FULL_DEPTH + 1)
        return self._run(x, FULL_DEPTH, [FULL_DEPTH], "max")[0]

    def _pooled_from_preprocessed(self, x: Tensor) -> Tensor:
        return self._pool5(x).mean(dim=(2, 3))

    def _logits_from_preprocessed(self, x: Tensor) -> Tensor:
        h = F.adaptive_avg_pool2d(self._pool5(x), (7, 7))  # raises without the classifier
        assert self.classifier is not None
        return self.classifier(torch.flatten(h, 1))

    @property
    def pooled_dim(self) -> int:
        return 512

    def extra_repr(self) -> str:
        return (
            f"name={self.name!r}, layers={self.layer_names}, pooling={self.pooling!r}, "
            f"preprocess={self.preprocess_mode!r}"
        )
