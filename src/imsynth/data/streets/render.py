"""The photo renderer: paints a :class:`~imsynth.data.streets.layout.StreetLayout`.

Pipeline (all vectorised over pixels; nothing loops per pixel in Python):

1. **Flat shading.** Every part gets one colour, ``albedo * light``, with the Lambertian light of
   its face normal (facades towards the sun are brighter, the far sides of cars darker), and the
   part map is turned into an image by a single table look-up.
2. **Textures** by material, computed only on that material's pixels. Ground pixels are
   intersected with the road plane, giving metric ``(X, Z)`` coordinates for asphalt grain and
   tyre tracks, paving-slab joints and grass; facade pixels are intersected with their wall plane
   to get ``(s, y)`` in metres, on which floors and windows are laid out procedurally (window
   edges are box-filtered by the pixel footprint so distant facades do not alias). Tree crowns are
   shaded as spheres with leafy noise; the sky gets a gradient, a sun glow and fBm clouds.
3. **Cast shadows.** Each caster (a convex point set) is projected along the sun direction onto
   the ground; the convex hull of that shadow is projected into the image and drawn into a mask,
   which removes the sun term from ground pixels only (labels never change). Contact shadows
   darken the ground under vehicles whatever the weather.
4. **Atmosphere.** Haze blends every surface towards the horizon colour with distance.
5. **Camera.** Auto-exposure with a random target, white balance, vignetting, a tone curve, a
   slight optical blur and sensor noise.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from . import classes as C
from .appearance import FRAME_COLOURS, Appearance, sample_appearance
from .geometry import NEAR, Camera, clip_near, convex_hull
from .layout import StreetLayout, check_seed, render_layout
from .textures import NoiseBank, hash01, noise_bank

_EMISSIVE_LAMPS = np.array([(1.0, 0.18, 0.12), (1.0, 0.72, 0.15), (0.25, 1.0, 0.55)], dtype=np.float32)
_WRAP_MATERIALS = (C.M_SKIN, C.M_TOP, C.M_BOTTOM, C.M_HAIR)


def _rows(img: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The colours ``(3, n)`` of pixels ``idx`` of a planar ``(3, N)`` image (``np.take`` is fast)."""
    return np.take(img, idx, axis=1)


def _put_rows(img: np.ndarray, idx: np.ndarray, val: np.ndarray) -> None:
    """Set the colours ``(3, n)`` of pixels ``idx`` of a planar ``(3, N)`` image."""
    for c in range(3):
        img[c][idx] = val[c]


def _scale_rows(img: np.ndarray, idx: np.ndarray, factor: np.ndarray) -> None:
    """Multiply the colours of pixels ``idx`` by ``factor``, ``(n,)`` or ``(3, n)``."""
    rows = _rows(img, idx)
    rows *= factor
    _put_rows(img, idx, rows)


def _col(v: np.ndarray) -> np.ndarray:
    """An RGB vector as a ``(3, 1)`` column, to broadcast over ``(3, n)`` colours."""
    return np.asarray(v, dtype=np.float32).reshape(3, 1)


def _noise_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, 0x57EE7, 3]))


def _part_tables(layout: StreetLayout, app: Appearance) -> tuple[np.ndarray, np.ndarray]:
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
    wrap = np.isin(m, _WRAP_MATERIALS)
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
        alb[lit] = _EMISSIVE_LAMPS[np.clip(slot[lit], 0, 2)]
        light[lit] = 1.0
    for mat in (C.M_TAIL, C.M_HEAD):
        sel = m == mat
        light[sel] = np.maximum(light[sel], 0.9 if app.weather == "evening" else 0.6)
    return alb, light.astype(np.float32)


class _Pixels:
    """Pixel indices grouped by material (one counting sort of the material map)."""

    def __init__(self, mat_flat: np.ndarray) -> None:
        self.order = np.argsort(mat_flat, kind="stable")
        counts = np.bincount(mat_flat, minlength=C.NUM_MATERIALS)
        self.bounds = np.concatenate([[0], np.cumsum(counts)])

    def __call__(self, *mats: int) -> np.ndarray:
        pieces = [self.order[self.bounds[m] : self.bounds[m + 1]] for m in mats]
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def _shadow_masks(layout: StreetLayout, app: Appearance, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
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
        hulls = [convex_hull(ground[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        _fill_ground_polys(small, layout.camera, [h for h in hulls if len(h) >= 3])
    small = small.filter(ImageFilter.BoxBlur(0.7))
    sun_mask = np.asarray(small.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    tiny = Image.new("L", (max(1, width // 4), max(1, height // 4)), 0)
    if layout.contacts:
        _fill_ground_polys(tiny, layout.camera, [c[:, [0, 2]] for c in layout.contacts])
    ao = np.asarray(tiny.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    return sun_mask * np.float32(1.0 / 255), ao * np.float32(1.0 / 255)


def _fill_ground_polys(img: Image.Image, cam: Camera, polys: list[np.ndarray]) -> None:
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
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        if zmin[i] >= NEAR:
            poly = xy[a:b]
        else:
            cl = clip_near(c[a:b])
            if len(cl) < 3:
                continue
            poly = np.clip(cam.project_camera(cl) * scale - 0.5, -1e6, 1e6)
        draw.polygon(poly.ravel().tolist(), fill=255)


def _sky(
    img: np.ndarray, idx: np.ndarray, cam: Camera, app: Appearance, bank: NoiseBank, rng: np.random.Generator
) -> None:
    """Vertical gradient (by elevation angle), a glow around the sun and fBm clouds."""
    if idx.size == 0:
        return
    rows = idx // bank.width
    tan_e = (cam.horizon - bank.v) / cam.focal_v
    g = np.sqrt(np.clip(tan_e / 0.55, 0.0, 1.0))[None, :]
    row_col = (_col(app.sky_horizon) + _col(app.sky_zenith - app.sky_horizon) * g).astype(np.float32)
    col = np.take(row_col, rows, axis=1)
    dx, dy, dz = cam.rays(np.take(bank.u_flat, idx), np.take(bank.v_flat, idx))
    cosang = (dx * app.sun[0] + dy * app.sun[1] + dz * app.sun[2]) / np.sqrt(dx * dx + dy * dy + dz * dz)
    glow = np.maximum(cosang, 0.0) ** 12 * np.float32(0.45 * (1.0 - 0.7 * min(app.cloud_cover, 1.0)))
    col += _col(app.sun_rgb) * glow
    cloud = np.take(bank.crop("cloud", rng).ravel(), idx)
    if app.cloud_cover >= 0.99:
        col *= 0.15
        col += _col(app.cloud_rgb * 0.85) * (0.86 + 0.28 * cloud)
    elif app.cloud_cover > 0.0:
        thr = np.float32(1.0 - app.cloud_cover)
        dens = np.clip((cloud - thr) * np.float32(1 / 0.22), 0.0, 1.0)
        dens *= np.clip(np.take(tan_e, rows) * 25.0, 0.0, 1.0)  # thin out right above the horizon
        puff = _col(app.cloud_rgb) * (0.82 + 0.3 * np.clip((cloud - thr) * 3, 0, 1))
        col += (puff - col) * (dens * 0.92)
    _put_rows(img, idx, col)


def _ground(
    img: np.ndarray,
    depth: np.ndarray,
    pix: _Pixels,
    layout: StreetLayout,
    app: Appearance,
    bank: NoiseBank,
    rng: np.random.Generator,
    sun_mask: np.ndarray,
    ao: np.ndarray,
) -> None:
    """Asphalt, paint, paving slabs, curbs and grass, with cast and contact shadows."""
    cam = layout.camera
    W = bank.width
    lanes = layout.street.get("lanes", [])
    grain = bank.crop("grain", rng).ravel()
    mid = bank.crop("mid", rng).ravel()
    coarse = bank.crop("coarse", rng).ravel()
    fine = bank.crop("fine", rng).ravel()
    sun_flat, ao_flat = sun_mask.ravel(), ao.ravel()
    sinE = max(float(app.sun[1]), 0.0)
    shade = _col(1.0 - app.ambient / (app.ambient + app.sun_rgb * sinE))
    fp_base = np.float32(1.0 / (W * cam.focal))
    for mat in C.GROUND_MATERIALS:
        idx = pix(mat)
        if idx.size == 0:
            continue
        dx, dy, dz = cam.rays(np.take(bank.u_flat, idx), np.take(bank.v_flat, idx))
        t = np.minimum(np.float32(cam.height) / np.maximum(-dy, 1e-4), 3000.0)
        depth[idx] = t
        X, Z = t * dx, t * dz
        n = np.take(grain, idx) - 0.5
        f = np.take(fine, idx) - 0.5
        m = np.take(mid, idx) - 0.5
        tint = None
        if mat == C.M_ROAD:
            tex = 1.0 + 0.16 * n + 0.1 * m + 0.05 * f
            tex -= 0.08 * np.clip((np.take(coarse, idx) - 0.62) * 6, 0, 1)  # repaired patches
            band = np.zeros_like(X)
            for xl in lanes:
                for off in (-0.8, 0.8):
                    d = (X - np.float32(xl + off)) * np.float32(1.0 / 0.4)
                    np.maximum(band, 1.0 - d * d, out=band)
            tex -= 0.09 * band  # tyre tracks
        elif mat == C.M_SIDEWALK:
            s = np.float32(app.slab)
            fpx = t * fp_base + 1e-3
            fpz = fpx * t * np.float32(1.0 / cam.height)
            fx, fz = X / s, Z / s
            jx = np.clip(1.0 - np.abs(fx - np.round(fx)) * s / np.maximum(fpx, 0.012), 0, 1)
            jz = np.clip(1.0 - np.abs(fz - np.round(fz)) * s / np.maximum(fpz, 0.012), 0, 1)
            fade_x = np.clip(1.5 - 4.0 * fpx / s, 0, 1)
            fade_z = np.clip(1.5 - 4.0 * fpz / s, 0, 1)
            joint = np.maximum(jx * fade_x, jz * fade_z)
            slab_var = (hash01(np.floor(fx), np.floor(fz)) - 0.5) * np.minimum(fade_x, fade_z)
            c = np.float32(app.slab_contrast)
            tex = 1.0 + 0.12 * n + 0.08 * m + c * 0.35 * slab_var - c * joint
        elif mat == C.M_TERRAIN:
            tex = 0.72 + 0.5 * (m + 0.5) * (0.6 + 0.8 * (n + 0.5)) + 0.12 * f
            tint = (np.take(coarse, idx) - 0.5) * 0.25
        else:
            tex = 1.0 + 0.12 * n + 0.05 * f
        light = 1.0 - shade * np.take(sun_flat, idx)
        light *= tex * (1.0 - 0.5 * np.take(ao_flat, idx))
        rows = _rows(img, idx)
        if tint is not None:
            rows += _col((0.5, 0.25, -0.1)) * tint
        rows *= light
        _put_rows(img, idx, rows)


def _facades(
    img: np.ndarray,
    depth: np.ndarray,
    idx: np.ndarray,
    plain: np.ndarray,
    layout: StreetLayout,
    app: Appearance,
    light: np.ndarray,
    bank: NoiseBank,
    rng: np.random.Generator,
) -> None:
    """Walls with floors, windows, shop fronts, brick courses and cornices, in wall-plane metres."""
    cam = layout.camera
    W = bank.width
    mid = bank.crop("mid", rng).ravel()
    grain = bank.crop("grain", rng).ravel()
    coarse = bank.crop("coarse", rng).ravel()
    if plain.size:
        _scale_rows(img, plain, 1.0 + 0.1 * (np.take(mid, plain) - 0.5) + 0.08 * (np.take(grain, plain) - 0.5))
    if idx.size == 0:
        return
    # Per-part tables (tiny), gathered per pixel below.
    po = layout.part_obj
    pr = app.params[po]
    st = app.style[po]
    modern = st == 3
    t_fh = 2.9 + 0.8 * pr[:, 0]
    t_ws = 2.3 + 1.7 * pr[:, 1]
    t_wf = np.where(modern, 0.9, 0.32 + 0.3 * pr[:, 2]).astype(np.float32)
    t_hf = np.where(modern, 0.72, 0.42 + 0.25 * pr[:, 3]).astype(np.float32)
    t_gf = 3.3 + 1.2 * pr[:, 4]
    t_shop = pr[:, 5] < 0.55
    t_phase = pr[:, 6] * t_ws
    t_top = layout.obj_attr[po, 0]
    t_band = (pr[:, 7] < 0.5) & ~modern
    nrm = layout.part_normal
    t_num = layout.part_offset - nrm[:, 1] * np.float32(cam.height)
    t_isx = np.abs(nrm[:, 0]) > 0.5
    lightT = np.ascontiguousarray(light.T)
    wall_p = np.ascontiguousarray((app.main[po] * light).T)
    glass_p = np.ascontiguousarray((app.second[po] * light).T)
    shop_p = np.ascontiguousarray((app.second[po] * light * 0.9 + app.sky_horizon[None, :] * 0.1).T)

    part = np.take(layout.parts.ravel(), idx)
    dx, dy, dz = cam.rays(np.take(bank.u_flat, idx), np.take(bank.v_flat, idx))
    ndd = np.minimum(np.take(nrm[:, 0], part) * dx + np.take(nrm[:, 2], part) * dz, -1e-4)
    t = np.clip(np.take(t_num, part) / ndd, NEAR, 1e4)
    depth[idx] = t
    y = np.float32(cam.height) + t * dy
    s = np.where(np.take(t_isx, part), t * dz, t * dx)
    fp = t * np.float32(1.0 / (W * cam.focal))
    fp_s = fp * np.minimum(np.sqrt(dx * dx + dy * dy + dz * dz) / -ndd, 25.0)

    fh, ws, wf = np.take(t_fh, part), np.take(t_ws, part), np.take(t_wf, part)
    hf, gf, top = np.take(t_hf, part), np.take(t_gf, part), np.take(t_top, part)
    fx = (s - np.take(t_phase, part)) / ws
    ix = np.floor(fx)
    in_x = np.clip((wf * 0.5 - np.abs(fx - ix - 0.5)) * ws / fp_s + 0.5, 0.0, 1.0)
    mix_x = np.clip(fp_s / ws * 2.0 - 0.5, 0.0, 1.0)
    win_x = in_x + (wf - in_x) * mix_x
    fy = (y - gf) / fh
    iy = np.floor(fy)
    ry = fy - iy
    in_y = np.clip((hf * 0.5 - np.abs(ry - 0.55)) * fh / fp + 0.5, 0.0, 1.0)
    mix_y = np.clip(fp / fh * 2.0 - 0.5, 0.0, 1.0)
    win_y = in_y + (hf - in_y) * mix_y
    upper = (y > gf + 0.3) & (y < top - 1.0)
    win = win_x * win_y * upper
    # Shop fronts, or doors and small windows, on the ground floor.
    shop = np.take(t_shop, part)
    fs = fx * np.float32(1.0 / 1.5)
    shop_w = np.where(shop, 0.36, 0.18)
    shop_in = np.clip((shop_w - np.abs(fs - np.floor(fs) - 0.5)) * ws * 1.5 / fp_s + 0.5, 0, 1)
    shop_in *= (y > 0.45) & (y < np.where(shop, gf - 0.7, 2.4))
    fascia = shop & (y > gf - 0.65) & (y < gf - 0.1)

    # Wall shade: stains, brick, floor bands, cornice.
    f = 1.0 + 0.12 * (np.take(mid, idx) - 0.5) + 0.07 * (np.take(grain, idx) - 0.5)
    f -= 0.08 * np.clip((np.take(coarse, idx) - 0.6) * 4, 0, 1)
    bi = np.flatnonzero(np.take(st == 1, part) & (fp < 0.075))
    if bi.size:
        yb, sb = y[bi], s[bi]
        by = np.floor(yb * np.float32(1 / 0.075))
        bx = np.floor(sb * np.float32(1 / 0.24) + 0.5 * (by % 2))
        f[bi] += (1.5 - fp[bi] * 20.0) * np.float32(0.22) * (hash01(bx, by, np.take(po, part[bi])) - 0.5)
    f *= np.where(np.take(t_band, part) & (np.abs(ry - 0.02) < 0.025) & upper, 0.88, 1.0)
    f *= np.where(y > top - 0.55, 1.06, np.where(y > top - 0.75, 0.72, 1.0))
    # Glass: dark, with sky reflections; some curtains, some lit windows (at dusk).
    h1 = hash01(ix, iy, np.take(po, part))
    recess = 1.0 - 0.35 * win * np.clip((ry - 0.55 - hf * 0.3) * 8, 0, 1) * (1 - mix_y)
    keep = (1.0 - shop_in) * recess
    col = np.take(wall_p, part, axis=1) * (f * (1.0 - win) * keep)
    col += np.take(glass_p, part, axis=1) * ((0.75 + 0.6 * h1) * win * keep)
    col += _col(app.sky_horizon) * (0.12 * (1 - h1) * win * keep)
    col += np.take(shop_p, part, axis=1) * shop_in
    special = np.flatnonzero(fascia | ((win > 0.05) & (((h1 > 0.72) & (h1 < 0.82)) | (h1 < app.lit_windows))))
    if special.size:  # shop fascias, curtains, lit windows
        sp, w_s, k_s, h_s = part[special], win[special], keep[special], h1[special]
        fascia_p = np.ascontiguousarray((app.third[po] * light).T)
        wall = np.where(fascia[special], np.take(fascia_p, sp, axis=1), np.take(wall_p, sp, axis=1) * f[special])
        glass = np.where(h_s < app.lit_windows, _col((1.0, 0.78, 0.45)), 0.55 * np.take(lightT, sp, axis=1))
        col[:, special] = (
            wall * ((1.0 - w_s) * k_s) + glass * (w_s * k_s) + np.take(shop_p, sp, axis=1) * shop_in[special]
        )
    _put_rows(img, idx, col)


def _vegetation(
    img: np.ndarray, pix: _Pixels, layout: StreetLayout, app: Appearance, bank: NoiseBank, rng: np.random.Generator
) -> None:
    """Tree crowns shaded as leafy spheres; hedges, trunks, walls and fences get noise."""
    W, H = bank.width, bank.height
    leaf = bank.crop("leaf", rng).ravel()
    idx = pix(C.M_CANOPY)
    if idx.size:
        part = np.take(layout.parts.ravel(), idx)
        aux = np.take(layout.part_aux, part, axis=0)
        r = np.maximum(aux[:, 2], 1e-4)
        du = (np.take(bank.u_flat, idx) - aux[:, 0]) / r
        dv = (np.take(bank.v_flat, idx) - aux[:, 1]) * np.float32(H / W) / r
        nz = -np.sqrt(1.0 - np.minimum(du * du + dv * dv, 1.0))
        ndl = du * app.sun[0] - dv * app.sun[1] + nz * app.sun[2]
        lf = np.take(leaf, idx)
        lam = np.clip(ndl, 0.0, 1.0) * (0.45 + 0.75 * lf)
        light = _col(app.ambient) * (0.75 + 0.5 * lf) + _col(app.sun_rgb) * (0.85 * lam)
        light *= 0.55 + 0.9 * lf * lf
        _scale_rows(img, idx, light)
    idx = pix(C.M_HEDGE)
    if idx.size:
        lf = np.take(leaf, idx)
        _scale_rows(img, idx, 0.55 + 0.9 * lf * lf)
    idx = pix(C.M_TRUNK, C.M_WALL)
    if idx.size:
        _scale_rows(img, idx, 0.9 + 0.2 * np.take(leaf, idx))
    idx = pix(C.M_FENCE)
    if idx.size:
        cols = idx % W
        bars = (cols * 7 // max(1, W // 128)) % 3 == 0
        _scale_rows(img, idx, np.where(bars, 1.0, 0.55).astype(np.float32) * (0.9 + 0.2 * np.take(leaf, idx)))


def _glass(img: np.ndarray, pix: _Pixels, app: Appearance, bank: NoiseBank, rng: np.random.Generator) -> None:
    """Sky reflections on car windows and the ego vehicle's bonnet."""
    idx = pix(C.M_GLASS, C.M_EGO)
    if idx.size:
        coarse = bank.crop("coarse", rng).ravel()
        refl = 0.10 * np.take(coarse, idx) + 0.025 * (1.0 - np.take(bank.v_flat, idx))
        rows = _rows(img, idx)
        rows += _col(app.sky_horizon) * refl
        _put_rows(img, idx, rows)


def _tone_lut(contrast: float) -> np.ndarray:
    """Tone curve: linear toe, soft shoulder, a little S-shaped contrast; 1024 entries over 0..2."""
    x = np.linspace(0.0, 2.0, 1024, dtype=np.float64)
    y = np.where(x < 0.75, x, 0.75 + 0.25 * (1 - np.exp(-(x - 0.75) / 0.25)))
    y = 0.5 + (y - 0.5) * contrast
    y = np.clip(y, 0.0, 1.0) ** 0.97
    return np.round(y * 255).astype(np.uint8)


def render_photo(layout: StreetLayout, appearance_seed: int, texture_seed: int | None = None) -> np.ndarray:
    """Render the photo of ``layout`` under the appearance of ``appearance_seed``; ``HxWx3`` uint8.

    ``texture_seed`` (default: the appearance seed) only places the noise fields (asphalt grain,
    leaves, clouds, sensor noise): two texture seeds give the same scene under the same light and
    camera with textures of other phases -- what no model can predict from a layout.
    """
    appearance_seed = check_seed(appearance_seed, "appearance_seed")
    texture_seed = appearance_seed if texture_seed is None else check_seed(texture_seed, "texture_seed")
    if not isinstance(layout, StreetLayout):
        raise TypeError(f"render_photo needs a StreetLayout (from render_layout), got {type(layout).__name__}")
    H, W = layout.ids.shape
    app = sample_appearance(layout, appearance_seed)
    rng = _noise_rng(texture_seed)
    bank = noise_bank(H, W)
    alb, light = _part_tables(layout, app)
    parts = layout.parts.ravel().astype(np.intp)
    img = np.take(np.ascontiguousarray((alb * light).T), parts, axis=1)  # planar (3, N)
    pix = _Pixels(np.take(layout.part_material, parts))
    depth = np.take(layout.part_depth, parts)

    sun_mask, ao = _shadow_masks(layout, app, W, H)
    sky = pix(C.M_SKY)
    _sky(img, sky, layout.camera, app, bank, rng)
    depth[sky] = 0.0
    _ground(img, depth, pix, layout, app, bank, rng, sun_mask, ao)
    _facades(img, depth, pix(C.M_FACADE), pix(C.M_WALLFACE), layout, app, light, bank, rng)
    _vegetation(img, pix, layout, app, bank, rng)
    _glass(img, pix, app, bank, rng)

    # Haze and camera, fused: q = (img * (1 - f) + haze * f) * vignette * gains.
    f = app.haze * (1.0 - np.exp(depth * np.float32(-1.0 / app.visibility)))
    sub = img.reshape(3, H, W)[:, ::4, ::4]
    fs = f.reshape(H, W)[None, ::4, ::4]
    mean = float((sub * (1.0 - fs) + app.haze_rgb[:, None, None] * fs).mean()) + 1e-3
    gain = float(np.clip(app.exposure / mean, 0.55, 2.2))
    gains = _col(gain * app.white_balance * (1023 / 2.0))
    vig = 1.0 - np.float32(app.vignette) * bank.radius2.ravel()
    q = img * ((1.0 - f) * vig)
    q += _col(app.haze_rgb) * (f * vig)
    q *= gains
    np.clip(q, 0, 1023, out=q)
    planes = np.take(_tone_lut(app.contrast), q.astype(np.intp))
    out = np.empty((H * W, 3), np.uint8)
    for c in range(3):
        out[:, c] = planes[c]
    out = out.reshape(H, W, 3)
    radius = app.blur * math.sqrt(W / 512)
    if radius > 1.0:
        out16 = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(radius * 0.7))).astype(np.int16)
    elif radius > 0.45:
        out16 = _blur121(out)
    else:
        out16 = out.astype(np.int16)
    noise = bank.crop_gauss(rng).astype(np.int16)
    scale = max(1, int(round(app.noise * 8)))
    out16 += (noise * scale) >> 8
    return np.clip(out16, 0, 255).astype(np.uint8)


def _blur121(a: np.ndarray) -> np.ndarray:
    """Separable [1, 2, 1] / 4 blur of an ``HxWx3`` uint8 image (edges replicated), as int16."""
    b = a.astype(np.int16)
    h = b * 2
    h[:, 1:] += b[:, :-1]
    h[:, :-1] += b[:, 1:]
    h[:, 0] += b[:, 0]
    h[:, -1] += b[:, -1]
    v = h * 2
    v[1:] += h[:-1]
    v[:-1] += h[1:]
    v[0] += h[0]
    v[-1] += h[-1]
    v += 8
    v >>= 4
    return v


def default_appearance_seed(seed: int) -> int:
    """The appearance seed :func:`render_scene` uses when none is given: the layout seed itself
    (the two random streams are independent, see ``layout_rng`` and ``appearance_rng``)."""
    return check_seed(seed)


def render_scene(
    seed: int, height: int, width: int, appearance_seed: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Render one scene: ``(ids, photo)``, a ``HxW`` uint8 labelId map and its ``HxWx3`` uint8 photo."""
    layout = render_layout(seed, height, width)
    a_seed = default_appearance_seed(seed) if appearance_seed is None else appearance_seed
    photo = render_photo(layout, a_seed)
    return np.array(layout.ids), photo
