"""Codes shared by the layout and the photo renderer: Cityscapes labelIds, materials, objects.

A layout is drawn as a list of *parts* (flat polygons). Every part carries a Cityscapes labelId
(what the label map says), a *material* (how the photo paints it) and the index of the *object*
it belongs to (so all faces of one car get one paint colour). Several materials share a label:
lane markings are ``ROAD``-labelled paint, wheels and windows are ``CAR``-labelled, and so on.
"""

from __future__ import annotations

# Cityscapes labelIds (gtFine_labelIds.png values).
UNLABELED = 0
EGO_VEHICLE = 1
ROAD = 7
SIDEWALK = 8
BUILDING = 11
WALL = 12
FENCE = 13
POLE = 17
TRAFFIC_LIGHT = 19
TRAFFIC_SIGN = 20
VEGETATION = 21
TERRAIN = 22
SKY = 23
PERSON = 24
RIDER = 25
CAR = 26
TRUCK = 27
BUS = 28
BICYCLE = 33

LABEL_IDS: frozenset[int] = frozenset(
    {
        UNLABELED,
        EGO_VEHICLE,
        ROAD,
        SIDEWALK,
        BUILDING,
        WALL,
        FENCE,
        POLE,
        TRAFFIC_LIGHT,
        TRAFFIC_SIGN,
        VEGETATION,
        TERRAIN,
        SKY,
        PERSON,
        RIDER,
        CAR,
        TRUCK,
        BUS,
        BICYCLE,
    }
)
"""Every labelId the renderer may write."""

# Materials (how a part is painted in the photo).
M_SKY = 0
M_ROAD = 1
M_PAINT = 2  # lane markings, crossings (labelled road)
M_SIDEWALK = 3
M_CURB = 4
M_TERRAIN = 5
M_FACADE = 6  # street front of a building: windows, floors
M_WALLFACE = 7  # plain building walls (gables, party walls)
M_CANOPY = 8
M_HEDGE = 9
M_TRUNK = 10
M_METAL = 11  # poles, lamp arms
M_SIGN = 12  # sign plate, outer colour
M_SIGN_INNER = 13
M_SIGN_BACK = 14
M_TL_BOX = 15
M_TL_LAMP = 16  # aux[0] = lamp slot 0 (top) .. 2 (bottom)
M_BODY = 17  # vehicle paint
M_GLASS = 18
M_TYRE = 19
M_TAIL = 20
M_HEAD = 21
M_PLATE = 22
M_UNDER = 23  # dark underbody gap
M_SKIN = 24
M_TOP = 25  # upper clothes
M_BOTTOM = 26  # trousers, skirts
M_HAIR = 27
M_WALL = 28  # free-standing walls (labelled wall)
M_FENCE = 29
M_EGO = 30
M_FRAME = 31  # bicycle frame
M_SPOKES = 32  # the see-through inside of a bicycle wheel
M_LUMINAIRE = 33
NUM_MATERIALS = 34

GROUND_MATERIALS: tuple[int, ...] = (M_ROAD, M_PAINT, M_SIDEWALK, M_CURB, M_TERRAIN)
"""Materials that receive cast shadows."""

# Object classes (index into the per-object appearance draws).
O_NONE = 0
O_GROUND = 1
O_BUILDING = 2
O_TREE = 3
O_HEDGE = 4
O_POLE = 5
O_SIGN = 6
O_LIGHT = 7
O_CAR = 8
O_PERSON = 9
O_WALL = 10
O_FENCE = 11
O_BICYCLE = 12
O_EGO = 13
