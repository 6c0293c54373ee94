"""Rasterising a built scene: project every part and fill it, far groups first, into a part map."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from . import classes as C
from .builder import SceneBuilder
from .geometry import NEAR, Camera, clip_near

__all__ = ["rasterise", "freeze"]


def rasterise(b: SceneBuilder, camera: Camera, height: int, width: int) -> dict[str, Any]:
    """Project and fill every part, far groups first, into an integer part map (row 0: sky)."""
    ordered = [p for g in sorted(b.groups, key=lambda g: (-g[0], g[1])) for p in g[2]]
    n = len(ordered)
    label = np.empty(n + 1, np.uint8)
    material = np.empty(n + 1, np.uint8)
    obj = np.empty(n + 1, np.int32)
    normal = np.empty((n + 1, 3), np.float32)
    aux = np.zeros((n + 1, 4), np.float32)
    offset = np.zeros(n + 1, np.float32)
    depth = np.ones(n + 1, np.float32)
    label[0], material[0], obj[0], normal[0], depth[0] = C.SKY, C.M_SKY, 0, (0, -1, 0), 1e5
    label[1:] = [p[1] for p in ordered]
    material[1:] = [p[2] for p in ordered]
    obj[1:] = [p[3] for p in ordered]
    normal[1:] = np.array([p[4] for p in ordered], dtype=np.float32)
    aux[1:] = np.array([p[5] for p in ordered], dtype=np.float32)
    is_world = [p[0].shape[1] == 3 for p in ordered]
    world_ids = np.flatnonzero(is_world) + 1
    counts = np.array([len(p[0]) for p in ordered if p[0].shape[1] == 3])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    allpts = np.concatenate([p[0] for p in ordered if p[0].shape[1] == 3], axis=0)
    cam = camera.to_camera(allpts)
    zmin = np.minimum.reduceat(cam[:, 2], starts)
    depth[world_ids] = np.maximum(np.add.reduceat(cam[:, 2], starts) / counts, NEAR)
    offset[world_ids] = np.einsum("ij,ij->i", normal[world_ids].astype(np.float64), allpts[starts])
    safe = cam.copy()
    safe[:, 2] = np.maximum(safe[:, 2], NEAR)
    scale = np.array([width, height], dtype=np.float64)
    flat = np.clip(camera.project_camera(safe) * scale - 0.5, -1e6, 1e6).ravel().tolist()

    img = Image.new("I", (width, height), 0)
    polygon = ImageDraw.Draw(img).polygon
    k = 0
    for i, part in enumerate(ordered, start=1):
        if is_world[i - 1]:
            s, e = int(starts[k]), int(starts[k] + counts[k])
            if zmin[k] >= NEAR:
                polygon(flat[2 * s : 2 * e], fill=i)
            else:
                clipped = clip_near(cam[s:e])
                if len(clipped) >= 3:
                    depth[i] = max(float(clipped[:, 2].mean()), NEAR)
                    polygon(np.clip(camera.project_camera(clipped) * scale - 0.5, -1e6, 1e6).ravel().tolist(), fill=i)
            k += 1
        else:  # already in normalised image coordinates
            polygon((part[0] * scale - 0.5).ravel().tolist(), fill=i)
    crowns = np.flatnonzero(material == C.M_CANOPY)
    if crowns.size:
        centre = aux[crowns, :3].astype(np.float64)
        zc = np.maximum(camera.to_camera(centre)[:, 2], NEAR)
        uv = camera.project_camera(np.concatenate([camera.to_camera(centre)[:, :2], zc[:, None]], axis=1))
        aux[crowns] = np.stack([uv[:, 0], uv[:, 1], camera.focal * aux[crowns, 3] / zc, np.zeros_like(zc)], axis=1)
    parts = np.asarray(img, dtype=np.int32)
    return {
        "parts": parts,
        "label": label,
        "material": material,
        "obj": obj,
        "normal": normal,
        "offset": offset,
        "depth": depth,
        "aux": aux,
    }


def freeze(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a
