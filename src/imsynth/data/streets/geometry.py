"""Camera model and small polygon helpers for the street renderer.

World frame: ``X`` to the right, ``Y`` up, ``Z`` forward along the street, in metres, with the
road surface at ``Y = 0`` and the camera at ``(0, height, 0)``. The camera is a pinhole turned by
a small ``yaw`` about the vertical axis. Image coordinates are *normalised*: ``u`` runs from 0
(left edge) to 1 (right edge) in image widths, ``v`` from 0 (top) to 1 (bottom) in image heights,
so that every size of the same scene sees the same geometry. Pixels are square, hence the
vertical focal length in image heights is ``focal * aspect`` with ``aspect = width / height``.

A point in front of the camera projects to::

    u = 0.5 + focal * x_c / z_c            v = horizon - focal * aspect * y_c / z_c

where ``(x_c, y_c, z_c)`` are its camera coordinates. Polygons that reach behind the camera are
clipped against the plane ``z_c = NEAR`` before projection (Sutherland-Hodgman, one plane).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NEAR = 0.5
"""Near clipping distance in metres."""


@dataclass(frozen=True)
class Camera:
    """A level pinhole camera above the road (all lengths in metres, angles in radians)."""

    height: float
    """Height of the optical centre above the road."""
    focal: float
    """Horizontal focal length in image widths (0.9 is a field of view of about 58 degrees)."""
    horizon: float
    """Row of the horizon in image heights (the principal point is ``(0.5, horizon)``)."""
    yaw: float
    """Turn of the viewing direction to the right."""
    aspect: float
    """Image width divided by image height."""

    @property
    def focal_v(self) -> float:
        """Vertical focal length in image heights."""
        return self.focal * self.aspect

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points ``(N, 3)`` -> camera coordinates ``(N, 3)`` (x right, y up, z forward)."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        x, y, z = points[:, 0], points[:, 1], points[:, 2]
        return np.stack([c * x - s * z, y - self.height, s * x + c * z], axis=1)

    def project_camera(self, cam: np.ndarray) -> np.ndarray:
        """Camera coordinates ``(N, 3)`` with ``z > 0`` -> normalised image points ``(N, 2)``."""
        inv = 1.0 / cam[:, 2]
        return np.stack([0.5 + self.focal * cam[:, 0] * inv, self.horizon - self.focal_v * cam[:, 1] * inv], axis=1)

    def project(self, points: np.ndarray) -> np.ndarray:
        """World points in front of the camera -> normalised image points ``(N, 2)``."""
        return self.project_camera(self.to_camera(np.asarray(points, dtype=np.float64)))

    def rays(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World directions ``(dx, dy, dz)`` of the rays through normalised image points.

        The direction is scaled so that its component along the optical axis is 1.
        """
        xc = (u - 0.5) / self.focal
        yc = (self.horizon - v) / self.focal_v
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return xc * c + s, yc, c - xc * s


def clip_near(cam: np.ndarray, near: float = NEAR) -> np.ndarray:
    """Clip a polygon in camera coordinates ``(N, 3)`` to ``z >= near``; may return 0 points."""
    out = []
    n = len(cam)
    for i in range(n):
        a, b = cam[i], cam[(i + 1) % n]
        ina, inb = a[2] >= near, b[2] >= near
        if ina:
            out.append(a)
        if ina != inb:
            t = (near - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    return np.array(out, dtype=np.float64).reshape(-1, 3)


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Convex hull of 2-D points ``(N, 2)`` in counter-clockwise order (Andrew's monotone chain)."""
    order = np.lexsort((points[:, 1], points[:, 0]))
    pts = points[order].tolist()
    if len(pts) < 3:
        return np.asarray(pts, dtype=np.float64).reshape(-1, 2)

    def half(seq: list) -> list:
        chain: list = []
        for p in seq:
            while len(chain) >= 2:
                (ox, oy), (ax, ay) = chain[-2], chain[-1]
                if (ax - ox) * (p[1] - oy) - (ay - oy) * (p[0] - ox) <= 0:
                    chain.pop()
                else:
                    break
            chain.append(p)
        return chain

    lower, upper = half(pts), half(pts[::-1])
    return np.asarray(lower[:-1] + upper[:-1], dtype=np.float64)


def box_vertices(x0: float, x1: float, y0: float, y1: float, z0: float, z1: float) -> np.ndarray:
    """The 8 corners of an axis-aligned box, in the order :data:`BOX_FACES` expects."""
    return np.array(
        [
            [x0, y0, z0],
            [x1, y0, z0],
            [x1, y1, z0],
            [x0, y1, z0],
            [x0, y0, z1],
            [x1, y0, z1],
            [x1, y1, z1],
            [x0, y1, z1],
        ],
        dtype=np.float64,
    )


def frustum_vertices(
    x0: float, x1: float, y0: float, y1: float, z0: float, z1: float, inset_x: float, inset_z0: float, inset_z1: float
) -> np.ndarray:
    """A box whose top face is shrunk by ``inset_x`` on both sides and ``inset_z*`` at the ends."""
    v = box_vertices(x0, x1, y0, y1, z0, z1)
    v[[2, 3, 6, 7], 0] += np.array([-inset_x, inset_x, -inset_x, inset_x])
    v[[2, 3], 2] += inset_z0
    v[[6, 7], 2] -= inset_z1
    return v


BOX_FACES: tuple[tuple[int, ...], ...] = (
    (0, 3, 2, 1),  # near end, z = z0, faces -Z
    (4, 5, 6, 7),  # far end, z = z1, faces +Z
    (0, 4, 7, 3),  # left, x = x0, faces -X
    (1, 2, 6, 5),  # right, x = x1, faces +X
    (3, 7, 6, 2),  # top, faces +Y
    (0, 1, 5, 4),  # bottom, faces -Y
)
"""Faces of :func:`box_vertices` / :func:`frustum_vertices` (outward normal by the right-hand rule)."""


def face_normal(poly: np.ndarray) -> np.ndarray:
    """Unit normal of a planar 3-D polygon (Newell's method, right-hand rule)."""
    nxt = np.roll(poly, -1, axis=0)
    n = np.array(
        [
            np.sum((poly[:, 1] - nxt[:, 1]) * (poly[:, 2] + nxt[:, 2])),
            np.sum((poly[:, 2] - nxt[:, 2]) * (poly[:, 0] + nxt[:, 0])),
            np.sum((poly[:, 0] - nxt[:, 0]) * (poly[:, 1] + nxt[:, 1])),
        ]
    )
    return n / max(float(np.linalg.norm(n)), 1e-12)


def face_normals(polys: np.ndarray) -> np.ndarray:
    """Unit normals of a batch of planar polygons ``(F, K, 3)`` (Newell's method)."""
    nxt = np.roll(polys, -1, axis=1)
    a, b = polys, nxt
    n = np.stack(
        [
            np.sum((a[..., 1] - b[..., 1]) * (a[..., 2] + b[..., 2]), axis=1),
            np.sum((a[..., 2] - b[..., 2]) * (a[..., 0] + b[..., 0]), axis=1),
            np.sum((a[..., 0] - b[..., 0]) * (a[..., 1] + b[..., 1]), axis=1),
        ],
        axis=1,
    )
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def ellipse(
    cx: float, cy: float, rx: float, ry: float, n: int = 16, start: float = 0.0, stop: float = 2 * math.pi
) -> np.ndarray:
    """``n`` points of an ellipse (or an arc of it) in 2-D."""
    t = np.linspace(start, stop, n, endpoint=stop - start < 2 * math.pi - 1e-9)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)
