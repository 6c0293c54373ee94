"""The scene builder: flat 3-D polygons ("parts") collected in draw groups, with objects and shadow casters.

Parts are the visible faces of boxes (buildings, vehicles, poles), billboards facing the camera
(people, tree crowns, signs) and polygons on the ground, each with a labelId, a material and an
owning object; :func:`~imsynth.data.streets.rasterise.rasterise` draws them far group first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import classes as C
from .geometry import BOX_FACES, box_vertices, face_normals

__all__ = [
    "SceneBuilder",
    "BOX_NORMALS",
    "BOX_FACE_INDEX",
    "NO_AUX",
    "UP",
    "TOWARD",
    "BILL_A",
    "BILL_B",
    "rect",
    "segment",
]

NO_AUX = (0.0, 0.0, 0.0, 0.0)
BOX_FACE_INDEX = np.array(BOX_FACES)
BOX_NORMALS = np.array([[0, 0, -1], [0, 0, 1], [-1, 0, 0], [1, 0, 0], [0, 1, 0], [0, -1, 0]], dtype=np.float64)
UP = np.array([0.0, 1.0, 0.0])
TOWARD = np.array([0.0, 0.0, -1.0])  # normal of a billboard facing the camera


class SceneBuilder:
    """Collects parts (flat 3-D polygons) in draw groups, plus objects and shadow casters."""

    def __init__(self, cam_height: float) -> None:
        self.eye = np.array([0.0, cam_height, 0.0])
        self.groups: list[tuple[float, int, list]] = []
        self.cur: list = []
        self.obj_class: list[int] = [C.O_NONE]
        self.obj_attr: list[tuple[float, float, float, float]] = [(0.0, 0.0, 0.0, 0.0)]
        self.casters: list[tuple[int, np.ndarray]] = []
        self.contacts: list[np.ndarray] = []

    def obj(self, cls: int, *attr: float) -> int:
        a = tuple(float(x) for x in attr) + (0.0,) * (4 - len(attr))
        self.obj_class.append(cls)
        self.obj_attr.append(a[:4])  # type: ignore[arg-type]
        return len(self.obj_class) - 1

    def group(self, key: float) -> None:
        self.cur = []
        self.groups.append((float(key), len(self.groups), self.cur))

    def poly(
        self,
        pts: np.ndarray,
        label: int,
        mat: int,
        obj: int = 0,
        normal: np.ndarray | None = None,
        aux: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
    ) -> None:
        """Add a flat 3-D polygon (or a 2-D polygon already in normalised image coordinates)."""
        self.cur.append((pts, label, mat, obj, UP if normal is None else normal, aux))

    def visible(self, point: np.ndarray, normal: np.ndarray) -> bool:
        return float(np.dot(normal, self.eye - point)) > 1e-9

    def solid(
        self,
        verts: np.ndarray,
        label: int,
        mats: int | Sequence[int],
        obj: int,
        normals: np.ndarray | None = None,
        faces: Sequence[Sequence[int]] = BOX_FACES,
    ) -> list[int]:
        """Add the camera-facing faces of a convex solid; return the indices of those faces."""
        polys = verts[BOX_FACE_INDEX] if faces is BOX_FACES else np.array([verts[list(f)] for f in faces])
        if normals is None:
            normals = face_normals(polys)
        first = polys[:, 0]
        vis = np.einsum("ij,ij->i", normals, self.eye[None, :] - first) > 1e-9
        shown = []
        for k in np.flatnonzero(vis).tolist():
            mat = mats if isinstance(mats, int) else mats[k]
            if mat >= 0:
                self.cur.append((polys[k], label, mat, obj, normals[k], NO_AUX))
            shown.append(k)
        return shown

    def box(
        self,
        x0: float,
        x1: float,
        y0: float,
        y1: float,
        z0: float,
        z1: float,
        label: int,
        mats: int | Sequence[int],
        obj: int,
        caster: bool = False,
    ) -> list[int]:
        v = box_vertices(min(x0, x1), max(x0, x1), y0, y1, min(z0, z1), max(z0, z1))
        if caster:
            self.casters.append((obj, v))
        return self.solid(v, label, mats, obj, BOX_NORMALS)

    def planar(
        self,
        shape: np.ndarray,
        origin: Sequence[float],
        ax_a: Sequence[float],
        ax_b: Sequence[float],
        label: int,
        mat: int,
        obj: int,
        normal: np.ndarray = TOWARD,
        aux: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
    ) -> None:
        """Add a 2-D shape laid into the plane ``origin + a * ax_a + b * ax_b``."""
        pts = (
            np.asarray(origin, dtype=np.float64)[None, :]
            + shape[:, :1] * np.asarray(ax_a)[None, :]
            + shape[:, 1:2] * np.asarray(ax_b)[None, :]
        )
        self.poly(pts, label, mat, obj, normal, aux)

    def ground(
        self,
        x0: float,
        x1: float,
        z0: float,
        z1: float,
        y: float,
        label: int,
        mat: int,
        obj: int = 0,
        aux: Sequence[float] = NO_AUX,
    ) -> None:
        self.poly(
            np.array([[x0, y, z0], [x1, y, z0], [x1, y, z1], [x0, y, z1]], dtype=np.float64), label, mat, obj, UP, aux
        )


BILL_A = (1.0, 0.0, 0.0)
BILL_B = (0.0, 1.0, 0.0)


def rect(a0: float, a1: float, b0: float, b1: float) -> np.ndarray:
    return np.array([[a0, b0], [a1, b0], [a1, b1], [a0, b1]], dtype=np.float64)


def segment(p: Sequence[float], q: Sequence[float], w: float) -> np.ndarray:
    """A quad of width ``w`` around the 2-D segment ``p``-``q`` (a limb, a bicycle tube)."""
    start, end = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    d = end - start
    n = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-9) * (w / 2)
    return np.stack([start + n, end + n, end - n, start - n])
