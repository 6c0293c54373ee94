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

The stages: :mod:`~imsynth.data.streets.scene` samples the street plan and its structures,
:mod:`~imsynth.data.streets.populate` places the things in it (built from
:mod:`~imsynth.data.streets.vehicles` and :mod:`~imsynth.data.streets.furniture` through the
:class:`~imsynth.data.streets.builder.SceneBuilder`), :mod:`~imsynth.data.streets.rasterise` draws it.

The photo renderer (:mod:`~imsynth.data.streets.render`) paints the same part map, so the layout
keeps the part table, the camera and the convex shadow casters of every object; nothing in it
depends on the sun or on colours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import classes as C
from .builder import SceneBuilder
from .geometry import Camera
from .populate import populate
from .rasterise import freeze, rasterise
from .scene import (
    CameraPose,
    StreetPlan,
    lay_ground,
    paint_markings,
    place_backdrop,
    place_buildings,
    sample_camera,
    sample_sides,
    sample_street,
)

__all__ = [
    "StreetLayout",
    "check_size",
    "check_seed",
    "layout_rng",
    "sample_scene",
    "render_layout",
    "MIN_HEIGHT",
    "MIN_WIDTH",
]

MIN_HEIGHT = 16
MIN_WIDTH = 32
MAX_SIDE = 8192


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


def sample_scene(rng: np.random.Generator) -> tuple[SceneBuilder, StreetPlan, CameraPose]:
    """Draw a whole street from ``rng``; independent of the image size."""
    cam = sample_camera(rng)
    b = SceneBuilder(cam.height)
    street = sample_street(rng)
    ground_obj = b.obj(C.O_GROUND)
    sides = sample_sides(rng, street)
    place_buildings(b, rng, street, sides)
    place_backdrop(b, rng, street)
    lay_ground(b, street, sides, ground_obj)
    paint_markings(b, rng, street, ground_obj)
    populate(b, rng, street, sides)
    return b, street, cam


def layout_rng(seed: int) -> np.random.Generator:
    """The random stream of a layout seed (independent of the appearance stream)."""
    return np.random.default_rng(np.random.SeedSequence([check_seed(seed), 0x57EE7, 1]))


def render_layout(seed: int, height: int, width: int) -> StreetLayout:
    """Sample the street of ``seed`` and rasterise it at ``height x width`` pixels."""
    height, width = check_size(height, width)
    seed = check_seed(seed)
    b, street, cam = sample_scene(layout_rng(seed))
    camera = Camera(height=cam.height, focal=cam.focal, horizon=cam.horizon, yaw=cam.yaw, aspect=width / height)
    r = rasterise(b, camera, height, width)
    ids = r["label"][r["parts"]]
    return StreetLayout(
        ids=freeze(ids),
        parts=freeze(r["parts"]),
        part_label=freeze(r["label"]),
        part_material=freeze(r["material"]),
        part_obj=freeze(r["obj"]),
        part_normal=freeze(r["normal"]),
        part_offset=freeze(r["offset"]),
        part_depth=freeze(r["depth"]),
        part_aux=freeze(r["aux"]),
        obj_class=freeze(np.asarray(b.obj_class, np.uint8)),
        obj_attr=freeze(np.asarray(b.obj_attr, np.float32).reshape(-1, 4)),
        casters=tuple(b.casters),
        contacts=tuple(b.contacts),
        camera=camera,
        street=street.to_dict(),
        seed=seed,
    )
