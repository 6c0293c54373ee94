"""Appearance: everything a photo decides that the layout does not.

An appearance seed draws the weather and time of day (sun direction and colour, sky light,
clouds, haze), the materials and colours of every object (facade style and window grid, paint
of each car, clothes of each pedestrian, foliage tint, ...), and the camera's exposure, white
balance, vignetting and sensor noise. It never changes geometry, so one layout rendered under
many appearance seeds gives many photos with the same label map.

Colours are albedos in display space (0..1). Lighting is Lambertian: a surface with unit normal
``n`` receives ``ambient + sun_rgb * max(0, n . sun)``, where ``sun`` points towards the sun;
cast shadows remove the sun term on the ground.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import classes as C
from .layout import StreetLayout, check_seed

WEATHERS = ("sunny", "cloudy", "overcast", "evening", "hazy")


@dataclass(frozen=True, eq=False)
class Appearance:
    """Scene-wide lighting, camera settings and per-object colours of one photo."""

    weather: str
    sun: np.ndarray  # (3,) unit vector towards the sun, world frame
    sun_rgb: np.ndarray  # (3,)
    ambient: np.ndarray  # (3,)
    sky_zenith: np.ndarray
    sky_horizon: np.ndarray
    cloud_cover: float
    cloud_rgb: np.ndarray
    haze_rgb: np.ndarray
    visibility: float  # metres at which haze covers 63 % of a surface
    haze: float  # 0..1, strength of the haze
    road_rgb: np.ndarray
    sidewalk_rgb: np.ndarray
    curb_rgb: np.ndarray
    terrain_rgb: np.ndarray
    paint_rgb: np.ndarray
    centre_rgb: np.ndarray
    metal_rgb: np.ndarray
    slab: float  # paving slab size (m)
    slab_contrast: float
    lit_windows: float  # probability that a window is lit (evening)
    exposure: float  # target mean brightness
    white_balance: np.ndarray  # (3,) channel gains
    vignette: float
    noise: float  # sensor noise standard deviation (0..255 units)
    blur: float  # optical blur radius in pixels at 512 px width
    contrast: float
    main: np.ndarray  # (O, 3) main colour of every object
    second: np.ndarray  # (O, 3)
    third: np.ndarray  # (O, 3)
    fourth: np.ndarray  # (O, 3)
    style: np.ndarray  # (O,) int, class-specific style code
    params: np.ndarray  # (O, 8) class-specific numbers in [0, 1)


def appearance_rng(seed: int) -> np.random.Generator:
    """The random stream of an appearance seed (independent of the layout stream)."""
    return np.random.default_rng(np.random.SeedSequence([check_seed(seed, "appearance_seed"), 0x57EE7, 2]))


def _rgb(*v: float) -> np.ndarray:
    return np.array(v, dtype=np.float32)


def _pick(
    rng: np.random.Generator,
    n: int,
    palette: list,
    weights: list | None = None,
    jitter: float = 0.06,
    chroma: float = 0.015,
) -> np.ndarray:
    """``n`` colours drawn from ``palette``, with brightness (``jitter``) and hue (``chroma``) noise."""
    pal = np.asarray(palette, dtype=np.float32)
    p = None if weights is None else np.asarray(weights, dtype=np.float64) / np.sum(weights)
    idx = rng.choice(len(pal), size=n, p=p)
    col = pal[idx] * (1.0 + rng.normal(0.0, jitter, (n, 1))) + rng.normal(0.0, chroma, (n, 3))
    return np.clip(col, 0.0, 1.0).astype(np.float32)


_FACADE_PLASTER = [
    (0.86, 0.81, 0.70),
    (0.88, 0.87, 0.83),
    (0.90, 0.82, 0.60),
    (0.84, 0.66, 0.55),
    (0.72, 0.72, 0.70),
    (0.66, 0.71, 0.76),
    (0.80, 0.64, 0.42),
    (0.78, 0.80, 0.70),
    (0.93, 0.90, 0.84),
    (0.62, 0.58, 0.52),
]
_FACADE_BRICK = [(0.58, 0.30, 0.22), (0.66, 0.40, 0.30), (0.50, 0.30, 0.26), (0.72, 0.55, 0.42)]
_FACADE_CONCRETE = [(0.60, 0.60, 0.58), (0.52, 0.52, 0.52), (0.70, 0.68, 0.63)]
_FACADE_MODERN = [(0.30, 0.32, 0.35), (0.55, 0.58, 0.60), (0.80, 0.80, 0.80)]
_CAR_PAINT = [
    (0.86, 0.86, 0.86),
    (0.06, 0.06, 0.07),
    (0.60, 0.61, 0.63),
    (0.34, 0.35, 0.37),
    (0.10, 0.14, 0.30),
    (0.62, 0.08, 0.06),
    (0.16, 0.30, 0.60),
    (0.12, 0.25, 0.16),
    (0.72, 0.66, 0.52),
    (0.80, 0.62, 0.10),
]
_CAR_WEIGHTS = [0.22, 0.2, 0.17, 0.12, 0.07, 0.07, 0.06, 0.03, 0.04, 0.02]
_SKIN = [(0.87, 0.68, 0.55), (0.75, 0.55, 0.42), (0.56, 0.38, 0.27), (0.36, 0.24, 0.17)]
_HAIR = [(0.08, 0.06, 0.05), (0.25, 0.16, 0.09), (0.55, 0.42, 0.25), (0.62, 0.60, 0.58), (0.15, 0.10, 0.08)]
_TOPS = [
    (0.85, 0.85, 0.85),
    (0.08, 0.08, 0.09),
    (0.55, 0.12, 0.12),
    (0.15, 0.25, 0.50),
    (0.40, 0.42, 0.30),
    (0.70, 0.55, 0.35),
    (0.30, 0.30, 0.32),
    (0.85, 0.70, 0.20),
    (0.45, 0.20, 0.45),
    (0.20, 0.45, 0.45),
]
_BOTTOMS = [(0.14, 0.20, 0.36), (0.07, 0.07, 0.08), (0.30, 0.30, 0.32), (0.62, 0.55, 0.42), (0.25, 0.20, 0.15)]
FRAME_COLOURS = np.array(
    [(0.08, 0.08, 0.08), (0.60, 0.10, 0.10), (0.20, 0.30, 0.60), (0.80, 0.80, 0.80), (0.20, 0.45, 0.25)],
    dtype=np.float32,
)
_LEAVES = [(0.20, 0.33, 0.11), (0.25, 0.37, 0.13), (0.16, 0.28, 0.11), (0.30, 0.38, 0.13), (0.20, 0.31, 0.16)]


def sample_appearance(layout: StreetLayout, seed: int) -> Appearance:
    """Draw the appearance of ``layout`` for ``seed`` (deterministic)."""
    rng = appearance_rng(seed)
    weather = WEATHERS[int(rng.choice(len(WEATHERS), p=[0.42, 0.2, 0.2, 0.1, 0.08]))]
    az = rng.uniform(0.0, 2 * math.pi)
    if weather == "evening":
        elev = math.radians(rng.uniform(5.0, 16.0))
    else:
        elev = math.radians(rng.uniform(22.0, 62.0))
    sun = np.array([math.cos(elev) * math.sin(az), math.sin(elev), math.cos(elev) * math.cos(az)], dtype=np.float32)
    j = lambda s: float(rng.uniform(1 - s, 1 + s))  # noqa: E731
    if weather in ("sunny", "cloudy"):
        sun_rgb = _rgb(1.0, 0.96, 0.88) * 0.9 * j(0.1)
        ambient = _rgb(0.44, 0.48, 0.56) * j(0.1)
        zenith = _rgb(0.20, 0.42, 0.80) * j(0.12)
        horizon = _rgb(0.70, 0.80, 0.92) * j(0.05)
        cover = rng.uniform(0.0, 0.35) if weather == "sunny" else rng.uniform(0.35, 0.7)
        cloud = _rgb(0.96, 0.96, 0.97)
        haze_rgb, vis, haze = horizon.copy(), rng.uniform(500, 1500), rng.uniform(0.4, 0.8)
    elif weather == "overcast":
        sun_rgb = _rgb(1.0, 1.0, 1.0) * rng.uniform(0.04, 0.12)
        ambient = _rgb(0.92, 0.94, 0.98) * j(0.08)
        g = rng.uniform(0.68, 0.82)
        zenith = _rgb(g, g + 0.01, g + 0.04)
        horizon = _rgb(g + 0.08, g + 0.09, g + 0.1)
        cover = 1.0
        cloud = _rgb(g + 0.1, g + 0.1, g + 0.1)
        haze_rgb, vis, haze = horizon.copy(), rng.uniform(200, 600), rng.uniform(0.6, 0.9)
    elif weather == "evening":
        sun_rgb = _rgb(1.0, 0.72, 0.45) * rng.uniform(0.8, 1.0)
        ambient = _rgb(0.36, 0.40, 0.54) * j(0.1)
        zenith = _rgb(0.26, 0.36, 0.62) * j(0.1)
        horizon = _rgb(0.98, 0.72, 0.50) * j(0.06)
        cover = rng.uniform(0.0, 0.5)
        cloud = _rgb(0.98, 0.74, 0.62)
        haze_rgb, vis, haze = _rgb(0.90, 0.72, 0.58), rng.uniform(300, 900), rng.uniform(0.5, 0.8)
    else:  # hazy
        sun_rgb = _rgb(1.0, 0.95, 0.85) * rng.uniform(0.4, 0.6)
        ambient = _rgb(0.65, 0.68, 0.72) * j(0.08)
        zenith = _rgb(0.50, 0.60, 0.75)
        horizon = _rgb(0.82, 0.84, 0.86)
        cover = rng.uniform(0.0, 0.4)
        cloud = _rgb(0.92, 0.92, 0.92)
        haze_rgb, vis, haze = horizon.copy(), rng.uniform(120, 300), rng.uniform(0.8, 1.0)

    road = _pick(rng, 1, [(0.30, 0.30, 0.31), (0.36, 0.36, 0.36), (0.26, 0.27, 0.29), (0.42, 0.41, 0.40)], jitter=0.05)[
        0
    ]
    sidewalk = _pick(
        rng,
        1,
        [(0.62, 0.62, 0.60), (0.70, 0.68, 0.64), (0.62, 0.48, 0.44), (0.55, 0.56, 0.58), (0.72, 0.66, 0.54)],
        [0.35, 0.2, 0.15, 0.2, 0.1],
        jitter=0.05,
    )[0]
    curb = np.clip(sidewalk * 1.1 + 0.04, 0, 1).astype(np.float32)
    terrain = _pick(
        rng,
        1,
        [(0.32, 0.45, 0.18), (0.38, 0.48, 0.20), (0.48, 0.47, 0.28), (0.28, 0.40, 0.20)],
        [0.4, 0.3, 0.15, 0.15],
        jitter=0.05,
    )[0]
    paint = _rgb(0.88, 0.88, 0.86) * j(0.05)
    centre = _rgb(0.88, 0.72, 0.20) if layout.street.get("yellow_centre") else paint
    metal = _pick(rng, 1, [(0.50, 0.51, 0.52), (0.14, 0.16, 0.15), (0.30, 0.33, 0.30)], [0.6, 0.25, 0.15])[0]

    n_obj = len(layout.obj_class)
    main = np.full((n_obj, 3), 0.5, np.float32)
    second = np.full((n_obj, 3), 0.5, np.float32)
    third = np.full((n_obj, 3), 0.5, np.float32)
    fourth = np.full((n_obj, 3), 0.5, np.float32)
    style = np.zeros(n_obj, np.int32)
    params = rng.random((n_obj, 8), dtype=np.float32)
    cls = layout.obj_class
    for code in np.unique(cls).tolist():
        idx = np.flatnonzero(cls == code)
        n = idx.size
        if code == C.O_BUILDING:
            st = rng.choice(4, size=n, p=[0.5, 0.2, 0.18, 0.12])
            style[idx] = st
            cols = np.empty((n, 3), np.float32)
            for k, pal in enumerate((_FACADE_PLASTER, _FACADE_BRICK, _FACADE_CONCRETE, _FACADE_MODERN)):
                m = st == k
                if m.any():
                    cols[m] = _pick(rng, int(m.sum()), pal)
            main[idx] = cols
            second[idx] = _pick(
                rng, n, [(0.10, 0.12, 0.15), (0.16, 0.18, 0.20), (0.22, 0.26, 0.30), (0.12, 0.13, 0.12)], jitter=0.1
            )  # glass
            third[idx] = _pick(
                rng,
                n,
                [(0.25, 0.22, 0.20), (0.45, 0.42, 0.40), (0.20, 0.25, 0.32), (0.55, 0.20, 0.15), (0.85, 0.85, 0.82)],
            )  # shop fronts
            fourth[idx] = np.clip(cols * rng.uniform(0.8, 1.15, (n, 1)), 0, 1)  # trims
        elif code == C.O_CAR:
            main[idx] = _pick(rng, n, _CAR_PAINT, _CAR_WEIGHTS, jitter=0.05)
            big = layout.obj_attr[idx, 1] > 0
            if big.any():
                main[idx[big]] = _pick(
                    rng,
                    int(big.sum()),
                    [(0.85, 0.85, 0.82), (0.80, 0.70, 0.15), (0.65, 0.12, 0.10), (0.20, 0.40, 0.65)],
                )
        elif code in (C.O_PERSON, C.O_BICYCLE):
            main[idx] = _pick(rng, n, _TOPS, jitter=0.08)
            second[idx] = _pick(rng, n, _BOTTOMS, jitter=0.08)
            third[idx] = _pick(rng, n, _SKIN, jitter=0.04)
            fourth[idx] = _pick(rng, n, _HAIR, jitter=0.06)
            style[idx] = rng.integers(0, len(FRAME_COLOURS), n)  # bicycle frame colour
        elif code in (C.O_TREE, C.O_HEDGE):
            main[idx] = _pick(rng, n, _LEAVES, jitter=0.12, chroma=0.008) * (0.85 if code == C.O_HEDGE else 1.0)
            second[idx] = _pick(rng, n, [(0.30, 0.25, 0.20), (0.38, 0.34, 0.30), (0.25, 0.22, 0.20)])
        elif code == C.O_SIGN:
            shape = layout.obj_attr[idx, 0].astype(int)
            outer = np.where(shape[:, None] == 1, _rgb(0.80, 0.10, 0.10), _rgb(0.12, 0.28, 0.70))
            outer = np.where((shape[:, None] == 0) & (rng.random((n, 1)) < 0.6), _rgb(0.80, 0.10, 0.10), outer)
            outer = np.where(shape[:, None] == 3, _rgb(0.95, 0.95, 0.92), outer)
            outer = np.where(shape[:, None] == 4, _rgb(0.80, 0.08, 0.08), outer)
            inner = np.where(outer[:, :1] > 0.7, _rgb(0.95, 0.95, 0.92), _rgb(0.15, 0.32, 0.75))
            inner = np.where(shape[:, None] == 3, _rgb(0.95, 0.75, 0.10), inner)
            inner = np.where(shape[:, None] == 4, _rgb(0.80, 0.08, 0.08), inner)
            main[idx], second[idx] = outer, inner
        elif code == C.O_LIGHT:
            main[idx] = _pick(rng, n, [(0.08, 0.08, 0.08), (0.75, 0.62, 0.12), (0.25, 0.28, 0.25)], [0.6, 0.2, 0.2])
            style[idx] = rng.integers(0, 3, n)  # which lamp is lit
        elif code == C.O_WALL:
            main[idx] = _pick(rng, n, [(0.62, 0.60, 0.56), (0.58, 0.32, 0.24), (0.75, 0.72, 0.66)])
        elif code == C.O_FENCE:
            main[idx] = _pick(rng, n, [(0.20, 0.26, 0.22), (0.40, 0.40, 0.40), (0.50, 0.38, 0.26)])
        elif code == C.O_EGO:
            main[idx] = _pick(rng, n, [(0.04, 0.04, 0.045), (0.75, 0.76, 0.78), (0.20, 0.22, 0.25)], [0.7, 0.2, 0.1])
        elif code == C.O_POLE:
            main[idx] = metal
    return Appearance(
        weather=weather,
        sun=sun,
        sun_rgb=sun_rgb.astype(np.float32),
        ambient=ambient.astype(np.float32),
        sky_zenith=np.clip(zenith, 0, 1).astype(np.float32),
        sky_horizon=np.clip(horizon, 0, 1).astype(np.float32),
        cloud_cover=float(cover),
        cloud_rgb=cloud,
        haze_rgb=np.clip(haze_rgb, 0, 1).astype(np.float32),
        visibility=float(vis),
        haze=float(haze),
        road_rgb=road,
        sidewalk_rgb=sidewalk,
        curb_rgb=curb,
        terrain_rgb=terrain,
        paint_rgb=paint.astype(np.float32),
        centre_rgb=centre.astype(np.float32),
        metal_rgb=metal,
        slab=float(rng.choice([0.3, 0.4, 0.5, 0.6, 0.8])),
        slab_contrast=float(rng.uniform(0.1, 0.3)),
        lit_windows=float(rng.uniform(0.1, 0.35) if weather == "evening" else rng.uniform(0.0, 0.03)),
        exposure=float(rng.uniform(0.38, 0.5)),
        white_balance=np.exp(rng.normal(0, 0.035, 3)).astype(np.float32),
        vignette=float(rng.uniform(0.05, 0.3)),
        noise=float(rng.uniform(1.0, 4.0)),
        blur=float(rng.uniform(0.3, 0.7)),
        contrast=float(rng.uniform(0.95, 1.15)),
        main=main,
        second=second,
        third=third,
        fourth=fourth,
        style=style,
        params=params,
    )
