"""Sampling a street from a seed, stage by stage: camera, street plan, sides, buildings, backdrop, ground.

Each stage is a small function over small dataclasses (:class:`CameraPose`, :class:`StreetPlan`,
:class:`SidePlan`) that draws from the one layout stream ``rng`` in a fixed order, so one seed gives
one street (the order is :func:`~imsynth.data.streets.layout.sample_scene`); the things in the street are
placed by :mod:`~imsynth.data.streets.populate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import classes as C
from .builder import TOWARD, SceneBuilder
from .geometry import NEAR

__all__ = [
    "CameraPose",
    "StreetPlan",
    "SidePlan",
    "sample_camera",
    "sample_street",
    "sample_sides",
    "place_buildings",
    "place_backdrop",
    "lay_ground",
    "paint_markings",
]

Gap = tuple[float, float, str]
"""A stretch ``(z0, z1, kind)`` of a side without buildings: ``"street"``, ``"park"`` or ``"lot"``."""


@dataclass(frozen=True)
class CameraPose:
    """The level pinhole camera: its height above the road (m), focal length, horizon row and yaw."""

    height: float
    focal: float
    horizon: float
    yaw: float


@dataclass
class StreetPlan:
    """The street's cross-section and length (metres; x across, z ahead of the camera)."""

    curb: float
    lane_width: float
    x_centre: float
    x_left: float
    x_right: float
    z_end: float
    z_back: float
    cross_width: float
    lanes: list[float]
    yellow_centre: bool
    n_left: int  # lanes of oncoming traffic (the first ``n_left`` of ``lanes``)
    park: tuple[bool, bool]  # a parking strip on the left, on the right
    hood: float | None = None  # the ego vehicle's bonnet height in the image, when it shows

    def to_dict(self) -> dict[str, Any]:
        """The plan as :attr:`StreetLayout.street` records it."""
        record: dict[str, Any] = {
            "curb": self.curb,
            "lane_width": self.lane_width,
            "x_centre": self.x_centre,
            "x_left": self.x_left,
            "x_right": self.x_right,
            "z_end": self.z_end,
            "z_back": self.z_back,
            "cross_width": self.cross_width,
            "lanes": self.lanes,
            "yellow_centre": self.yellow_centre,
        }
        if self.hood is not None:
            record["hood"] = self.hood
        return record


@dataclass
class SidePlan:
    """One side of the street (``s`` = -1 left, +1 right): curb edge, verge, sidewalk, garden, facade line."""

    s: float
    edge: float
    verge: float
    walk: float
    garden: float
    facade: float
    gaps: list[Gap] = field(default_factory=list)

    def in_street_gap(self, z: float) -> bool:
        """True near a side street (nothing stands on the sidewalk there)."""
        return any(g0 - 1 <= z <= g1 + 1 for g0, g1, t in self.gaps if t == "street")


def sample_camera(rng: np.random.Generator) -> CameraPose:
    return CameraPose(
        height=rng.uniform(1.25, 1.6),
        focal=rng.uniform(0.78, 1.0),
        horizon=rng.uniform(0.38, 0.47),
        yaw=float(np.clip(rng.normal(0.0, 0.025), -0.06, 0.06)),
    )


def sample_street(rng: np.random.Generator) -> StreetPlan:
    """Lanes (2-4), the camera's lane, parking strips, the cross street at the end."""
    curb = rng.uniform(0.1, 0.16)
    lane_w = rng.uniform(3.0, 3.6)
    n_lanes = int(rng.choice([2, 2, 2, 3, 4]))
    n_right = max(1, n_lanes // 2)
    n_left = n_lanes - n_right
    cam_lane = int(rng.integers(0, n_right))
    x_centre = -(cam_lane + 0.5) * lane_w + rng.normal(0.0, 0.25)
    park = (rng.random() < 0.45, rng.random() < 0.55)  # parking strip left, right
    x_left = x_centre - n_left * lane_w - (2.2 if park[0] else 0.0)
    x_right = x_centre + n_right * lane_w + (2.2 if park[1] else 0.0)
    z_end = rng.uniform(70.0, 190.0)
    cross_w = rng.uniform(10.0, 16.0)
    z_back = z_end + cross_w + rng.uniform(3.0, 6.0)
    return StreetPlan(
        curb=curb,
        lane_width=lane_w,
        x_centre=x_centre,
        x_left=x_left,
        x_right=x_right,
        z_end=z_end,
        z_back=z_back,
        cross_width=cross_w,
        lanes=[x_centre + (i + 0.5) * lane_w for i in range(-n_left, n_right)],
        yellow_centre=bool(rng.random() < 0.2),
        n_left=n_left,
        park=(bool(park[0]), bool(park[1])),
    )


def sample_sides(rng: np.random.Generator, street: StreetPlan) -> dict[float, SidePlan]:
    """Each side from the curb out: verge (grass), sidewalk, front garden, then the facade line."""
    sides = {}
    for s, edge in ((-1.0, street.x_left), (1.0, street.x_right)):
        verge = rng.uniform(1.0, 2.5) if rng.random() < 0.25 else 0.0
        walk = rng.uniform(2.0, 5.0)
        garden = rng.uniform(2.0, 5.0) if rng.random() < 0.2 else 0.0
        sides[s] = SidePlan(s, edge, verge, walk, garden, edge + s * (verge + walk + garden))
    return sides


def place_buildings(
    b: SceneBuilder, rng: np.random.Generator, street: StreetPlan, sides: dict[float, SidePlan]
) -> None:
    """Buildings along both sides, with gaps (side street, park, lot) recorded in each side's plan."""
    curb, z_end = street.curb, street.z_end
    for s in (-1.0, 1.0):
        side = sides[s]
        z = rng.uniform(-14.0, -3.0)
        block_h = rng.uniform(7.0, 21.0)
        first = True
        while z < z_end - 4:
            if not first and rng.random() < 0.16:
                gw = rng.uniform(9.0, 20.0)
                gtype = ("street", "park", "lot")[int(rng.choice(3, p=[0.4, 0.35, 0.25]))]
                side.gaps.append((z, min(z + gw, z_end), gtype))
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
            xf = side.facade + s * setback
            depth = rng.uniform(12.0, 22.0)
            obj = b.obj(C.O_BUILDING, h, s, z, z1)
            b.group(max(z1, NEAR))
            mats = [C.M_WALLFACE] * 6
            mats[2 if s > 0 else 3] = C.M_FACADE
            b.box(xf, xf + s * depth, curb, h, z, z1, C.BUILDING, mats, obj, caster=True)
            z = z1


def place_backdrop(b: SceneBuilder, rng: np.random.Generator, street: StreetPlan) -> None:
    """A row of buildings (or a park) behind the cross street, and a distant skyline."""
    curb, z_back = street.curb, street.z_back
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
            b.poly(pts, C.VEGETATION, C.M_CANOPY, obj, TOWARD, aux=(xb + w / 2, 8.0, z_back + 4, w / 2))
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


def lay_ground(b: SceneBuilder, street: StreetPlan, sides: dict[float, SidePlan], ground_obj: int) -> None:
    """The ground, drawn first: sidewalks, the road and the cross street, curbs, verges, gardens, side streets."""
    curb, z_end, z_back, cross_w = street.curb, street.z_end, street.z_back, street.cross_width
    x_left, x_right = street.x_left, street.x_right
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
        TOWARD,
    )
    for s in (-1.0, 1.0):
        side = sides[s]
        e = side.edge
        segs = segments(-2.0, z_end, [(g0, g1) for g0, g1, t in side.gaps if t == "street"])
        x1 = e + s * side.verge
        x2 = x1 + s * side.walk
        x3 = x2 + s * side.garden
        for z0, z1 in segs:
            if side.verge:
                b.ground(e, x1, z0, z1, curb, C.TERRAIN, C.M_TERRAIN, ground_obj)
            if side.garden:
                b.ground(x2, x3, z0, z1, curb, C.TERRAIN, C.M_TERRAIN, ground_obj)
            b.poly(
                np.array([[e, 0.0, z0], [e, curb, z0], [e, curb, z1], [e, 0.0, z1]]),
                C.SIDEWALK,
                C.M_CURB,
                ground_obj,
                np.array([-s, 0.0, 0.0]),
            )
        for g0, g1, t in side.gaps:
            if t == "street":
                b.ground(e, s * far, g0, g1, 0.0, C.ROAD, C.M_ROAD, ground_obj)
            elif t == "park":
                b.ground(x2, x2 + s * 40.0, g0, g1, curb, C.TERRAIN, C.M_TERRAIN, ground_obj)


def paint_markings(b: SceneBuilder, rng: np.random.Generator, street: StreetPlan, obj: int) -> None:
    """Lane lines, a crossing and a stop line: paint on the road, labelled road."""
    lw = street.lane_width
    lanes = street.lanes
    z_end = street.z_end
    y = 0.0
    dash, period = (3.0, 9.0) if rng.random() < 0.6 else (6.0, 12.0)
    crossing = rng.random() < 0.6
    z_stop = z_end - (6.0 if crossing else 1.5)
    lines = [x - lw / 2 for x in lanes[1:]]
    for x in lines:
        centre = abs(x - street.x_centre) < 0.1
        width = 0.12 if not centre else 0.14
        if centre and (street.yellow_centre or rng.random() < 0.25):
            for off in (-0.12, 0.12) if street.yellow_centre else (0.0,):
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
        for x in (street.x_left + 0.3, street.x_right - 0.3):
            b.ground(x - 0.07, x + 0.07, 1.0, z_stop, y, C.ROAD, C.M_PAINT, obj)
    if crossing:
        z0, z1 = z_end - 4.8, z_end - 1.0
        x = street.x_left + 0.4
        while x < street.x_right - 0.6:
            b.ground(x, x + 0.5, z0, z1, y, C.ROAD, C.M_PAINT, obj)
            x += 1.0
    b.ground(street.x_centre, street.x_right - 0.2, z_stop - 0.45, z_stop, y, C.ROAD, C.M_PAINT, obj)
    if rng.random() < 0.15:  # a second, mid-block crossing
        zc = rng.uniform(14.0, min(45.0, z_end - 20))
        x = street.x_left + 0.4
        while x < street.x_right - 0.6:
            b.ground(x, x + 0.5, zc, zc + 3.5, y, C.ROAD, C.M_PAINT, obj)
            x += 1.0


def segments(z0: float, z1: float, holes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """``[z0, z1]`` minus the ``holes``."""
    out, z = [], z0
    for a, b in sorted(holes):
        if a > z:
            out.append((z, a))
        z = max(z, b)
    if z < z1:
        out.append((z, z1))
    return out
