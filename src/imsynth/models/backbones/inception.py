"""InceptionV3 as used for the Fréchet Inception Distance (FID; Heusel et al., NeurIPS 2017).

FID is only comparable with published numbers when it is computed with the *same* network: the
TensorFlow Inception graph of 2015-12-05 that the original FID code uses. Its weights were ported
to PyTorch by the pytorch-fid project as ``pt_inception-2015-12-05-6726825d.pth``; this module
defines our own InceptionV3 (Szegedy et al., CVPR 2016) whose state-dict keys match that file
(``Conv2d_1a_3x3.conv.weight``, ``Mixed_5b.branch1x1.bn.running_mean``, ..., ``fc.weight``), with
the FID graph's three departures from the usual InceptionV3:

* the average-pooling branches exclude the zero padding from the mean (TensorFlow's behaviour,
  ``count_include_pad=False``) in Mixed_5b-d, Mixed_6b-e and Mixed_7b;
* the pooling branch of the last block (Mixed_7c) uses max pooling instead of average pooling;
* the classifier has 1008 outputs.

Input protocol: RGB in ``[0, 1]`` resized bilinearly (``align_corners=False``, no antialiasing)
to 299x299 and mapped to ``[-1, 1]``; the FID features are the 2048-d global average pool after
Mixed_7c.

imsynth never downloads the file: pass its path (``--inception-weights PATH``) or set
``$IMSYNTH_INCEPTION_WEIGHTS``. Without it, :func:`locate_inception_weights` raises a
:class:`WeightsNotFoundError` that says where the file comes from and how to supply it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .weights import WeightsNotFoundError, load_state_dict_file

__all__ = [
    "INCEPTION_FILENAME",
    "INCEPTION_ENV_VAR",
    "INCEPTION_URL",
    "FIDInceptionV3",
    "locate_inception_weights",
    "inception_missing_message",
    "load_fid_inception",
]

INCEPTION_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_ENV_VAR = "IMSYNTH_INCEPTION_WEIGHTS"
INCEPTION_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
FID_INPUT_SIZE = 299
FID_FEATURE_DIM = 2048


# ------------------------------------------------------------------------------------ layers
class BasicConv2d(nn.Module):
    """Convolution (no bias) -> batch norm (eps 1e-3, the TensorFlow value) -> ReLU."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_same(x: Tensor) -> Tensor:
    """3x3 stride-1 average pooling over the valid pixels only (TensorFlow ``SAME`` pooling)."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block (Mixed_5b-d): 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | pool -> 1x1."""

    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(_avg_pool_same(x)),
            ],
            dim=1,
        )


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17 (Mixed_6a): stride-2 3x3 | 1x1 -> 3x3 -> stride-2 3x3 | max pool."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(
            [
                self.branch3x3(x),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                F.max_pool2d(x, kernel_size=3, stride=2),
            ],
            dim=1,
        )


class InceptionC(nn.Module):
    """17x17 block (Mixed_6b-e) with factorised 7x7 convolutions (1x7 then 7x1)."""

    def __init__(self, cin: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        double = x
        for layer in (
            self.branch7x7dbl_1,
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            double = layer(double)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
                double,
                self.branch_pool(_avg_pool_same(x)),
            ],
            dim=1,
        )


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8 (Mixed_7a)."""

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        seven = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat(
            [self.branch3x3_2(self.branch3x3_1(x)), seven, F.max_pool2d(x, kernel_size=3, stride=2)], dim=1
        )


class InceptionE(nn.Module):
    """8x8 block (Mixed_7b, Mixed_7c) with split 1x3 / 3x1 outputs; ``pool`` is "avg" or "max"."""

    def __init__(self, cin: int, pool: str) -> None:
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        single = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.pool == "max" else _avg_pool_same(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(single),
                self.branch3x3_2b(single),
                self.branch3x3dbl_3a(double),
                self.branch3x3dbl_3b(double),
                self.branch_pool(pooled),
            ],
            dim=1,
        )


# ------------------------------------------------------------------------------------ network
class FIDInceptionV3(nn.Module):
    """The FID InceptionV3 (frozen, eval); :meth:`pooled_features` gives the 2048-d FID features.

    Build it with :func:`load_fid_inception` (weights from the pytorch-fid file) or, for tests,
    ``FIDInceptionV3()`` with random weights.
    """

    name = "inception_v3_fid"
    pooled_dim = FID_FEATURE_DIM

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(FID_FEATURE_DIM, 1008)
        self.weights_path: str | None = None
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FIDInceptionV3:  # noqa: ARG002 - always eval
        """Kept in eval mode (batch-norm statistics are the TensorFlow graph's)."""
        return super().train(False)

    def pooled_features(self, images: Tensor) -> Tensor:
        """``B x 3 x H x W`` RGB in [0, 1] (any size) -> ``B x 2048`` FID features."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected RGB images of shape Bx3xHxW in [0, 1], got {tuple(images.shape)}")
        x = F.interpolate(images, size=(FID_INPUT_SIZE, FID_INPUT_SIZE), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (
            self.Mixed_5b,
            self.Mixed_5c,
            self.Mixed_5d,
            self.Mixed_6a,
            self.Mixed_6b,
            self.Mixed_6c,
            self.Mixed_6d,
            self.Mixed_6e,
            self.Mixed_7a,
            self.Mixed_7b,
            self.Mixed_7c,
        ):
            x = block(x)
        return x.mean(dim=(2, 3))

    def logits(self, images: Tensor) -> Tensor:
        """The 1008-way classifier of the TensorFlow graph (not used by FID)."""
        return self.fc(self.pooled_features(images))


# ------------------------------------------------------------------------------------ weights
def inception_missing_message(reason: str | None = None) -> str:
    lines = [reason] if reason else []
    lines += [
        f"FID needs the Inception weights of the original FID code, ported to PyTorch as '{INCEPTION_FILENAME}' "
        f"(download it once from {INCEPTION_URL}; imsynth never downloads). Supply it in one of these ways:",
        "  1. the CLI option --inception-weights PATH (imsynth evaluate / imsynth compare);",
        f"  2. the environment variable {INCEPTION_ENV_VAR}=PATH;",
        "  3. load_fid_inception(PATH) in Python.",
        "Without it imsynth reports FLD-2 (Fréchet distance in EfficientNet-Lite2 features), which needs no "
        "download but is not comparable with published FID numbers.",
    ]
    return "\n".join(lines)


def locate_inception_weights(path: str | os.PathLike | None = None) -> Path:
    """The FID weight file: explicit ``path``, else ``$IMSYNTH_INCEPTION_WEIGHTS``; else a how-to error."""
    if path is not None:
        candidate = Path(path).expanduser()
        if candidate.is_file():
            return candidate
        raise WeightsNotFoundError(
            inception_missing_message(f"The given Inception weight path does not exist: {candidate}")
        )
    env = os.environ.get(INCEPTION_ENV_VAR)
    if env:
        candidate = Path(env).expanduser()
        if candidate.is_file():
            return candidate
        raise WeightsNotFoundError(
            inception_missing_message(f"{INCEPTION_ENV_VAR} is set to '{env}', but no such file exists.")
        )
    raise WeightsNotFoundError(inception_missing_message("No FID Inception weights were given."))


def load_fid_inception(path: str | os.PathLike | None = None) -> FIDInceptionV3:
    """The FID InceptionV3 with the pytorch-fid weights (see :func:`locate_inception_weights`).

    Every parameter and batch-norm statistic must be in the file with the right shape; the
    ``num_batches_tracked`` counters (training bookkeeping) may be absent.
    """
    file = locate_inception_weights(path)
    state = load_state_dict_file(file)
    model = FIDInceptionV3()
    expected = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing = [k for k in expected if k not in state]
    if missing:
        shown = ", ".join(missing[:4]) + (" ..." if len(missing) > 4 else "")
        raise ValueError(
            f"{file} is not the FID Inception state dict ({INCEPTION_FILENAME}): {len(missing)} keys "
            f"missing ({shown}); its keys start with {', '.join(list(state)[:4])}"
        )
    for key, value in expected.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise ValueError(f"{file}: key {key!r} has shape {tuple(state[key].shape)}, expected {tuple(value.shape)}")
    model.load_state_dict({k: state[k] for k in expected}, strict=False)
    model.weights_path = str(file)
    return model
