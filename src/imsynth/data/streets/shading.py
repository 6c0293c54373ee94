"""Shading helpers of the photo renderer: per-part colours (flat shading), pixel sets, cast-shadow masks."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image, ImageDraw, ImageFilter

from . import classes as C
from .appearance import FRAME_COLOURS, Appearance
from .geometry import NEAR, Camera, clip_near, convex_hull
from .layout import StreetLayout

EMISSIVE_LAMPS = np.array([(1.0, 0.18, 0.12), (1.0, 0.72, 0.15), (0.25, 1.0, 0.55)], dtype=np.float32)
WRAP_MATERIALS = (C.M_SKIN, C.M_TOP, C.M_BOTTOM, C.M_HAIR)


def get_rows(img: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The colours ``(3, n)`` of pixels ``idx`` of a planar ``(3, N)`` image (``np.take`` is fast)."""
    return np.take(img, idx, axis=1)


def put_rows(img: np.ndarray, idx: np.ndarray, val: np.ndarray) -> None:
    """Set the colours ``(3, n)`` of pixels ``idx`` of a planar ``(3, N)`` image."""
    for c in range(3):
        img[c][idx] = val[c]


def scale_rows(img: np.ndarray, idx: np.ndarray, factor: np.ndarray) -> None:
    """Multiply the colours of pixels ``idx`` by ``factor``, ``(n,)`` or ``(3, n)``."""
    rows = get_rows(img, idx)
    rows *= factor
    put_rows(img, idx, rows)


def column(v: ArrayLike) -> np.ndarray:
    """An RGB vector as a ``(3, 1)`` column, to broadcast over ``(3, n)`` colours."""
    return np.asarray(v, dtype=np.float32).reshape(3, 1)


def noise_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, 0x57EE7, 3]))


def part_tables(layout: StreetLayout, app: Appearance) -> tuple[np.ndarray, np.ndarray]:
    """Albedo and light of every part, ``(P, 3)`` float32 each."""
    m = layout.part_material
    o = layout.part_obj
    P = m.shape[0]
    alb = np.zeros((P, 3), np.float32)
    main, second, third, fourth = app.main[o], app.second[o], app.third[o], app.fourth[o]

    def put(mat: int, value: np.ndarray) -> None:
        sel = m == mat
        if sel.any():
            alb[sel] = value[sel] if value.ndim == 2 else value

    put(C.M_ROAD, app.road_rgb)
    put(C.M_PAINT, np.where(layout.part_aux[:, :1] > 0.5, app.centre_rgb, app.paint_rgb).astype(np.float32))
    put(C.M_SIDEWALK, app.sidewalk_rgb)
    put(C.M_CURB, app.curb_rgb)
    put(C.M_TERRAIN, app.terrain_rgb)
    for mat in (
        C.M_FACADE,
        C.M_WALLFACE,
        C.M_CANOPY,
        C.M_HEDGE,
        C.M_SIGN,
        C.M_TL_BOX,
        C.M_BODY,
        C.M_TOP,
        C.M_WALL,
        C.M_FENCE,
        C.M_EGO,
    ):
        put(mat, main)
    put(C.M_WALLFACE, main * 0.95)
    put(C.M_TRUNK, second)
    put(C.M_METAL, app.metal_rgb)
    put(C.M_SIGN_INNER, second)
    put(C.M_SIGN_BACK, np.array([0.55, 0.56, 0.57], np.float32))
    put(C.M_GLASS, np.array([0.09, 0.11, 0.13], np.float32))
    put(C.M_TYRE, np.array([0.05, 0.05, 0.05], np.float32))
    put(C.M_TAIL, np.array([0.62, 0.06, 0.05], np.float32))
    put(C.M_HEAD, np.array([0.88, 0.87, 0.82], np.float32))
    put(C.M_PLATE, np.array([0.86, 0.86, 0.82], np.float32))
    put(C.M_UNDER, np.array([0.03, 0.03, 0.03], np.float32))
    put(C.M_SKIN, third)
    put(C.M_BOTTOM, second)
    put(C.M_HAIR, fourth)
    put(C.M_FRAME, FRAME_COLOURS[np.clip(app.style[o], 0, len(FRAME_COLOURS) - 1)])
    put(C.M_SPOKES, app.sidewalk_rgb * 0.55)
    put(C.M_LUMINAIRE, np.array([0.72, 0.72, 0.70], np.float32))

    ndl = layout.part_normal @ app.sun
    lam = np.maximum(ndl, 0.0)
    wrap = np.isin(m, WRAP_MATERIALS)
    lam = np.where(wrap, np.maximum((ndl + 0.6) / 1.6, 0.0), lam)
    light = app.ambient[None, :] + app.sun_rgb[None, :] * lam[:, None]
    # Self-lit or per-pixel-lit materials.
    light[m == C.M_SKY] = 1.0
    light[m == C.M_CANOPY] = 1.0
    lamp = m == C.M_TL_LAMP
    if lamp.any():
        slot = layout.part_aux[:, 0].astype(np.int64)
        lit = lamp & (slot == app.style[o])
        alb[lamp] = 0.08
        alb[lit] = EMISSIVE_LAMPS[np.clip(slot[lit], 0, 2)]
        light[lit] = 1.0
    for mat in (C.M_TAIL, C.M_HEAD):
        sel = m == mat
        light[sel] = np.maximum(light[sel], 0.9 if app.weather == "evening" else 0.6)
    return alb, light.astype(np.float32)


class Pixels:
    """Pixel indices grouped by material (one counting sort of the material map)."""

    def __init__(self, mat_flat: np.ndarray) -> None:
        self.order = np.argsort(mat_flat, kind="stable")
        counts = np.bincount(mat_flat, minlength=C.NUM_MATERIALS)
        self.bounds = np.concatenate([[0], np.cumsum(counts)])

    def __call__(self, *mats: int) -> np.ndarray:
        pieces = [self.order[self.bounds[m] : self.bounds[m + 1]] for m in mats]
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def shadow_masks(layout: StreetLayout, app: Appearance, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Sun-shadow and contact-shadow masks in ``[0, 1]``, ``(H, W)`` float32.

    The masks are drawn at half (sun) and quarter (contact) resolution, slightly blurred and
    upsampled bilinearly, which softens their edges like a penumbra at little cost.
    """
    sun = app.sun.astype(np.float64)
    k = sun[[0, 2]] / max(sun[1], 0.05)
    small = Image.new("L", (max(1, width // 2), max(1, height // 2)), 0)
    if float(app.sun_rgb.max()) > 0.2 and layout.casters:
        pts = np.concatenate([c[1] for c in layout.casters])
        ground = pts[:, [0, 2]] - pts[:, 1:2] * k[None, :]
        bounds = np.cumsum([0] + [len(c[1]) for c in layout.casters])
        hulls = [convex_hull(ground[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        fill_ground_polys(small, layout.camera, [h for h in hulls if len(h) >= 3])
    small = small.filter(ImageFilter.BoxBlur(0.7))
    sun_mask = np.asarray(small.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    tiny = Image.new("L", (max(1, width // 4), max(1, height // 4)), 0)
    if layout.contacts:
        fill_ground_polys(tiny, layout.camera, [c[:, [0, 2]] for c in layout.contacts])
    ao = np.asarray(tiny.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    return sun_mask * np.float32(1.0 / 255), ao * np.float32(1.0 / 255)


def fill_ground_polys(img: Image.Image, cam: Camera, polys: list[np.ndarray]) -> None:
    """Fill ground polygons given as ``(K, 2)`` arrays of ``(X, Z)`` into an "L" image with 255."""
    if not polys:
        return
    draw = ImageDraw.Draw(img)
    scale = np.array(img.size, dtype=np.float64)
    xz = np.concatenate(polys)
    c = cam.to_camera(np.stack([xz[:, 0], np.zeros(len(xz)), xz[:, 1]], axis=1))
    bounds = np.cumsum([0] + [len(p) for p in polys])
    zmin = np.minimum.reduceat(c[:, 2], bounds[:-1])
    safe = c.copy()
    safe[:, 2] = np.maximum(safe[:, 2], NEAR)
    xy = np.clip(cam.project_camera(safe) * scale - 0.5, -1e6, 1e6)
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        if zmin[i] >= NEAR:
            poly = xy[a:b]
        else:
            cl = clip_near(c[a:b])
            if len(cl) < 3:
                continue
            poly = np.clip(cam.project_camera(cl) * scale - 0.5, -1e6, 1e6)
        draw.polygon(poly.ravel().tolist(), fill=255)
