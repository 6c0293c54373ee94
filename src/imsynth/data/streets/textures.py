"""Procedural noise for the photo renderer: value noise tiles cached per image size.

*Value noise* is a grid of random values smoothly interpolated (here: a small random grid
resized with bicubic interpolation, which PIL does in C). Summing octaves of it at halving cell
sizes gives *fractal* (fBm) noise, used for clouds. The tiles are generated once per image size
from a fixed seed and are a little larger than the image, so a renderer gets a fresh-looking
field by cropping at a random offset -- no per-image noise synthesis is needed.

Cell sizes are fractions of the image width, so textures look the same at every resolution,
except ``fine`` (one value per pixel, sensor-like grain) and ``gauss`` (per-pixel colour noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

_BANK_SEED = 0x7E27


def value_noise(rng: np.random.Generator, height: int, width: int, cell_y: float, cell_x: float) -> np.ndarray:
    """Smooth noise in ``[0, 1]`` with features about ``cell`` pixels apart, ``(height, width)`` float32."""
    gh = max(2, int(np.ceil(height / max(cell_y, 1.0))) + 2)
    gw = max(2, int(np.ceil(width / max(cell_x, 1.0))) + 2)
    grid = rng.random((gh, gw), dtype=np.float32)
    if gh >= height and gw >= width:
        return grid[:height, :width].copy()
    big = Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC)
    out = np.asarray(big, dtype=np.float32)
    lo, hi = np.percentile(out[::7, ::7], [0.5, 99.5])
    return np.clip((out - lo) / max(hi - lo, 1e-6), 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True, eq=False)
class NoiseBank:
    """Noise tiles of one image size, ``pad`` pixels larger than the image on each axis."""

    height: int
    width: int
    pad_h: int
    pad_w: int
    fields: dict[str, np.ndarray]
    gauss: np.ndarray
    """Per-pixel colour noise ``(H + pad_h, W + pad_w, 3)``, int8 with a standard deviation of 32."""
    u: np.ndarray
    """Normalised column centres ``(W,)``."""
    v: np.ndarray
    """Normalised row centres ``(H,)``."""
    radius2: np.ndarray
    """Squared distance from the image centre, 1 at the corners ``(H, W)``, for vignetting."""
    u_flat: np.ndarray
    """``u`` of every pixel in row-major order ``(H * W,)``."""
    v_flat: np.ndarray
    """``v`` of every pixel in row-major order ``(H * W,)``."""

    def crop(self, name: str, rng: np.random.Generator) -> np.ndarray:
        """A ``(H, W)`` view of noise field ``name`` at a random offset."""
        oy, ox = int(rng.integers(0, self.pad_h + 1)), int(rng.integers(0, self.pad_w + 1))
        return self.fields[name][oy : oy + self.height, ox : ox + self.width]

    def crop_gauss(self, rng: np.random.Generator) -> np.ndarray:
        oy, ox = int(rng.integers(0, self.pad_h + 1)), int(rng.integers(0, self.pad_w + 1))
        return self.gauss[oy : oy + self.height, ox : ox + self.width]


@lru_cache(maxsize=4)
def noise_bank(height: int, width: int) -> NoiseBank:
    """The (cached, deterministic) noise tiles for images of ``height x width`` pixels."""
    rng = np.random.default_rng(np.random.SeedSequence([_BANK_SEED, height, width]))
    ph, pw = height // 4 + 1, width // 4 + 1
    hh, ww = height + ph, width + pw
    w = float(width)
    fields = {
        "fine": rng.random((hh, ww), dtype=np.float32),
        "grain": value_noise(rng, hh, ww, max(1.5, w / 340), max(1.5, w / 340)),
        "leaf": (
            0.45 * value_noise(rng, hh, ww, w / 400, w / 400)
            + 0.35 * value_noise(rng, hh, ww, w / 160, w / 160)
            + 0.2 * value_noise(rng, hh, ww, w / 60, w / 60)
        ),
        "mid": value_noise(rng, hh, ww, w / 45, w / 45),
        "coarse": value_noise(rng, hh, ww, w / 10, w / 10),
    }
    cloud = (
        0.5 * value_noise(rng, hh, ww, w / 14, w / 6)
        + 0.3 * value_noise(rng, hh, ww, w / 36, w / 16)
        + 0.2 * value_noise(rng, hh, ww, w / 90, w / 40)
    )
    fields["cloud"] = ((cloud - cloud.min()) / max(float(np.ptp(cloud)), 1e-6)).astype(np.float32)
    gauss = np.clip(rng.standard_normal((hh, ww, 3), dtype=np.float32) * 32.0, -127, 127).astype(np.int8)
    u = ((np.arange(width) + 0.5) / width).astype(np.float32)
    v = ((np.arange(height) + 0.5) / height).astype(np.float32)
    r2 = (u[None, :] - 0.5) ** 2 * 4 * (width / max(width, height)) ** 2 + (v[:, None] - 0.5) ** 2 * 4 * (
        height / max(width, height)
    ) ** 2
    r2 = (r2 / r2.max()).astype(np.float32)
    u_flat = np.tile(u, height)
    v_flat = np.repeat(v, width)
    for a in list(fields.values()) + [gauss, u, v, r2, u_flat, v_flat]:
        a.flags.writeable = False
    return NoiseBank(height, width, ph, pw, fields, gauss, u, v, r2, u_flat, v_flat)


_HASH_PRIMES = (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F)


def hash01(*keys: np.ndarray) -> np.ndarray:
    """A deterministic pseudo-random value in ``[0, 1)`` for integer(-valued) keys (vectorised).

    An integer mixing hash (multiply, xor-shift), exact on every platform.
    """
    acc = np.zeros(np.broadcast(*keys).shape, dtype=np.uint32)
    for k, m in zip(keys, _HASH_PRIMES, strict=False):
        acc ^= np.asarray(k).astype(np.int64).astype(np.uint32) * np.uint32(m)
        acc ^= acc >> np.uint32(15)
        acc *= np.uint32(0x2C1B3C6D)
    acc ^= acc >> np.uint32(12)
    acc *= np.uint32(0x297A2D39)
    acc ^= acc >> np.uint32(15)
    return (acc >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))
