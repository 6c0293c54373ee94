"""Street layouts: a 3-D street sampled from a seed and rasterised into Cityscapes labelIds.

The rendering model
-------------------
A layout seed decides a straight street seen by a level pinhole camera (see
:mod:`~imsynth.data.streets.geometry`): lanes, sidewalks with curbs, grass verges, buildings on
both sides with gaps (side streets, parks, walled lots), a cross street with a row of buildings
closing the view, and the things in the street -- parked and moving vehicles, pedestrians,
cyclists, trees, hedges, street lamps, signs and traffic lights.

Everything is built from flat 3-D polygons in metres ("parts"): the visible faces of boxes
(buildings, vehicles, poles), billboards facing the camera (people, tree crowns, signs) and
polygons on the ground. Each part has a labelId, a material and an owning object. Parts are
grouped per object and drawn with the painter's algorithm, farthest group first, into an
integer *part map* with PIL's polygon filler; the label map is the labelId of the part at each
pixel, so it is crisp by construction. Only the projection depends on the image size, therefore
one seed gives the same scene at every resolution.

The photo renderer (:mod:`~imsynth.data.streets.render`) paints the same part map, so the layout
keeps the part table, the camera and the convex shadow casters of every object; nothing in it
depends on the sun or on colours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw

from . import classes as C
from .geometry import (
    BOX_FACES,
    NEAR,
    Camera,
    box_vertices,
    clip_near,
    ellipse,
    face_normals,
    frustum_vertices,
)

MIN_HEIGHT = 16
MIN_WIDTH = 32
MAX_SIDE = 8192

_NO_AUX = (0.0, 0.0, 0.0, 0.0)
_BOX_FACE_IDX = np.array(BOX_FACES)
_BOX_NORMALS = np.array([[0, 0, -1], [0, 0, 1], [-1, 0, 0], [1, 0, 0], [0, 1, 0], [0, -1, 0]], dtype=np.float64)
_UP = np.array([0.0, 1.0, 0.0])
_TOWARD = np.array([0.0, 0.0, -1.0])  # normal of a billboard facing the camera


@dataclass(frozen=True, eq=False)
class StreetLayout:
    """The geometry of one street scene at one image size (no colours, no sun).

    ``ids`` is the label map. ``parts`` indexes the part table (``part_*`` arrays, row 0 is the
    sky); objects are indexed by ``part_obj`` into ``obj_class``/``obj_attr``. ``casters`` are the
    convex point sets ``(object, points (N, 3))`` that throw shadows, ``contacts`` the ground
    footprints darkened under vehicles whatever the weather.
    """

    ids: np.ndarray
    parts: np.ndarray
    part_label: np.ndarray
    part_material: np.ndarray
    part_obj: np.ndarray
    part_normal: np.ndarray
    part_offset: np.ndarray
    part_depth: np.ndarray
    part_aux: np.ndarray
    obj_class: np.ndarray
    obj_attr: np.ndarray
    casters: tuple[tuple[int, np.ndarray], ...]
    contacts: tuple[np.ndarray, ...]
    camera: Camera
    street: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    @property
    def height(self) -> int:
        return int(self.ids.shape[0])

    @property
    def width(self) -> int:
        return int(self.ids.shape[1])

    @property
    def num_parts(self) -> int:
        return int(self.part_label.shape[0])


def check_size(height: int, width: int) -> tuple[int, int]:
    """Validate an image size; return it as plain ints."""
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"street scene {name} must be an integer number of pixels, got {value!r}")
    height, width = int(height), int(width)
    if height < MIN_HEIGHT or width < MIN_WIDTH:
        raise ValueError(
            f"street scene size {height}x{width} (height x width) is too small: the renderer needs "
            f"height >= {MIN_HEIGHT} and width >= {MIN_WIDTH}; render larger and downsample if you "
            f"need tiny images"
        )
    if height > MAX_SIDE or width > MAX_SIDE:
        raise ValueError(f"street scene size {height}x{width} is too large: each side must be <= {MAX_SIDE}")
    return height, width


def check_seed(seed: int, what: str = "seed") -> int:
    """Validate a seed (a non-negative integer); return it as a plain int."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"{what} must be a non-negative integer, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {seed}")
    return int(seed)


# ----------------------------------------------------------------------------------------------
# Scene builder: collects parts per object group, in world coordinates.
# ----------------------------------------------------------------------------------------------


class _Builder:
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
        self.cur.append((pts, label, mat, obj, _UP if normal is None else normal, aux))

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
        polys = verts[_BOX_FACE_IDX] if faces is BOX_FACES else np.array([verts[list(f)] for f in faces])
        if normals is None:
            normals = face_normals(polys)
        first = polys[:, 0]
        vis = np.einsum("ij,ij->i", normals, self.eye[None, :] - first) > 1e-9
        shown = []
        for k in np.flatnonzero(vis).tolist():
            mat = mats if isinstance(mats, int) else mats[k]
            if mat >= 0:
                self.cur.append((polys[k], label, mat, obj, normals[k], _NO_AUX))
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
        return self.solid(v, label, mats, obj, _BOX_NORMALS)

    def planar(
        self,
        shape: np.ndarray,
        origin: Sequence[float],
        ax_a: Sequence[float],
        ax_b: Sequence[float],
        label: int,
        mat: int,
        obj: int,
        normal: np.ndarray = _TOWARD,
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
        aux: Sequence[float] = _NO_AUX,
    ) -> None:
        self.poly(
            np.array([[x0, y, z0], [x1, y, z0], [x1, y, z1], [x0, y, z1]], dtype=np.float64), label, mat, obj, _UP, aux
        )


_BILL_A = (1.0, 0.0, 0.0)
_BILL_B = (0.0, 1.0, 0.0)


def _rect(a0: float, a1: float, b0: float, b1: float) -> np.ndarray:
    return np.array([[a0, b0], [a1, b0], [a1, b1], [a0, b1]], dtype=np.float64)


def _segment(p: Sequence[float], q: Sequence[float], w: float) -> np.ndarray:
    """A quad of width ``w`` around the 2-D segment ``p``-``q`` (a limb, a bicycle tube)."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    d = q - p
    n = np.array([-d[1], d[0]]) / max(float(np.hypot(*d)), 1e-9) * (w / 2)
    return np.stack([p + n, q + n, q - n, p - n])


# ----------------------------------------------------------------------------------------------
# Objects
# ----------------------------------------------------------------------------------------------

_LOD_NEAR = 35.0
_LOD_FAR = 80.0
_CIRCLE12 = ellipse(0.0, 0.0, 1.0, 1.0, 12)

_VEHICLES = {
    # name: (label, length, width, height, top of the body below the cabin (cars only))
    "sedan": (C.CAR, 4.6, 1.80, 1.45, 0.95),
    "hatch": (C.CAR, 4.0, 1.75, 1.50, 0.95),
    "suv": (C.CAR, 4.7, 1.90, 1.75, 1.10),
    "van": (C.CAR, 5.0, 1.95, 2.00, 1.05),
    "bus": (C.BUS, 12.0, 2.55, 3.10, 0.0),
    "truck": (C.TRUCK, 8.0, 2.50, 3.40, 0.0),
}


def _vehicle(
    b: _Builder, rng: np.random.Generator, kind: str, x: float, z_near: float, heading: int
) -> tuple[float, float]:
    """A vehicle whose nearest end is at ``z_near``; heading 0: +Z, 1: -Z, 2: +X, 3: -X.

    Returns the extent of the vehicle along Z.
    """
    label, L, W, Hh, top = _VEHICLES[kind]
    L *= rng.uniform(0.95, 1.05)
    W *= rng.uniform(0.97, 1.03)
    Hh *= rng.uniform(0.96, 1.04)
    # Local frame: x across (right of the driver), y up, z along the heading from the rear.
    hdg = [(0.0, 1.0), (0.0, -1.0), (1.0, 0.0), (-1.0, 0.0)][heading]
    fwd = np.array([hdg[0], 0.0, hdg[1]])
    right = np.array([hdg[1], 0.0, -hdg[0]])
    if heading == 0:
        origin = np.array([x, 0.0, z_near])
        zext = (z_near, z_near + L)
    elif heading == 1:
        origin = np.array([x, 0.0, z_near + L])
        zext = (z_near, z_near + L)
    else:
        origin = np.array([x - fwd[0] * L / 2, 0.0, z_near + W / 2])
        zext = (z_near, z_near + W)
    R = np.stack([right, _UP, fwd], axis=1)  # local (x, y, z) -> world

    def world(v: np.ndarray) -> np.ndarray:
        return origin[None, :] + v @ R.T

    normals = _BOX_NORMALS @ R.T
    obj = b.obj(C.O_CAR, float(heading), {"bus": 1.0, "truck": 2.0}.get(kind, 0.0), L, Hh)
    b.group(zext[0])
    full = world(box_vertices(-W / 2, W / 2, 0.0, Hh, 0.0, L))
    b.casters.append((obj, full))
    foot = world(
        np.array(
            [[-W / 2 - 0.25, 0, -0.3], [W / 2 + 0.25, 0, -0.3], [W / 2 + 0.25, 0, L + 0.3], [-W / 2 - 0.25, 0, L + 0.3]]
        )
    )
    b.contacts.append(foot)
    # Level of detail by distance (in metres, so every image size gets the same label map):
    # 0: wheels, underbody, lights and plate; 1: lights; 2: body and cabin only.
    lod = 0 if zext[0] < _LOD_NEAR else (1 if zext[0] < _LOD_FAR else 2)
    clear = (0.22 if label == C.CAR else 0.35) if lod == 0 else 0.0
    if lod == 0:  # dark underbody: the wheels seen below the bumpers
        b.solid(
            world(box_vertices(-W / 2 + 0.06, W / 2 - 0.06, 0.0, clear + 0.05, 0.25, L - 0.25)),
            label,
            [C.M_UNDER] * 4 + [-1, -1],
            obj,
            normals,
        )
    wheel_r = 0.33 if label == C.CAR else 0.5
    axles = (0.85, L - 0.9) if label == C.CAR else (1.6, L - 2.2)
    if label == C.TRUCK:
        cab_l = 2.3
        cargo = world(box_vertices(-W / 2, W / 2, clear, Hh, 0.0, L - cab_l - 0.2))
        cab = world(box_vertices(-W / 2 + 0.05, W / 2 - 0.05, clear, Hh * 0.85, L - cab_l, L))
        bodies = [(cargo, False), (cab, True)]
    else:
        bodies = [(world(box_vertices(-W / 2, W / 2, clear, top if label == C.CAR else Hh, 0.0, L)), label != C.CAR)]
    for verts, glassy in bodies:
        shown = b.solid(verts, label, C.M_BODY, obj, normals)
        if glassy and lod < 2:
            _big_windows(b, verts, shown, label, obj, normals, is_bus=label == C.BUS)
    if label == C.CAR:
        rear_off, front_off = {"sedan": (0.75, 1.55), "hatch": (0.25, 1.45), "suv": (0.3, 1.4), "van": (0.15, 1.2)}[
            kind
        ]
        cab = world(
            frustum_vertices(
                -W / 2 + 0.06,
                W / 2 - 0.06,
                top,
                Hh,
                rear_off,
                L - front_off,
                0.13,
                0.35 if kind == "sedan" else 0.15,
                0.55,
            )
        )
        cab_normals = face_normals(cab[_BOX_FACE_IDX])
        shown = b.solid(cab, label, C.M_BODY, obj, cab_normals)
        for k in shown:
            if k < 4 and lod < 2:  # the window faces (not the roof)
                poly = cab[list(BOX_FACES[k])]
                c = poly.mean(axis=0)
                inset = (
                    c + (poly - c) * np.array([0.86, 0.8, 0.86])
                    if k >= 2
                    else c + (poly - c) * np.array([0.84, 0.8, 0.84])
                )
                inset[:, 1] += 0.02
                b.poly(inset, label, C.M_GLASS, obj, cab_normals[k])
    if lod == 2:
        return zext
    # Wheels on a visible long side.
    for side in (-1.0, 1.0) if lod == 0 else ():
        n = right * side
        if b.visible(origin + right * side * W / 2 + fwd * L / 2, n):
            for az in axles:
                pts = world(
                    np.stack(
                        [
                            np.full(12, side * (W / 2 + 0.01)),
                            wheel_r + wheel_r * _CIRCLE12[:, 1],
                            az + wheel_r * _CIRCLE12[:, 0],
                        ],
                        axis=1,
                    )
                )
                b.poly(pts, label, C.M_TYRE, obj, n)
    # Lights and number plate on a visible end.
    y_l0, y_l1 = (top - 0.25, top - 0.08) if label == C.CAR else (0.9, 1.15)
    for end, mat in ((0.0, C.M_TAIL), (L, C.M_HEAD)):
        n = fwd * (1.0 if end else -1.0)
        face_pt = origin + fwd * end + _UP
        if not b.visible(face_pt, n):
            continue
        zz = end + (0.01 if end else -0.01)
        lw = 0.32 if mat == C.M_TAIL else 0.28
        for xs in (-1.0, 1.0):
            xa, xb = sorted((xs * (W / 2 - 0.08), xs * (W / 2 - 0.08 - lw)))
            quad = np.array([[xa, y_l0, zz], [xb, y_l0, zz], [xb, y_l1, zz], [xa, y_l1, zz]])
            b.poly(world(quad), label, mat, obj, n)
        if lod:
            continue
        py = 0.42 if label == C.CAR else 0.55
        plate = np.array([[-0.26, py, zz], [0.26, py, zz], [0.26, py + 0.12, zz], [-0.26, py + 0.12, zz]])
        b.poly(world(plate), label, C.M_PLATE, obj, n)
    return zext


def _big_windows(
    b: _Builder, verts: np.ndarray, shown: list[int], label: int, obj: int, normals: np.ndarray, is_bus: bool
) -> None:
    """Window bands on the faces of a bus or a truck cab."""
    for k in shown:
        if k >= 4:
            continue
        poly = verts[list(BOX_FACES[k])]
        y0, y1 = float(poly[:, 1].min()), float(poly[:, 1].max())
        lo, hi = (
            (y0 + 0.42 * (y1 - y0), y1 - 0.12 * (y1 - y0)) if is_bus else (y0 + 0.5 * (y1 - y0), y1 - 0.1 * (y1 - y0))
        )
        band = poly.copy()
        c = band.mean(axis=0)
        band = c + (band - c) * np.array([0.94, 1.0, 0.94]) if k >= 2 else c + (band - c) * np.array([0.9, 1.0, 0.9])
        band[:, 1] = np.where(poly[:, 1] > (y0 + y1) / 2, hi, lo)
        b.poly(band, label, C.M_GLASS, obj, normals[k])


_PERSON_SCALE = 1.0 / 1.75
_HEAD = ellipse(0.0, 1.62, 0.095, 0.12, 12)
_HAIR = ellipse(0.0, 1.64, 0.1, 0.11, 8, 0.0, math.pi)


def _person(b: _Builder, rng: np.random.Generator, x: float, y0: float, z: float, label: int = C.PERSON) -> None:
    """A pedestrian billboard: legs, torso, arms, head and hair, scaled to a random height."""
    h = rng.uniform(1.55, 1.95) if rng.random() > 0.08 else rng.uniform(1.0, 1.3)
    k = h * _PERSON_SCALE
    walk = rng.random() < 0.55
    away = rng.random() < 0.5
    coat = rng.random() < 0.3
    stride = rng.uniform(0.15, 0.35) if walk else rng.uniform(0.0, 0.05)
    swing = stride * 0.8 * (1 if rng.random() < 0.5 else -1)
    wide = rng.uniform(0.9, 1.12)
    obj = b.obj(C.O_PERSON, float(away), float(coat), h)
    b.group(z - 0.2)
    ring = np.linspace(0.0, 2 * math.pi, 6, endpoint=False)
    feet = np.stack([x + 0.2 * np.cos(ring), np.full(6, y0), z + 0.15 * np.sin(ring)], axis=1)
    head = np.array([[x, y0 + h * 0.97, z], [x - 0.22, y0 + h * 0.8, z], [x + 0.22, y0 + h * 0.8, z]])
    b.casters.append((obj, np.concatenate([feet, head])))
    s = np.array([k * wide, k])

    def add(shape: np.ndarray, mat: int) -> None:
        b.planar(shape * s, (x, y0, z), _BILL_A, _BILL_B, label, mat, obj)

    sh = 0.2
    add(_segment((-sh, 1.42), (-sh - swing * 0.5 - 0.03, 0.83), 0.09), C.M_TOP)  # back arm
    add(
        np.array([[-0.15, 0.92], [-0.02, 0.92], [-0.03 - stride / 2 + 0.07, 0.0], [-0.14 - stride / 2, 0.0]]),
        C.M_BOTTOM,
    )
    add(np.array([[0.02, 0.92], [0.15, 0.92], [0.14 + stride / 2, 0.0], [0.03 + stride / 2 - 0.07, 0.0]]), C.M_BOTTOM)
    add(
        np.array(
            [
                [-0.14 - stride / 2, 0.0],
                [-0.03 - stride / 2 + 0.07, 0.0],
                [-0.03 - stride / 2 + 0.07, 0.06],
                [-0.15 - stride / 2, 0.06],
            ]
        ),
        C.M_HAIR,
    )  # shoes use the hair colour (dark)
    bottom = 0.55 if coat else 0.86
    add(
        np.array(
            [
                [-0.16 - (0.04 if coat else 0), bottom],
                [0.16 + (0.04 if coat else 0), bottom],
                [0.21, 1.45],
                [0.07, 1.5],
                [-0.07, 1.5],
                [-0.21, 1.45],
            ]
        ),
        C.M_TOP,
    )
    add(_segment((sh, 1.42), (sh + swing * 0.5 + 0.03, 0.83), 0.09), C.M_TOP)  # front arm
    add(_rect(-0.035, 0.035, 1.44, 1.53), C.M_SKIN)  # neck
    add(_HEAD, C.M_HAIR if away else C.M_SKIN)
    if not away:
        add(_HAIR, C.M_HAIR)


def _tree(b: _Builder, rng: np.random.Generator, x: float, y0: float, z: float, big: float = 1.0) -> None:
    """A street tree: a trunk box under a lumpy crown billboard."""
    r = rng.uniform(1.6, 3.2) * big
    trunk_h = rng.uniform(1.8, 3.2) * big
    tw = rng.uniform(0.22, 0.36) * big
    cy = y0 + trunk_h + r * 0.75
    obj = b.obj(C.O_TREE, r)
    b.group(z - 0.3)
    b.box(x - tw / 2, x + tw / 2, y0, cy, z - tw / 2, z + tw / 2, C.VEGETATION, C.M_TRUNK, obj, caster=True)
    n = 22
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    ph = rng.uniform(0, 2 * math.pi, 3)
    amp = rng.uniform(0.03, 0.09, 3)
    rad = 1 + amp[0] * np.cos(3 * t + ph[0]) + amp[1] * np.cos(5 * t + ph[1]) + amp[2] * np.cos(8 * t + ph[2])
    rad *= 1 + rng.uniform(-0.04, 0.04, n)
    crown = np.stack([r * rad * np.cos(t), r * 0.92 * rad * np.sin(t)], axis=1)
    b.planar(crown, (x, cy, z), _BILL_A, _BILL_B, C.VEGETATION, C.M_CANOPY, obj, aux=(x, cy, z, r))
    # Shadow caster: the crown as a ball.
    ang = np.linspace(0, 2 * math.pi, 8, endpoint=False)
    ring = np.stack([x + r * np.cos(ang), np.full(8, cy), z + r * np.sin(ang)], 1)
    b.casters.append((obj, np.concatenate([ring, [[x, cy + 0.9 * r, z], [x, cy - 0.9 * r, z]]])))


def _pole(b: _Builder, x: float, y0: float, z: float, top: float, obj: int, w: float = 0.14) -> None:
    b.box(x - w / 2, x + w / 2, y0, top, z - w / 2, z + w / 2, C.POLE, C.M_METAL, obj, caster=True)


def _lamp(b: _Builder, rng: np.random.Generator, x: float, y0: float, z: float, side: float) -> None:
    """A street lamp: pole, an arm reaching over the road and a luminaire."""
    top = y0 + rng.uniform(6.5, 9.0)
    arm = rng.uniform(1.2, 2.4)
    obj = b.obj(C.O_POLE, 1.0)
    b.group(z - 0.1)
    _pole(b, x, y0, z, top, obj, 0.18)
    xe = x - side * arm
    b.box(x, xe, top - 0.1, top, z - 0.05, z + 0.05, C.POLE, C.M_METAL, obj)
    b.box(xe - 0.3, xe + 0.3, top - 0.22, top - 0.02, z - 0.14, z + 0.14, C.POLE, C.M_LUMINAIRE, obj)


_SIGN_SHAPES = ("circle", "triangle", "rect", "diamond", "octagon")


def _sign_shape(shape: str, size: float) -> np.ndarray:
    if shape == "circle":
        return ellipse(0, 0, size, size, 16)
    if shape == "octagon":
        return ellipse(0, 0, size, size, 8, math.pi / 8, math.pi / 8 + 2 * math.pi)
    if shape == "triangle":
        return np.array([[-size * 1.1, size * 0.65], [size * 1.1, size * 0.65], [0.0, -size * 1.25]])
    if shape == "diamond":
        return np.array([[0.0, -size], [size, 0.0], [0.0, size], [-size, 0.0]])
    return _rect(-size * 1.2, size * 1.2, -size * 0.8, size * 0.8)


def _sign(b: _Builder, rng: np.random.Generator, x: float, y0: float, z: float) -> None:
    """A sign post with one or two plates, facing the camera or turned away."""
    shape = _SIGN_SHAPES[int(rng.integers(len(_SIGN_SHAPES)))]
    size = rng.uniform(0.28, 0.4)
    top = y0 + rng.uniform(2.1, 2.8)
    facing = rng.random() < 0.75
    obj = b.obj(C.O_SIGN, float(_SIGN_SHAPES.index(shape)), float(facing))
    b.group(z - 0.05)
    _pole(b, x, y0, z, top + size, obj, 0.08)
    plates = [top]
    if rng.random() < 0.3:
        plates.append(top - 2.3 * size)
    for py in plates:
        outer = _sign_shape(shape, size)
        if facing:
            b.planar(outer, (x, py, z - 0.06), _BILL_A, _BILL_B, C.TRAFFIC_SIGN, C.M_SIGN, obj)
            b.planar(outer * 0.78, (x, py, z - 0.065), _BILL_A, _BILL_B, C.TRAFFIC_SIGN, C.M_SIGN_INNER, obj)
        else:
            b.planar(
                outer,
                (x, py, z + 0.06),
                _BILL_A,
                _BILL_B,
                C.TRAFFIC_SIGN,
                C.M_SIGN_BACK,
                obj,
                normal=np.array([0.0, 0.0, 1.0]),
            )


def _traffic_light_box(b: _Builder, x: float, y_top: float, z: float, obj: int, facing: bool) -> None:
    w, hgt, d = 0.34, 0.95, 0.28
    b.box(x - w / 2, x + w / 2, y_top - hgt, y_top, z - d / 2, z + d / 2, C.TRAFFIC_LIGHT, C.M_TL_BOX, obj)
    if facing:
        for k in range(3):
            cy = y_top - 0.17 - 0.3 * k
            b.planar(
                ellipse(0, 0, 0.105, 0.105, 10),
                (x, cy, z - d / 2 - 0.01),
                _BILL_A,
                _BILL_B,
                C.TRAFFIC_LIGHT,
                C.M_TL_LAMP,
                obj,
                aux=(float(k), 0, 0, 0),
            )


def _traffic_light(
    b: _Builder, rng: np.random.Generator, x: float, y0: float, z: float, side: float, overhead: bool
) -> None:
    facing = rng.random() < 0.85
    obj = b.obj(C.O_LIGHT, float(facing))
    b.group(z - 0.1)
    if overhead:
        top = y0 + rng.uniform(5.6, 6.4)
        _pole(b, x, y0, z, top, obj, 0.2)
        reach = rng.uniform(3.5, 6.5)
        xe = x - side * reach
        b.box(x, xe, top - 0.35, top - 0.2, z - 0.06, z + 0.06, C.POLE, C.M_METAL, obj)
        for xl in (xe + side * 0.2, x - side * reach * 0.45):
            _traffic_light_box(b, xl, top - 0.3, z, obj, facing)
    else:
        top = y0 + rng.uniform(2.9, 3.4)
        _pole(b, x, y0, z, top - 0.9, obj, 0.12)
        _traffic_light_box(b, x, top, z, obj, facing)


def _bicycle_shape() -> list[tuple[np.ndarray, int]]:
    """Side view of a bicycle in local metres (a forward, b up): (shape, material) list."""
    rr, wb = 0.34, 1.04
    rear, front = (-wb / 2, rr), (wb / 2, rr)
    bb, seat, head = (-0.05, 0.3), (-0.2, 0.9), (0.38, 0.9)
    out: list[tuple[np.ndarray, int]] = []
    for c in (rear, front):
        out.append((ellipse(c[0], c[1], rr, rr, 14), C.M_TYRE))
        out.append((ellipse(c[0], c[1], rr * 0.84, rr * 0.84, 14), C.M_SPOKES))
    for p, q in ((bb, seat), (seat, head), (bb, head), (bb, rear), (seat, rear), (head, front)):
        out.append((_segment(p, q, 0.05), C.M_FRAME))
    out.append((_segment((seat[0] - 0.1, seat[1] + 0.05), (seat[0] + 0.08, seat[1] + 0.05), 0.06), C.M_TYRE))
    out.append((_segment((head[0], head[1]), (head[0] - 0.06, head[1] + 0.15), 0.05), C.M_FRAME))
    return out


_BICYCLE = _bicycle_shape()


def _bicycle(b: _Builder, rng: np.random.Generator, x: float, y0: float, z: float, along_z: bool, rider: bool) -> None:
    """A side-view bicycle (parked along the curb, or crossing with a rider)."""
    direction = 1.0 if rng.random() < 0.5 else -1.0
    obj = b.obj(C.O_BICYCLE, float(rider))
    b.group(z - (0.6 if along_z else 0.1))
    if along_z:
        ax_a, normal = (0.0, 0.0, direction), np.array([-1.0 if x > 0 else 1.0, 0.0, 0.0])
    else:
        ax_a, normal = (direction, 0.0, 0.0), _TOWARD
    for shape, mat in _BICYCLE:
        b.planar(shape, (x, y0, z), ax_a, _BILL_B, C.BICYCLE, mat, obj, normal)
    b.casters.append(
        (
            obj,
            np.array(
                [
                    [x - 0.5 * ax_a[0], y0, z - 0.5 * ax_a[2]],
                    [x + 0.5 * ax_a[0], y0, z + 0.5 * ax_a[2]],
                    [x, y0 + (1.7 if rider else 1.0), z],
                ]
            ),
        )
    )
    if rider:
        k = rng.uniform(0.92, 1.08)
        parts = [
            (_segment((-0.2, 0.95), (0.12, 0.62), 0.15), C.M_BOTTOM),  # thigh
            (_segment((0.12, 0.62), (0.0, 0.22), 0.11), C.M_BOTTOM),  # shin
            (_segment((-0.2, 0.98), (0.1, 1.5), 0.3), C.M_TOP),  # torso
            (_segment((0.12, 1.46), (0.36, 1.0), 0.08), C.M_TOP),  # arm
            (ellipse(0.17, 1.68, 0.1, 0.12, 10), C.M_SKIN),
            (ellipse(0.16, 1.71, 0.12, 0.1, 8, 0.0, math.pi), C.M_HAIR),
        ]
        for shape, mat in parts:
            shape = shape * k
            b.planar(shape, (x, y0, z - 0.02), ax_a, _BILL_B, C.RIDER, mat, obj, normal)


# ----------------------------------------------------------------------------------------------
# The street
# ----------------------------------------------------------------------------------------------


def _sample_scene(rng: np.random.Generator) -> tuple[_Builder, dict[str, Any], dict[str, float]]:
    """Draw a whole street from ``rng``; independent of the image size."""
    cam = {
        "height": rng.uniform(1.25, 1.6),
        "focal": rng.uniform(0.78, 1.0),
        "horizon": rng.uniform(0.38, 0.47),
        "yaw": float(np.clip(rng.normal(0.0, 0.025), -0.06, 0.06)),
    }
    b = _Builder(cam["height"])
    curb = rng.uniform(0.1, 0.16)
    lane_w = rng.uniform(3.0, 3.6)
    n_lanes = int(rng.choice([2, 2, 2, 3, 4]))
    n_right = max(1, n_lanes // 2)
    n_left = n_lanes - n_right
    cam_lane = int(rng.integers(0, n_right))
    x_centre = -(cam_lane + 0.5) * lane_w + rng.normal(0.0, 0.25)
    park = [rng.random() < 0.45, rng.random() < 0.55]  # parking strip left, right
    x_left = x_centre - n_left * lane_w - (2.2 if park[0] else 0.0)
    x_right = x_centre + n_right * lane_w + (2.2 if park[1] else 0.0)
    z_end = rng.uniform(70.0, 190.0)
    cross_w = rng.uniform(10.0, 16.0)
    z_back = z_end + cross_w + rng.uniform(3.0, 6.0)
    street: dict[str, Any] = {
        "curb": curb,
        "lane_width": lane_w,
        "x_centre": x_centre,
        "x_left": x_left,
        "x_right": x_right,
        "z_end": z_end,
        "z_back": z_back,
        "cross_width": cross_w,
        "lanes": [x_centre + (i + 0.5) * lane_w for i in range(-n_left, n_right)],
        "yellow_centre": bool(rng.random() < 0.2),
    }
    ground_obj = b.obj(C.O_GROUND)

    # Sides: verge (grass), sidewalk, front garden, then the facade line.
    sides = {}
    for s, edge in ((-1.0, x_left), (1.0, x_right)):
        verge = rng.uniform(1.0, 2.5) if rng.random() < 0.25 else 0.0
        walk = rng.uniform(2.0, 5.0)
        garden = rng.uniform(2.0, 5.0) if rng.random() < 0.2 else 0.0
        sides[s] = {
            "edge": edge,
            "verge": verge,
            "walk": walk,
            "garden": garden,
            "facade": edge + s * (verge + walk + garden),
            "gaps": [],
        }

    # Buildings along both sides, with gaps (side street, park, lot).
    for s in (-1.0, 1.0):
        side = sides[s]
        z = rng.uniform(-14.0, -3.0)
        block_h = rng.uniform(7.0, 21.0)
        first = True
        while z < z_end - 4:
            if not first and rng.random() < 0.16:
                gw = rng.uniform(9.0, 20.0)
                gtype = ("street", "park", "lot")[int(rng.choice(3, p=[0.4, 0.35, 0.25]))]
                side["gaps"].append((z, min(z + gw, z_end), gtype))
                z += gw
                continue
            first = False
            w = rng.uniform(8.0, 26.0)
            z1 = min(z + w, z_end)
            if z_end - z1 < 6:
                z1 = z_end
            if rng.random() < 0.25:
                block_h = rng.uniform(7.0, 23.0)
            h = float(np.clip(block_h + rng.normal(0, 2.5), 6.0, 34.0))
            setback = rng.uniform(0.5, 3.0) if rng.random() < 0.2 else 0.0
            xf = side["facade"] + s * setback
            depth = rng.uniform(12.0, 22.0)
            obj = b.obj(C.O_BUILDING, h, s, z, z1)
            b.group(max(z1, NEAR))
            mats = [C.M_WALLFACE] * 6
            mats[2 if s > 0 else 3] = C.M_FACADE
            b.box(xf, xf + s * depth, curb, h, z, z1, C.BUILDING, mats, obj, caster=True)
            z = z1

    # Backdrop: a row of buildings behind the cross street, and a distant skyline.
    xb = -rng.uniform(150.0, 250.0)
    while xb < 250.0:
        w = rng.uniform(10.0, 32.0)
        h = rng.uniform(8.0, 30.0)
        obj = b.obj(C.O_BUILDING, h, 0.0, xb, xb + w)
        b.group(1e4 + abs(xb + w / 2))
        if rng.random() < 0.12:  # a park or square: trees instead of a building
            b.obj_class[obj] = C.O_TREE
            bumps = np.linspace(xb, xb + w, 9)
            tops = rng.uniform(6.0, 13.0, 9)
            pts = np.concatenate(
                [
                    [[xb, curb, z_back + 4]],
                    np.stack([bumps, tops, np.full(9, z_back + 4)], 1),
                    [[xb + w, curb, z_back + 4]],
                ]
            )
            b.poly(pts, C.VEGETATION, C.M_CANOPY, obj, _TOWARD, aux=(xb + w / 2, 8.0, z_back + 4, w / 2))
        else:
            mats = [C.M_FACADE, C.M_WALLFACE, C.M_WALLFACE, C.M_WALLFACE, C.M_WALLFACE, C.M_WALLFACE]
            b.box(xb, xb + w, curb, h, z_back, z_back + 18, C.BUILDING, mats, obj)
        xb += w
    if rng.random() < 0.55:
        for _ in range(int(rng.integers(2, 7))):
            xt = rng.uniform(-160, 160)
            w = rng.uniform(15, 40)
            h = rng.uniform(30, 90)
            zt = z_back + rng.uniform(60, 200)
            obj = b.obj(C.O_BUILDING, h, 0.0, xt, xt + w)
            b.group(2e4 + zt)
            mats = [C.M_FACADE] + [C.M_WALLFACE] * 5
            b.box(xt, xt + w, 0.0, h, zt, zt + w, C.BUILDING, mats, obj)

    # Ground, drawn first.
    b.group(1e9)
    far = 400.0
    b.ground(-far, far, -2.0, z_back + 40, curb, C.SIDEWALK, C.M_SIDEWALK, ground_obj)
    b.ground(-far, far, z_end, z_end + cross_w, 0.0, C.ROAD, C.M_ROAD, ground_obj)
    b.ground(x_left, x_right, -2.0, z_end + 0.5, 0.0, C.ROAD, C.M_ROAD, ground_obj)
    b.poly(
        np.array(
            [
                [-far, 0.0, z_end + cross_w],
                [far, 0.0, z_end + cross_w],
                [far, curb, z_end + cross_w],
                [-far, curb, z_end + cross_w],
            ]
        ),
        C.SIDEWALK,
        C.M_CURB,
        ground_obj,
        _TOWARD,
    )
    for s in (-1.0, 1.0):
        side = sides[s]
        e = side["edge"]
        segs = _segments(-2.0, z_end, [(g0, g1) for g0, g1, t in side["gaps"] if t == "street"])
        x1 = e + s * side["verge"]
        x2 = x1 + s * side["walk"]
        x3 = x2 + s * side["garden"]
        for z0, z1 in segs:
            if side["verge"]:
                b.ground(e, x1, z0, z1, curb, C.TERRAIN, C.M_TERRAIN, ground_obj)
            if side["garden"]:
                b.ground(x2, x3, z0, z1, curb, C.TERRAIN, C.M_TERRAIN, ground_obj)
            b.poly(
                np.array([[e, 0.0, z0], [e, curb, z0], [e, curb, z1], [e, 0.0, z1]]),
                C.SIDEWALK,
                C.M_CURB,
                ground_obj,
                np.array([-s, 0.0, 0.0]),
            )
        for g0, g1, t in side["gaps"]:
            if t == "street":
                b.ground(e, s * far, g0, g1, 0.0, C.ROAD, C.M_ROAD, ground_obj)
            elif t == "park":
                b.ground(x2, x2 + s * 40.0, g0, g1, curb, C.TERRAIN, C.M_TERRAIN, ground_obj)
    _markings(b, rng, street, ground_obj)

    # Things in the gaps.
    for s in (-1.0, 1.0):
        side = sides[s]
        x2 = side["edge"] + s * (side["verge"] + side["walk"])
        for g0, g1, t in side["gaps"]:
            if t == "street":
                zz = rng.uniform(g0 - 3, g0 + 2)
                h = rng.uniform(8, 25)
                xo = side["facade"] + s * rng.uniform(25, 45)
                obj = b.obj(C.O_BUILDING, h, s, zz, g1 + 8)
                b.group(g1 + 8)
                mats = [C.M_WALLFACE] * 6
                mats[2 if s > 0 else 3] = C.M_FACADE
                b.box(xo, xo + s * 15, 0.0, h, zz, g1 + 8, C.BUILDING, mats, obj)
            elif t == "park":
                for _ in range(int(rng.integers(1, 5))):
                    _tree(
                        b,
                        rng,
                        x2 + s * rng.uniform(2, 14),
                        curb,
                        rng.uniform(g0 + 1, g1 - 1),
                        big=rng.uniform(1.0, 1.6),
                    )
                if rng.random() < 0.5:
                    _hedge(b, rng, x2 + s * 0.5, g0, g1, curb, s)
            else:  # lot: a wall or a fence along the sidewalk, something behind it
                h = rng.uniform(1.0, 2.3)
                is_wall = rng.random() < 0.5
                obj = b.obj(C.O_WALL if is_wall else C.O_FENCE, h)
                b.group(max(g1, NEAR))
                xf = x2 + s * 0.2
                b.box(
                    xf,
                    xf + s * 0.25,
                    curb,
                    curb + h,
                    g0,
                    g1,
                    C.WALL if is_wall else C.FENCE,
                    C.M_WALL if is_wall else C.M_FENCE,
                    obj,
                    caster=True,
                )
                if rng.random() < 0.6:
                    hh = rng.uniform(6, 18)
                    xo = side["facade"] + s * rng.uniform(10, 20)
                    objb = b.obj(C.O_BUILDING, hh, s, g0, g1)
                    b.group(g1 + 1)
                    mats = [C.M_WALLFACE] * 6
                    mats[2 if s > 0 else 3] = C.M_FACADE
                    b.box(xo, xo + s * 12, curb, hh, g0 - 2, g1 + 2, C.BUILDING, mats, objb)
        if side["garden"] and rng.random() < 0.6:
            _hedge(b, rng, x2 + s * 0.45, rng.uniform(-2, 10), z_end - rng.uniform(0, 40), curb, s)

    # Street trees.
    if rng.random() < 0.6:
        which = [(-1.0, 1.0), (-1.0,), (1.0,)][int(rng.integers(3))]
        spacing = rng.uniform(7.0, 14.0)
        for s in which:
            side = sides[s]
            x = side["edge"] + s * (side["verge"] / 2 if side["verge"] else rng.uniform(0.6, 1.0))
            z = rng.uniform(2.0, 10.0)
            stop = z_end * rng.uniform(0.5, 0.95)
            big = rng.uniform(0.85, 1.3)
            while z < stop:
                if rng.random() < 0.88 and not _in_street_gap(side, z):
                    _tree(b, rng, x + rng.normal(0, 0.1), curb, z, big)
                z += spacing * rng.uniform(0.85, 1.15)

    # Street lamps.
    if rng.random() < 0.7:
        s = 1.0 if rng.random() < 0.6 else -1.0
        side = sides[s]
        x = side["edge"] + s * 0.45
        z = rng.uniform(5.0, 25.0)
        gap = rng.uniform(22.0, 38.0)
        while z < z_end - 5:
            if not _in_street_gap(side, z):
                _lamp(b, rng, x, curb, z, s)
            z += gap

    # Signs.
    for _ in range(int(rng.integers(0, 5))):
        s = 1.0 if rng.random() < 0.65 else -1.0
        side = sides[s]
        z = rng.uniform(6.0, min(70.0, z_end - 5))
        if not _in_street_gap(side, z):
            _sign(b, rng, side["edge"] + s * rng.uniform(0.35, 0.7), curb, z)

    # Traffic lights at the cross street.
    if rng.random() < 0.7:
        zl = z_end - rng.uniform(0.5, 2.0)
        for s in (1.0, -1.0):
            if s < 0 and rng.random() < 0.4:
                continue
            side = sides[s]
            _traffic_light(b, rng, side["edge"] + s * 0.6, curb, zl, s, overhead=bool(s > 0 and rng.random() < 0.4))

    # Vehicles.
    for s in (-1.0, 1.0):
        lane_pos = x_left + 1.1 if s < 0 else x_right - 1.1
        if park[0 if s < 0 else 1] or rng.random() < 0.2:
            z = rng.uniform(2.5, 12.0)
            while z < z_end - 12:
                if rng.random() < 0.6:
                    kind = _pick_car(rng, allow_big=False)
                    heading = 0 if (s > 0 or rng.random() < 0.3) else 1
                    z0, z1 = _vehicle(b, rng, kind, lane_pos + rng.normal(0, 0.08), z, heading)
                    z = z1 + rng.uniform(0.8, 4.0)
                else:
                    z += rng.uniform(5.0, 20.0)
    for i, xl in enumerate(street["lanes"]):
        oncoming = i < n_left
        occupied: list[tuple[float, float]] = []
        for _ in range(int(rng.poisson(1.0))):
            kind = _pick_car(rng, allow_big=True)
            z = rng.uniform(6.0 if abs(xl) > 1.0 else 9.0, z_end - 8)
            L = _VEHICLES[kind][1] + 1.5
            if any(not (z + L < a - 2 or z > b2 + 2) for a, b2 in occupied):
                continue
            occupied.append((z, z + L))
            _vehicle(b, rng, kind, xl + rng.normal(0, 0.25), z, 1 if oncoming else 0)
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 3))):
            heading = 2 if rng.random() < 0.5 else 3
            zc = z_end + (cross_w * 0.3 if heading == 3 else cross_w * 0.62) - 0.9
            _vehicle(b, rng, _pick_car(rng, allow_big=True), rng.uniform(-25, 25), zc, heading)

    # People.
    for s in (-1.0, 1.0):
        side = sides[s]
        x_in = side["edge"] + s * (side["verge"] + 0.4)
        x_out = side["edge"] + s * (side["verge"] + side["walk"] - 0.4)
        for _ in range(int(rng.poisson(2.2))):
            z = 3.0 + rng.exponential(18.0)
            if z < z_end - 2:
                _person(b, rng, rng.uniform(min(x_in, x_out), max(x_in, x_out)), curb, z)
        if rng.random() < 0.3:
            z = z_end - rng.uniform(1, 3)
            for _ in range(int(rng.integers(1, 4))):
                _person(b, rng, side["edge"] + s * rng.uniform(0.5, 2.0), curb, z + rng.uniform(-1, 1))
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 5))):
            _person(b, rng, rng.uniform(x_left + 1, x_right - 1), 0.0, z_end - rng.uniform(1.5, 4.0))

    # Bicycles: parked along a curb, or a cyclist crossing.
    if rng.random() < 0.25:
        s = 1.0 if rng.random() < 0.5 else -1.0
        side = sides[s]
        z = rng.uniform(6.0, 30.0)
        for _ in range(int(rng.integers(1, 4))):
            _bicycle(b, rng, side["edge"] + s * (side["verge"] + 0.5), curb, z, along_z=True, rider=False)
            z += rng.uniform(0.6, 1.5)
    if rng.random() < 0.2:
        _bicycle(
            b,
            rng,
            rng.uniform(x_left + 1, x_right - 1),
            0.0,
            rng.uniform(10.0, min(40.0, z_end - 5)),
            along_z=False,
            rider=True,
        )

    # The ego vehicle's bonnet, in image coordinates.
    if rng.random() < 0.35:
        hood = rng.uniform(0.05, 0.11)
        curve = rng.uniform(0.4, 0.8)
        u = np.linspace(-0.02, 1.02, 25)
        v = 1.0 - hood * (1.0 - curve * ((u - 0.5) / 0.55) ** 2)
        pts = np.concatenate([np.stack([u, v], 1), [[1.02, 1.02], [-0.02, 1.02]]])
        obj = b.obj(C.O_EGO, hood)
        b.group(-1e9)
        b.poly(pts, C.EGO_VEHICLE, C.M_EGO, obj, np.array([0.0, 1.0, 0.0]))
        street["hood"] = float(hood)
    return b, street, cam


def _hedge(b: _Builder, rng: np.random.Generator, x: float, z0: float, z1: float, y0: float, s: float) -> None:
    if z1 - z0 < 1.0:
        return
    h = rng.uniform(0.7, 1.5)
    w = rng.uniform(0.6, 1.0)
    obj = b.obj(C.O_HEDGE, h)
    b.group(max(z1, NEAR))
    b.box(x, x + s * w, y0, y0 + h, z0, z1, C.VEGETATION, C.M_HEDGE, obj, caster=True)


def _segments(z0: float, z1: float, holes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """``[z0, z1]`` minus the ``holes``."""
    out, z = [], z0
    for a, b in sorted(holes):
        if a > z:
            out.append((z, a))
        z = max(z, b)
    if z < z1:
        out.append((z, z1))
    return out


def _in_street_gap(side: dict, z: float) -> bool:
    return any(g0 - 1 <= z <= g1 + 1 for g0, g1, t in side["gaps"] if t == "street")


def _pick_car(rng: np.random.Generator, allow_big: bool) -> str:
    r = rng.random()
    if allow_big and r < 0.08:
        return "bus" if rng.random() < 0.5 else "truck"
    return ("sedan", "hatch", "suv", "van")[int(rng.choice(4, p=[0.42, 0.3, 0.2, 0.08]))]


def _markings(b: _Builder, rng: np.random.Generator, street: dict, obj: int) -> None:
    """Lane lines, a crossing and a stop line: paint on the road, labelled road."""
    lw = street["lane_width"]
    lanes = street["lanes"]
    z_end = street["z_end"]
    y = 0.0
    dash, period = (3.0, 9.0) if rng.random() < 0.6 else (6.0, 12.0)
    crossing = rng.random() < 0.6
    z_stop = z_end - (6.0 if crossing else 1.5)
    lines = [x - lw / 2 for x in lanes[1:]]
    for x in lines:
        centre = abs(x - street["x_centre"]) < 0.1
        width = 0.12 if not centre else 0.14
        if centre and (street["yellow_centre"] or rng.random() < 0.25):
            for off in (-0.12, 0.12) if street["yellow_centre"] else (0.0,):
                b.ground(
                    x + off - width / 2,
                    x + off + width / 2,
                    1.0,
                    z_stop,
                    y,
                    C.ROAD,
                    C.M_PAINT,
                    obj,
                    (1.0, 0.0, 0.0, 0.0),
                )
            continue
        z = rng.uniform(0.0, period)
        while z < min(z_stop, 120.0):
            b.ground(x - width / 2, x + width / 2, z, min(z + dash, z_stop), y, C.ROAD, C.M_PAINT, obj)
            z += period
        if z < z_stop:
            b.ground(x - 0.05, x + 0.05, z, z_stop, y, C.ROAD, C.M_PAINT, obj)
    if rng.random() < 0.5:  # edge lines
        for x in (street["x_left"] + 0.3, street["x_right"] - 0.3):
            b.ground(x - 0.07, x + 0.07, 1.0, z_stop, y, C.ROAD, C.M_PAINT, obj)
    if crossing:
        z0, z1 = z_end - 4.8, z_end - 1.0
        x = street["x_left"] + 0.4
        while x < street["x_right"] - 0.6:
            b.ground(x, x + 0.5, z0, z1, y, C.ROAD, C.M_PAINT, obj)
            x += 1.0
    b.ground(street["x_centre"], street["x_right"] - 0.2, z_stop - 0.45, z_stop, y, C.ROAD, C.M_PAINT, obj)
    if rng.random() < 0.15:  # a second, mid-block crossing
        zc = rng.uniform(14.0, min(45.0, z_end - 20))
        x = street["x_left"] + 0.4
        while x < street["x_right"] - 0.6:
            b.ground(x, x + 0.5, zc, zc + 3.5, y, C.ROAD, C.M_PAINT, obj)
            x += 1.0


# ----------------------------------------------------------------------------------------------
# Rasterisation
# ----------------------------------------------------------------------------------------------


def _rasterise(b: _Builder, camera: Camera, height: int, width: int) -> dict[str, Any]:
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


def _freeze(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def layout_rng(seed: int) -> np.random.Generator:
    """The random stream of a layout seed (independent of the appearance stream)."""
    return np.random.default_rng(np.random.SeedSequence([check_seed(seed), 0x57EE7, 1]))


def render_layout(seed: int, height: int, width: int) -> StreetLayout:
    """Sample the street of ``seed`` and rasterise it at ``height x width`` pixels."""
    height, width = check_size(height, width)
    seed = check_seed(seed)
    b, street, cam = _sample_scene(layout_rng(seed))
    camera = Camera(
        height=cam["height"], focal=cam["focal"], horizon=cam["horizon"], yaw=cam["yaw"], aspect=width / height
    )
    r = _rasterise(b, camera, height, width)
    ids = r["label"][r["parts"]]
    return StreetLayout(
        ids=_freeze(ids),
        parts=_freeze(r["parts"]),
        part_label=_freeze(r["label"]),
        part_material=_freeze(r["material"]),
        part_obj=_freeze(r["obj"]),
        part_normal=_freeze(r["normal"]),
        part_offset=_freeze(r["offset"]),
        part_depth=_freeze(r["depth"]),
        part_aux=_freeze(r["aux"]),
        obj_class=_freeze(np.asarray(b.obj_class, np.uint8)),
        obj_attr=_freeze(np.asarray(b.obj_attr, np.float32).reshape(-1, 4)),
        casters=tuple(b.casters),
        contacts=tuple(b.contacts),
        camera=camera,
        street=street,
        seed=seed,
    )
