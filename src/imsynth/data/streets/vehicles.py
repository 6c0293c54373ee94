"""Vehicles of the street scenes: cars, vans, buses and trucks (boxes with cabins, wheels and windows),
and bicycles (flat frames, with or without a rider)."""

from __future__ import annotations

import math

import numpy as np

from . import classes as C
from .builder import BILL_B, BOX_FACE_INDEX, BOX_NORMALS, TOWARD, UP, SceneBuilder, segment
from .geometry import BOX_FACES, box_vertices, ellipse, face_normals, frustum_vertices

__all__ = ["VEHICLES", "add_vehicle", "add_bicycle", "pick_car"]


_LOD_NEAR = 35.0
_LOD_FAR = 80.0
_CIRCLE12 = ellipse(0.0, 0.0, 1.0, 1.0, 12)

VEHICLES = {
    # name: (label, length, width, height, top of the body below the cabin (cars only))
    "sedan": (C.CAR, 4.6, 1.80, 1.45, 0.95),
    "hatch": (C.CAR, 4.0, 1.75, 1.50, 0.95),
    "suv": (C.CAR, 4.7, 1.90, 1.75, 1.10),
    "van": (C.CAR, 5.0, 1.95, 2.00, 1.05),
    "bus": (C.BUS, 12.0, 2.55, 3.10, 0.0),
    "truck": (C.TRUCK, 8.0, 2.50, 3.40, 0.0),
}


def add_vehicle(
    b: SceneBuilder, rng: np.random.Generator, kind: str, x: float, z_near: float, heading: int
) -> tuple[float, float]:
    """A vehicle whose nearest end is at ``z_near``; heading 0: +Z, 1: -Z, 2: +X, 3: -X.

    Returns the extent of the vehicle along Z.
    """
    label, L, W, Hh, top = VEHICLES[kind]
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
    R = np.stack([right, UP, fwd], axis=1)  # local (x, y, z) -> world

    def world(v: np.ndarray) -> np.ndarray:
        return origin[None, :] + v @ R.T

    normals = BOX_NORMALS @ R.T
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
        cab_normals = face_normals(cab[BOX_FACE_INDEX])
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
        face_pt = origin + fwd * end + UP
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
    b: SceneBuilder, verts: np.ndarray, shown: list[int], label: int, obj: int, normals: np.ndarray, is_bus: bool
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


def pick_car(rng: np.random.Generator, allow_big: bool) -> str:
    r = rng.random()
    if allow_big and r < 0.08:
        return "bus" if rng.random() < 0.5 else "truck"
    return ("sedan", "hatch", "suv", "van")[int(rng.choice(4, p=[0.42, 0.3, 0.2, 0.08]))]


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
        out.append((segment(p, q, 0.05), C.M_FRAME))
    out.append((segment((seat[0] - 0.1, seat[1] + 0.05), (seat[0] + 0.08, seat[1] + 0.05), 0.06), C.M_TYRE))
    out.append((segment((head[0], head[1]), (head[0] - 0.06, head[1] + 0.15), 0.05), C.M_FRAME))
    return out


_BICYCLE = _bicycle_shape()


def add_bicycle(
    b: SceneBuilder, rng: np.random.Generator, x: float, y0: float, z: float, along_z: bool, rider: bool
) -> None:
    """A side-view bicycle (parked along the curb, or crossing with a rider)."""
    direction = 1.0 if rng.random() < 0.5 else -1.0
    obj = b.obj(C.O_BICYCLE, float(rider))
    b.group(z - (0.6 if along_z else 0.1))
    if along_z:
        ax_a, normal = (0.0, 0.0, direction), np.array([-1.0 if x > 0 else 1.0, 0.0, 0.0])
    else:
        ax_a, normal = (direction, 0.0, 0.0), TOWARD
    for shape, mat in _BICYCLE:
        b.planar(shape, (x, y0, z), ax_a, BILL_B, C.BICYCLE, mat, obj, normal)
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
            (segment((-0.2, 0.95), (0.12, 0.62), 0.15), C.M_BOTTOM),  # thigh
            (segment((0.12, 0.62), (0.0, 0.22), 0.11), C.M_BOTTOM),  # shin
            (segment((-0.2, 0.98), (0.1, 1.5), 0.3), C.M_TOP),  # torso
            (segment((0.12, 1.46), (0.36, 1.0), 0.08), C.M_TOP),  # arm
            (ellipse(0.17, 1.68, 0.1, 0.12, 10), C.M_SKIN),
            (ellipse(0.16, 1.71, 0.12, 0.1, 8, 0.0, math.pi), C.M_HAIR),
        ]
        for shape, mat in parts:
            shape = shape * k
            b.planar(shape, (x, y0, z - 0.02), ax_a, BILL_B, C.RIDER, mat, obj, normal)


# ----------------------------------------------------------------------------------------------
# The street
# ----------------------------------------------------------------------------------------------
