"""The embedded default dataset: procedurally rendered street scenes in Cityscapes label space.

For every seed the renderer produces a *layout* -- a map of Cityscapes labelIds -- and a
*photograph* of it, at any size. Layout and appearance are independent: :func:`render_layout`
decides geometry only (road, sidewalks, buildings, vegetation, poles, signs, traffic lights,
vehicles, people), :func:`render_photo` decides colours, textures, sun, weather and camera
settings, so one layout has many photos. Both are deterministic per seed and resolution
independent: the street is built in metres and projected into normalised image coordinates,
so a seed rendered at 64x128 and at 1024x2048 shows the same scene.

Modules: :mod:`.geometry` (camera, clipping), :mod:`.layout` (the street and its label map),
:mod:`.appearance` (weather, colours, camera settings), :mod:`.textures` (cached noise),
:mod:`.render` (the photo), :mod:`.export` (Cityscapes-format dataset writer).

>>> ids, photo = render_scene(7, 256, 512)                            # doctest: +SKIP
>>> write_streets_dataset("data/streets", {"train": 200, "val": 50})  # doctest: +SKIP
"""

from .export import ensure_streets_dataset, is_streets_dataset, write_streets_dataset
from .layout import StreetLayout, render_layout
from .render import render_photo, render_scene

__all__ = [
    "StreetLayout",
    "ensure_streets_dataset",
    "is_streets_dataset",
    "render_layout",
    "render_photo",
    "render_scene",
    "write_streets_dataset",
]
