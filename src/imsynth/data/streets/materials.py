"""Material painters of the photo renderer: sky, ground (asphalt, paving, grass), facades, vegetation, glass."""

from __future__ import annotations

import numpy as np

from . import classes as C
from .appearance import Appearance
from .geometry import NEAR, Camera
from .layout import StreetLayout
from .shading import Pixels, column, get_rows, put_rows, scale_rows
from .textures import NoiseBank, hash01


def paint_sky(
    img: np.ndarray, idx: np.ndarray, cam: Camera, app: Appearance, bank: NoiseBank, rng: np.random.Generator
) -> None:
    """Vertical gradient (by elevation angle), a glow around the sun and fBm clouds."""
    if idx.size == 0:
        return
    rows = idx // bank.width
    tan_e = (cam.horizon - bank.v) / cam.focal_v
    g = np.sqrt(np.clip(tan_e / 0.55, 0.0, 1.0))[None, :]
    row_col = (column(app.sky_horizon) + column(app.sky_zenith - app.sky_horizon) * g).astype(np.float32)
    col = np.take(row_col, rows, axis=1)
    dx, dy, dz = cam.rays(np.take(bank.u_flat, idx), np.take(bank.v_flat, idx))
    cosang = (dx * app.sun[0] + dy * app.sun[1] + dz * app.sun[2]) / np.sqrt(dx * dx + dy * dy + dz * dz)
    glow = np.maximum(cosang, 0.0) ** 12 * np.float32(0.45 * (1.0 - 0.7 * min(app.cloud_cover, 1.0)))
    col += column(app.sun_rgb) * glow
    cloud = np.take(bank.crop("cloud", rng).ravel(), idx)
    if app.cloud_cover >= 0.99:
        col *= 0.15
        col += column(app.cloud_rgb * 0.85) * (0.86 + 0.28 * cloud)
    elif app.cloud_cover > 0.0:
        thr = np.float32(1.0 - app.cloud_cover)
        dens = np.clip((cloud - thr) * np.float32(1 / 0.22), 0.0, 1.0)
        dens *= np.clip(np.take(tan_e, rows) * 25.0, 0.0, 1.0)  # thin out right above the horizon
        puff = column(app.cloud_rgb) * (0.82 + 0.3 * np.clip((cloud - thr) * 3, 0, 1))
        col += (puff - col) * (dens * 0.92)
    put_rows(img, idx, col)


def paint_ground(
    img: np.ndarray,
    depth: np.ndarray,
    pix: Pixels,
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
    shade = column(1.0 - app.ambient / (app.ambient + app.sun_rgb * sinE))
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
        rows = get_rows(img, idx)
        if tint is not None:
            rows += column((0.5, 0.25, -0.1)) * tint
        rows *= light
        put_rows(img, idx, rows)


def paint_facades(
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
        scale_rows(img, plain, 1.0 + 0.1 * (np.take(mid, plain) - 0.5) + 0.08 * (np.take(grain, plain) - 0.5))
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
    col += column(app.sky_horizon) * (0.12 * (1 - h1) * win * keep)
    col += np.take(shop_p, part, axis=1) * shop_in
    special = np.flatnonzero(fascia | ((win > 0.05) & (((h1 > 0.72) & (h1 < 0.82)) | (h1 < app.lit_windows))))
    if special.size:  # shop fascias, curtains, lit windows
        sp, w_s, k_s, h_s = part[special], win[special], keep[special], h1[special]
        fascia_p = np.ascontiguousarray((app.third[po] * light).T)
        wall = np.where(fascia[special], np.take(fascia_p, sp, axis=1), np.take(wall_p, sp, axis=1) * f[special])
        glass = np.where(h_s < app.lit_windows, column((1.0, 0.78, 0.45)), 0.55 * np.take(lightT, sp, axis=1))
        col[:, special] = (
            wall * ((1.0 - w_s) * k_s) + glass * (w_s * k_s) + np.take(shop_p, sp, axis=1) * shop_in[special]
        )
    put_rows(img, idx, col)


def paint_vegetation(
    img: np.ndarray, pix: Pixels, layout: StreetLayout, app: Appearance, bank: NoiseBank, rng: np.random.Generator
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
        light = column(app.ambient) * (0.75 + 0.5 * lf) + column(app.sun_rgb) * (0.85 * lam)
        light *= 0.55 + 0.9 * lf * lf
        scale_rows(img, idx, light)
    idx = pix(C.M_HEDGE)
    if idx.size:
        lf = np.take(leaf, idx)
        scale_rows(img, idx, 0.55 + 0.9 * lf * lf)
    idx = pix(C.M_TRUNK, C.M_WALL)
    if idx.size:
        scale_rows(img, idx, 0.9 + 0.2 * np.take(leaf, idx))
    idx = pix(C.M_FENCE)
    if idx.size:
        cols = idx % W
        bars = (cols * 7 // max(1, W // 128)) % 3 == 0
        scale_rows(img, idx, np.where(bars, 1.0, 0.55).astype(np.float32) * (0.9 + 0.2 * np.take(leaf, idx)))


def paint_glass(img: np.ndarray, pix: Pixels, app: Appearance, bank: NoiseBank, rng: np.random.Generator) -> None:
    """Sky reflections on car windows and the ego vehicle's bonnet."""
    idx = pix(C.M_GLASS, C.M_EGO)
    if idx.size:
        coarse = bank.crop("coarse", rng).ravel()
        refl = 0.10 * np.take(coarse, idx) + 0.025 * (1.0 - np.take(bank.v_flat, idx))
        rows = get_rows(img, idx)
        rows += column(app.sky_horizon) * refl
        put_rows(img, idx, rows)
