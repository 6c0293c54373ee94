"""Placing the things in a sampled street, stage by stage: what fills the gaps between buildings, street
trees, lamps, signs, traffic lights, vehicles, people, bicycles and the ego vehicle's bonnet.

Every stage draws from the layout stream ``rng`` in a fixed order (see :mod:`~imsynth.data.streets.scene`).
"""

from __future__ import annotations

import numpy as np

from . import classes as C
from .builder import SceneBuilder
from .furniture import add_hedge, add_lamp, add_person, add_sign, add_traffic_light, add_tree
from .geometry import NEAR
from .scene import SidePlan, StreetPlan
from .vehicles import VEHICLES, add_bicycle, add_vehicle, pick_car

__all__ = ["populate"]

Sides = dict[float, SidePlan]


def populate(b: SceneBuilder, rng: np.random.Generator, street: StreetPlan, sides: Sides) -> None:
    """Everything that stands in the street, in the order the layout stream decides it."""
    fill_gaps(b, rng, street, sides)
    plant_street_trees(b, rng, street, sides)
    place_lamps(b, rng, street, sides)
    place_signs(b, rng, street, sides)
    place_traffic_lights(b, rng, street, sides)
    place_vehicles(b, rng, street)
    place_people(b, rng, street, sides)
    place_bicycles(b, rng, street, sides)
    place_hood(b, rng, street)


def fill_gaps(b: SceneBuilder, rng: np.random.Generator, street: StreetPlan, sides: Sides) -> None:
    """A building set back along a side street, trees and hedges in a park, a wall or fence in a lot."""
    curb, z_end = street.curb, street.z_end
    for s in (-1.0, 1.0):
        side = sides[s]
        x2 = side.edge + s * (side.verge + side.walk)
        for g0, g1, t in side.gaps:
            if t == "street":
                zz = rng.uniform(g0 - 3, g0 + 2)
                h = rng.uniform(8, 25)
                xo = side.facade + s * rng.uniform(25, 45)
                obj = b.obj(C.O_BUILDING, h, s, zz, g1 + 8)
                b.group(g1 + 8)
                mats = [C.M_WALLFACE] * 6
                mats[2 if s > 0 else 3] = C.M_FACADE
                b.box(xo, xo + s * 15, 0.0, h, zz, g1 + 8, C.BUILDING, mats, obj)
            elif t == "park":
                for _ in range(int(rng.integers(1, 5))):
                    add_tree(
                        b,
                        rng,
                        x2 + s * rng.uniform(2, 14),
                        curb,
                        rng.uniform(g0 + 1, g1 - 1),
                        big=rng.uniform(1.0, 1.6),
                    )
                if rng.random() < 0.5:
                    add_hedge(b, rng, x2 + s * 0.5, g0, g1, curb, s)
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
                    xo = side.facade + s * rng.uniform(10, 20)
                    objb = b.obj(C.O_BUILDING, hh, s, g0, g1)
                    b.group(g1 + 1)
                    mats = [C.M_WALLFACE] * 6
                    mats[2 if s > 0 else 3] = C.M_FACADE
                    b.box(xo, xo + s * 12, curb, hh, g0 - 2, g1 + 2, C.BUILDING, mats, objb)
        if side.garden and rng.random() < 0.6:
            add_hedge(b, rng, x2 + s * 0.45, rng.uniform(-2, 10), z_end - rng.uniform(0, 40), curb, s)


def plant_street_trees(b: SceneBuilder, rng: np.random.Generator, street: StreetPlan, sides: Sides) -> None:
    """A row of trees along one or both curbs."""
    curb, z_end = street.curb, street.z_end
    if rng.random() < 0.6:
        which = [(-1.0, 1.0), (-1.0,), (1.0,)][int(rng.integers(3))]
        spacing = rng.uniform(7.0, 14.0)
        for s in which:
            side = sides[s]
            x = side.edge + s * (side.verge / 2 if side.verge else rng.uniform(0.6, 1.0))
            z = rng.uniform(2.0, 10.0)
            stop = z_end * rng.uniform(0.5, 0.95)
            big = rng.uniform(0.85, 1.3)
            while z < stop:
                if rng.random() < 0.88 and not side.in_street_gap(z):
                    add_tree(b, rng, x + rng.normal(0, 0.1), curb, z, big)
                z += spacing * rng.uniform(0.85, 1.15)


def place_lamps(b: SceneBuilder, rng: np.random.Generator, street: StreetPlan, sides: Sides) -> None:
    """Street lamps along one curb."""
    curb, z_end = street.curb, street.z_end
    if rng.random() < 0.7:
        s = 1.0 if rng.random() < 0.6 else -1.0
        side = sides[s]
        x = side.edge + s * 0.45
        z = rng.uniform(5.0, 25.0)
        gap = rng.uniform(22.0, 38.0)
        while z < z_end - 5:
            if not side.in_street_gap(z):
                add_lamp(b, rng, x, curb, z, s)
            z += gap


def place_signs(b: SceneBuilder, rng: np.random.Generator, street: StreetPlan, sides: Sides) -> None:
    """Up to four traffic signs on the sidewalks."""
    curb, z_end = street.curb, street.z_end
    for _ in range(int(rng.integers(0, 5))):
        s = 1.0 if rng.random() < 0.65 else -1.0
        side = sides[s]
        z = rng.uniform(6.0, min(70.0, z_end - 5))
        if not side.in_street_gap(z):
            add_sign(b, rng, side.edge + s * rng.uniform(0.35, 0.7), curb, z)


def place_traffic_lights(b: SceneBuilder, rng: np.random.Generator, street: StreetPlan, sides: Sides) -> None:
    """Traffic lights at the cross street."""
    curb, z_end = street.curb, street.z_end
    if rng.random() < 0.7:
        zl = z_end - rng.uniform(0.5, 2.0)
        for s in (1.0, -1.0):
            if s < 0 and rng.random() < 0.4:
                continue
            side = sides[s]
            add_traffic_light(b, rng, side.edge + s * 0.6, curb, zl, s, overhead=bool(s > 0 and rng.random() < 0.4))


def place_vehicles(b: SceneBuilder, rng: np.random.Generator, street: StreetPlan) -> None:
    """Parked cars along the curbs, traffic in the lanes and on the cross street."""
    x_left, x_right, z_end, cross_w, park = street.x_left, street.x_right, street.z_end, street.cross_width, street.park
    n_left = street.n_left
    for s in (-1.0, 1.0):
        lane_pos = x_left + 1.1 if s < 0 else x_right - 1.1
        if park[0 if s < 0 else 1] or rng.random() < 0.2:
            z = rng.uniform(2.5, 12.0)
            while z < z_end - 12:
                if rng.random() < 0.6:
                    kind = pick_car(rng, allow_big=False)
                    heading = 0 if (s > 0 or rng.random() < 0.3) else 1
                    z0, z1 = add_vehicle(b, rng, kind, lane_pos + rng.normal(0, 0.08), z, heading)
                    z = z1 + rng.uniform(0.8, 4.0)
                else:
                    z += rng.uniform(5.0, 20.0)
    for i, xl in enumerate(street.lanes):
        oncoming = i < n_left
        occupied: list[tuple[float, float]] = []
        for _ in range(int(rng.poisson(1.0))):
            kind = pick_car(rng, allow_big=True)
            z = rng.uniform(6.0 if abs(xl) > 1.0 else 9.0, z_end - 8)
            L = VEHICLES[kind][1] + 1.5
            if any(not (z + L < a - 2 or z > b2 + 2) for a, b2 in occupied):
                continue
            occupied.append((z, z + L))
            add_vehicle(b, rng, kind, xl + rng.normal(0, 0.25), z, 1 if oncoming else 0)
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 3))):
            heading = 2 if rng.random() < 0.5 else 3
            zc = z_end + (cross_w * 0.3 if heading == 3 else cross_w * 0.62) - 0.9
            add_vehicle(b, rng, pick_car(rng, allow_big=True), rng.uniform(-25, 25), zc, heading)


def place_people(b: SceneBuilder, rng: np.random.Generator, street: StreetPlan, sides: Sides) -> None:
    """Pedestrians on the sidewalks, a group waiting at the crossing, people crossing."""
    curb, z_end, x_left, x_right = street.curb, street.z_end, street.x_left, street.x_right
    for s in (-1.0, 1.0):
        side = sides[s]
        x_in = side.edge + s * (side.verge + 0.4)
        x_out = side.edge + s * (side.verge + side.walk - 0.4)
        for _ in range(int(rng.poisson(2.2))):
            z = 3.0 + rng.exponential(18.0)
            if z < z_end - 2:
                add_person(b, rng, rng.uniform(min(x_in, x_out), max(x_in, x_out)), curb, z)
        if rng.random() < 0.3:
            z = z_end - rng.uniform(1, 3)
            for _ in range(int(rng.integers(1, 4))):
                add_person(b, rng, side.edge + s * rng.uniform(0.5, 2.0), curb, z + rng.uniform(-1, 1))
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 5))):
            add_person(b, rng, rng.uniform(x_left + 1, x_right - 1), 0.0, z_end - rng.uniform(1.5, 4.0))


def place_bicycles(b: SceneBuilder, rng: np.random.Generator, street: StreetPlan, sides: Sides) -> None:
    """Bicycles parked along a curb, or a cyclist crossing."""
    curb, z_end, x_left, x_right = street.curb, street.z_end, street.x_left, street.x_right
    if rng.random() < 0.25:
        s = 1.0 if rng.random() < 0.5 else -1.0
        side = sides[s]
        z = rng.uniform(6.0, 30.0)
        for _ in range(int(rng.integers(1, 4))):
            add_bicycle(b, rng, side.edge + s * (side.verge + 0.5), curb, z, along_z=True, rider=False)
            z += rng.uniform(0.6, 1.5)
    if rng.random() < 0.2:
        add_bicycle(
            b,
            rng,
            rng.uniform(x_left + 1, x_right - 1),
            0.0,
            rng.uniform(10.0, min(40.0, z_end - 5)),
            along_z=False,
            rider=True,
        )


def place_hood(b: SceneBuilder, rng: np.random.Generator, street: StreetPlan) -> None:
    """The ego vehicle's bonnet, in image coordinates."""
    if rng.random() < 0.35:
        hood = rng.uniform(0.05, 0.11)
        curve = rng.uniform(0.4, 0.8)
        u = np.linspace(-0.02, 1.02, 25)
        v = 1.0 - hood * (1.0 - curve * ((u - 0.5) / 0.55) ** 2)
        pts = np.concatenate([np.stack([u, v], 1), [[1.02, 1.02], [-0.02, 1.02]]])
        obj = b.obj(C.O_EGO, hood)
        b.group(-1e9)
        b.poly(pts, C.EGO_VEHICLE, C.M_EGO, obj, np.array([0.0, 1.0, 0.0]))
        street.hood = float(hood)
