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
from PIL import Image, ImageFilter

from . import classes as C
from .appearance import sample_appearance
from .layout import StreetLayout, check_seed, render_layout
from .materials import paint_facades, paint_glass, paint_ground, paint_sky, paint_vegetation
from .shading import Pixels, column, noise_rng, part_tables, shadow_masks
from .textures import noise_bank


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
    rng = noise_rng(texture_seed)
    bank = noise_bank(H, W)
    alb, light = part_tables(layout, app)
    parts = layout.parts.ravel().astype(np.intp)
    img = np.take(np.ascontiguousarray((alb * light).T), parts, axis=1)  # planar (3, N)
    pix = Pixels(np.take(layout.part_material, parts))
    depth = np.take(layout.part_depth, parts)

    sun_mask, ao = shadow_masks(layout, app, W, H)
    sky = pix(C.M_SKY)
    paint_sky(img, sky, layout.camera, app, bank, rng)
    depth[sky] = 0.0
    paint_ground(img, depth, pix, layout, app, bank, rng, sun_mask, ao)
    paint_facades(img, depth, pix(C.M_FACADE), pix(C.M_WALLFACE), layout, app, light, bank, rng)
    paint_vegetation(img, pix, layout, app, bank, rng)
    paint_glass(img, pix, app, bank, rng)

    # Haze and camera, fused: q = (img * (1 - f) + haze * f) * vignette * gains.
    f = app.haze * (1.0 - np.exp(depth * np.float32(-1.0 / app.visibility)))
    sub = img.reshape(3, H, W)[:, ::4, ::4]
    fs = f.reshape(H, W)[None, ::4, ::4]
    mean = float((sub * (1.0 - fs) + app.haze_rgb[:, None, None] * fs).mean()) + 1e-3
    gain = float(np.clip(app.exposure / mean, 0.55, 2.2))
    gains = column(gain * app.white_balance * (1023 / 2.0))
    vig = 1.0 - np.float32(app.vignette) * bank.radius2.ravel()
    q = img * ((1.0 - f) * vig)
    q += column(app.haze_rgb) * (f * vig)
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
