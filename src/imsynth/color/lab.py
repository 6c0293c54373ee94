"""CIE L*a*b* for sRGB images (IEC 61966-2-1 gamma, D65 white, CIE 1931 2-degree observer).

The colorization recipe of Zhang, Isola & Efros (ECCV 2016, Sec. 2) works in Lab: the network
sees the lightness ``L`` (in [0, 100]) and predicts the two chroma channels ``ab``. The conversions
are kornia's (``kornia.color.rgb_to_lab`` / ``lab_to_rgb``; the constants of scikit-image's
``rgb2lab`` to 2e-4 in L, a and b).

Tensors are channel-first: ``(..., 3, H, W)`` RGB in [0, 1] <-> ``(..., 3, H, W)`` Lab.
:func:`fit_to_gamut` pulls predicted colours into the sRGB gamut by shrinking their chroma, which
keeps ``L`` (and the hue) exactly, so a colorized photo keeps the lightness of its input. It needs
the *unclipped* inverse :func:`lab_to_linear_rgb` (values outside [0, 1] tell it a colour is out of
gamut), which kornia does not offer (its ``lab_to_rgb`` clamps ``f(Z)`` at 0 and applies the gamma),
so that inverse stays written out here with the exact CIE constants.
"""

from __future__ import annotations

import kornia
import torch
from torch import Tensor

__all__ = [
    "L_CENTER",
    "rgb_to_lab",
    "lab_to_rgb",
    "lab_to_linear_rgb",
    "fit_to_gamut",
    "centered_lightness",
    "lightness_only",
]

#: The network input is ``L - L_CENTER`` (Zhang et al., Sec. 2: the L channel, centred).
L_CENTER = 50.0

# XYZ -> linear sRGB (IEC 61966-2-1, D65): the inverse of the sRGB primaries' matrix.
_XYZ_TO_RGB = torch.linalg.inv(
    torch.tensor(
        [
            [0.412453, 0.357580, 0.180423],
            [0.212671, 0.715160, 0.072169],
            [0.019334, 0.119193, 0.950227],
        ],
        dtype=torch.float64,
    )
)
# The D65 white point (X, Y, Z) for the 2-degree observer.
_WHITE_D65 = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
_DELTA = 6.0 / 29.0


def _f_inverse(t: Tensor) -> Tensor:
    return torch.where(t > _DELTA, t**3, 3 * _DELTA**2 * (t - 4.0 / 29.0))


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB ``(..., 3, H, W)`` in [0, 1] -> Lab (L in [0, 100], a and b roughly in [-128, 127])."""
    return kornia.color.rgb_to_lab(rgb)


def lab_to_linear_rgb(lab: Tensor) -> Tensor:
    """Lab -> linear-light RGB, *not* clipped (values outside [0, 1] are out of the sRGB gamut)."""
    L, a, b = lab.unbind(-3)
    fy = (L + 16.0) / 116.0
    f = torch.stack([fy + a / 500.0, fy, fy - b / 200.0], dim=-3)
    xyz = _f_inverse(f) * _WHITE_D65.to(lab).view(3, 1, 1)
    return torch.einsum("ij,...jhw->...ihw", _XYZ_TO_RGB.to(lab), xyz)


def lab_to_rgb(lab: Tensor) -> Tensor:
    """Lab -> sRGB in [0, 1]; out-of-gamut colours are clipped (see :func:`fit_to_gamut`)."""
    return kornia.color.lab_to_rgb(lab, clip=True)


def fit_to_gamut(lab: Tensor, iterations: int = 14, tolerance: float = 1e-4) -> Tensor:
    """Scale each pixel's ``ab`` by the largest ``s`` in [0, 1] that keeps it inside sRGB.

    ``(L, s a, s b)`` is in gamut at ``s = 0`` (a gray of lightness L, for L in [0, 100]), so a
    bisection on ``s`` finds the boundary; ``L`` and the hue angle are unchanged. In-gamut
    pixels (``s = 1``) are returned as they are.
    """
    L, ab = lab[..., :1, :, :], lab[..., 1:, :, :]

    def inside(scale: Tensor) -> Tensor:
        rgb = lab_to_linear_rgb(torch.cat([L, ab * scale], dim=-3))
        return ((rgb >= -tolerance) & (rgb <= 1 + tolerance)).all(dim=-3, keepdim=True)

    ones = torch.ones_like(L)
    ok = inside(ones)
    low, high = torch.zeros_like(L), ones
    for _ in range(iterations):
        middle = (low + high) / 2
        good = inside(middle)
        low, high = torch.where(good, middle, low), torch.where(good, high, middle)
    scale = torch.where(ok, ones, low)
    return torch.cat([L, ab * scale], dim=-3)


def lightness_only(rgb: Tensor) -> Tensor:
    """An sRGB batch ``(N, 3, H, W)`` with its colour removed (a = b = 0): what a colorizer sees."""
    lightness = rgb_to_lab(rgb.float())[:, :1]
    return lab_to_rgb(torch.cat([lightness, torch.zeros_like(lightness).expand(-1, 2, -1, -1)], dim=1))


def centered_lightness(rgb: Tensor) -> Tensor:
    """The network input of Zhang et al.: ``L - 50`` of an sRGB batch ``(N, 3, H, W)`` -> ``(N, 1, H, W)``."""
    return rgb_to_lab(rgb)[:, :1] - L_CENTER
