"""Quantized ab colour classes (Zhang, Isola & Efros, ECCV 2016, Sec. 2.1).

Colorization is posed as classification: the ab plane is divided into a grid of size 10 and
only the cells an sRGB colour can fall into are kept, giving Q classes. The paper reports
Q = 313; the rule that produced that set was not released, so this module *computes* the set
from the sRGB gamut and documents the result.

Two rules for "in gamut" (both on the grid of centres ``(10 i, 10 j)``):

* ``"nearest"`` (the default) -- a bin is kept when it is the nearest grid centre of at least one
  8-bit sRGB colour: **Q = 261**. It is computed from the colours on the surface of the RGB cube
  (at least one channel at 0 or 255; 6 x 256^2 colours), which reach exactly the same bins as all
  256^3 colours (the ab footprint of a solid is the footprint of its surface; checked by running
  both: 261 bins each).
* ``"cell"`` -- a bin is kept when its 10 x 10 cell intersects the gamut's footprint in the ab
  plane at any L (the continuous gamut, sampled on the cube's surface at 512 levels per edge;
  the same set at 768, 1024 and 2048 levels): **Q = 262**, one bin more.

Why ``"nearest"`` is the default: its bins are exactly the classes a pixel can belong to (the
argmax class of its soft encoding), so every class can carry training data and the rebalancing
prior is defined on all of them. The extra bins of larger sets are never any colour's nearest
bin: they only receive soft-encoded mass and their centres decode to colours outside sRGB.
Neither rule gives 313; looser rules land around it (bins with a centre within 10 of a
reachable colour in both a and b: 309; bins among the 5 nearest centres of some colour on the
unbounded grid: 322) but have no better justification, so they are not offered.

``grid="uniform18"`` is the simpler variant of a Julia (Knet) re-implementation: an 18 x 18
grid over a, b in [-110, 110] (cell size 220/18), all 324 bins kept.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from imsynth.color.lab import rgb_to_lab

__all__ = [
    "GRID_STEP",
    "GAMUT_BIN_COUNTS",
    "QuantizationConfig",
    "ab_bins",
    "gamut_bins",
    "uniform_bins",
    "cube_surface",
]

GRID_STEP = 10.0
#: What :func:`gamut_bins` returns for each rule (asserted by the tests).
GAMUT_BIN_COUNTS = {"nearest": 261, "cell": 262}
_CELL_RULE_LEVELS = 512

GamutRule = Literal["nearest", "cell"]


@dataclass
class QuantizationConfig:
    """Which ab bins are the classes, and how a target colour is spread over them (Sec. 2.1).

    ``neighbors`` and ``sigma``: the soft encoding puts Gaussian weights (``sigma`` in ab units)
    on the ``neighbors`` nearest bin centres of each ground-truth colour.
    """

    grid: Literal["gamut10", "uniform18"] = "gamut10"
    gamut_rule: GamutRule = "nearest"
    neighbors: int = 5
    sigma: float = 5.0

    def __post_init__(self) -> None:
        if self.grid not in ("gamut10", "uniform18"):
            raise ValueError(f"grid must be 'gamut10' or 'uniform18', got {self.grid!r}")
        if self.gamut_rule not in GAMUT_BIN_COUNTS:
            raise ValueError(f"gamut_rule must be one of {sorted(GAMUT_BIN_COUNTS)}, got {self.gamut_rule!r}")
        if self.neighbors < 1:
            raise ValueError(f"neighbors must be >= 1, got {self.neighbors}")
        if self.sigma <= 0:
            raise ValueError(f"sigma must be positive, got {self.sigma}")


def cube_surface(levels: int) -> Tensor:
    """RGB colours on the surface of the unit cube, ``levels`` values per edge: ``(3, 6 * levels^2)``."""
    values = torch.linspace(0.0, 1.0, levels, dtype=torch.float64)
    u, v = (grid.flatten() for grid in torch.meshgrid(values, values, indexing="ij"))
    faces = []
    for axis in range(3):
        for level in (0.0, 1.0):
            channels = [u, v]
            channels.insert(axis, torch.full_like(u, level))
            faces.append(torch.stack(channels))
    return torch.cat(faces, dim=1)


def _ab_of(rgb: Tensor) -> Tensor:
    """``(3, M)`` RGB colours -> ``(2, M)`` their ab coordinates."""
    return rgb_to_lab(rgb[:, :, None])[1:, :, 0]


@functools.cache
def _gamut_bins(rule: GamutRule) -> Tensor:
    levels = 256 if rule == "nearest" else _CELL_RULE_LEVELS
    ab = _ab_of(cube_surface(levels))
    # "nearest": the bin a colour rounds to. "cell": the cell a point of the continuous gamut lies
    # in -- the same rounding, applied to a sampling dense enough to find every touched cell.
    indices = torch.unique(torch.round(ab / GRID_STEP).to(torch.int64), dim=1)
    return (indices.T.to(torch.float32) * GRID_STEP).contiguous()


def gamut_bins(rule: GamutRule = "nearest") -> Tensor:
    """In-gamut bin centres on the grid of size 10, ``(Q, 2)`` (a, b), sorted by a then b."""
    if rule not in GAMUT_BIN_COUNTS:
        raise ValueError(f"unknown gamut rule {rule!r}; expected one of {sorted(GAMUT_BIN_COUNTS)}")
    return _gamut_bins(rule).clone()


def uniform_bins(per_axis: int = 18, low: float = -110.0, high: float = 110.0) -> Tensor:
    """Centres of a ``per_axis`` x ``per_axis`` grid over ``[low, high]^2``, ``(per_axis^2, 2)``."""
    step = (high - low) / per_axis
    centres = low + step * (torch.arange(per_axis, dtype=torch.float32) + 0.5)
    a, b = torch.meshgrid(centres, centres, indexing="ij")
    return torch.stack([a.flatten(), b.flatten()], dim=1)


def ab_bins(config: QuantizationConfig) -> Tensor:
    """The bin centres ``(Q, 2)`` that ``config`` names."""
    if config.grid == "uniform18":
        return uniform_bins(18)
    return gamut_bins(config.gamut_rule)
