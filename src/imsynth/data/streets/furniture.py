"""Street furniture and the living things of the street scenes: people, trees, hedges, poles, street
lamps, traffic signs and traffic lights."""

from __future__ import annotations

import math

import numpy as np

from . import classes as C
from .builder import BILL_A, BILL_B, SceneBuilder, rect, segment
from .geometry import NEAR, ellipse

__all__ = ["add_person", "add_tree", "add_hedge", "add_lamp", "add_sign", "add_traffic_light"]


_PERSON_SCALE = 1.0 / 1.75
_HEAD = ellipse(0.0, 1.62, 0.095, 0.12, 12)
_HAIR = ellipse(0.0, 1.64, 0.1, 0.11, 8, 0.0, math.pi)


def add_person(b: SceneBuilder, rng: np.random.Generator, x: float, y0: float, z: float, label: int = C.PERSON) -> None:
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
        b.planar(shape * s, (x, y0, z), BILL_A, BILL_B, label, mat, obj)

    sh = 0.2
    add(segment((-sh, 1.42), (-sh - swing * 0.5 - 0.03, 0.83), 0.09), C.M_TOP)  # back arm
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
    add(segment((sh, 1.42), (sh + swing * 0.5 + 0.03, 0.83), 0.09), C.M_TOP)  # front arm
    add(rect(-0.035, 0.035, 1.44, 1.53), C.M_SKIN)  # neck
    add(_HEAD, C.M_HAIR if away else C.M_SKIN)
    if not away:
        add(_HAIR, C.M_HAIR)


def add_tree(b: SceneBuilder, rng: np.random.Generator, x: float, y0: float, z: float, big: float = 1.0) -> None:
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
    b.planar(crown, (x, cy, z), BILL_A, BILL_B, C.VEGETATION, C.M_CANOPY, obj, aux=(x, cy, z, r))
    # Shadow caster: the crown as a ball.
    ang = np.linspace(0, 2 * math.pi, 8, endpoint=False)
    ring = np.stack([x + r * np.cos(ang), np.full(8, cy), z + r * np.sin(ang)], 1)
    b.casters.append((obj, np.concatenate([ring, [[x, cy + 0.9 * r, z], [x, cy - 0.9 * r, z]]])))


def add_pole(b: SceneBuilder, x: float, y0: float, z: float, top: float, obj: int, w: float = 0.14) -> None:
    b.box(x - w / 2, x + w / 2, y0, top, z - w / 2, z + w / 2, C.POLE, C.M_METAL, obj, caster=True)


def add_lamp(b: SceneBuilder, rng: np.random.Generator, x: float, y0: float, z: float, side: float) -> None:
    """A street lamp: pole, an arm reaching over the road and a luminaire."""
    top = y0 + rng.uniform(6.5, 9.0)
    arm = rng.uniform(1.2, 2.4)
    obj = b.obj(C.O_POLE, 1.0)
    b.group(z - 0.1)
    add_pole(b, x, y0, z, top, obj, 0.18)
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
    return rect(-size * 1.2, size * 1.2, -size * 0.8, size * 0.8)


def add_sign(b: SceneBuilder, rng: np.random.Generator, x: float, y0: float, z: float) -> None:
    """A sign post with one or two plates, facing the camera or turned away."""
    shape = _SIGN_SHAPES[int(rng.integers(len(_SIGN_SHAPES)))]
    size = rng.uniform(0.28, 0.4)
    top = y0 + rng.uniform(2.1, 2.8)
    facing = rng.random() < 0.75
    obj = b.obj(C.O_SIGN, float(_SIGN_SHAPES.index(shape)), float(facing))
    b.group(z - 0.05)
    add_pole(b, x, y0, z, top + size, obj, 0.08)
    plates = [top]
    if rng.random() < 0.3:
        plates.append(top - 2.3 * size)
    for py in plates:
        outer = _sign_shape(shape, size)
        if facing:
            b.planar(outer, (x, py, z - 0.06), BILL_A, BILL_B, C.TRAFFIC_SIGN, C.M_SIGN, obj)
            b.planar(outer * 0.78, (x, py, z - 0.065), BILL_A, BILL_B, C.TRAFFIC_SIGN, C.M_SIGN_INNER, obj)
        else:
            b.planar(
                outer,
                (x, py, z + 0.06),
                BILL_A,
                BILL_B,
                C.TRAFFIC_SIGN,
                C.M_SIGN_BACK,
                obj,
                normal=np.array([0.0, 0.0, 1.0]),
            )


def _traffic_light_box(b: SceneBuilder, x: float, y_top: float, z: float, obj: int, facing: bool) -> None:
    w, hgt, d = 0.34, 0.95, 0.28
    b.box(x - w / 2, x + w / 2, y_top - hgt, y_top, z - d / 2, z + d / 2, C.TRAFFIC_LIGHT, C.M_TL_BOX, obj)
    if facing:
        for k in range(3):
            cy = y_top - 0.17 - 0.3 * k
            b.planar(
                ellipse(0, 0, 0.105, 0.105, 10),
                (x, cy, z - d / 2 - 0.01),
                BILL_A,
                BILL_B,
                C.TRAFFIC_LIGHT,
                C.M_TL_LAMP,
                obj,
                aux=(float(k), 0, 0, 0),
            )


def add_traffic_light(
    b: SceneBuilder, rng: np.random.Generator, x: float, y0: float, z: float, side: float, overhead: bool
) -> None:
    facing = rng.random() < 0.85
    obj = b.obj(C.O_LIGHT, float(facing))
    b.group(z - 0.1)
    if overhead:
        top = y0 + rng.uniform(5.6, 6.4)
        add_pole(b, x, y0, z, top, obj, 0.2)
        reach = rng.uniform(3.5, 6.5)
        xe = x - side * reach
        b.box(x, xe, top - 0.35, top - 0.2, z - 0.06, z + 0.06, C.POLE, C.M_METAL, obj)
        for xl in (xe + side * 0.2, x - side * reach * 0.45):
            _traffic_light_box(b, xl, top - 0.3, z, obj, facing)
    else:
        top = y0 + rng.uniform(2.9, 3.4)
        add_pole(b, x, y0, z, top - 0.9, obj, 0.12)
        _traffic_light_box(b, x, top, z, obj, facing)


def add_hedge(b: SceneBuilder, rng: np.random.Generator, x: float, z0: float, z1: float, y0: float, s: float) -> None:
    if z1 - z0 < 1.0:
        return
    h = rng.uniform(0.7, 1.5)
    w = rng.uniform(0.6, 1.0)
    obj = b.obj(C.O_HEDGE, h)
    b.group(max(z1, NEAR))
    b.box(x, x + s * w, y0, y0 + h, z0, z1, C.VEGETATION, C.M_HEDGE, obj, caster=True)
