"""Colour science for colorization (Zhang, Isola & Efros, ECCV 2016).

* :mod:`~imsynth.color.lab` -- sRGB <-> CIE Lab (D65), the centred L input, gamut fitting;
* :mod:`~imsynth.color.bins` -- the quantized in-gamut ab classes (Q = 261 by default);
* :mod:`~imsynth.color.encoding` -- soft encoding of targets, annealed-mean decoding;
* :mod:`~imsynth.color.prior` -- the empirical colour prior and class-rebalancing weights.
"""

from imsynth.color.bins import GAMUT_BIN_COUNTS, QuantizationConfig, ab_bins, gamut_bins, uniform_bins
from imsynth.color.encoding import decode_ab, nearest_bin, soft_encode
from imsynth.color.lab import L_CENTER, centered_lightness, fit_to_gamut, lab_to_rgb, rgb_to_lab
from imsynth.color.prior import ColorPrior, RebalanceConfig, class_weights, compute_prior, has_color

__all__ = [
    "GAMUT_BIN_COUNTS",
    "L_CENTER",
    "ColorPrior",
    "QuantizationConfig",
    "RebalanceConfig",
    "ab_bins",
    "centered_lightness",
    "class_weights",
    "compute_prior",
    "decode_ab",
    "fit_to_gamut",
    "gamut_bins",
    "has_color",
    "lab_to_rgb",
    "nearest_bin",
    "rgb_to_lab",
    "soft_encode",
    "uniform_bins",
]
