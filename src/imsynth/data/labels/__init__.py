"""Label spaces and label maps: the space (classes, ids, train ids, colours, ignore id), decoding label-map
images, and the Cityscapes table. See :mod:`imsynth.data.labels.space`."""

from imsynth.data.labels.cityscapes import (
    CITYSCAPES,
    StoredLabelSpace,
    get_label_space,
    iter_class_histogram,
    label_space_to_store,
    stored_label_space,
)
from imsynth.data.labels.decode import DEFAULT_COLOR_TOLERANCE, MapKind
from imsynth.data.labels.errors import LabelDecodeError
from imsynth.data.labels.space import IGNORE_INDEX, LabelClass, LabelSpace

__all__ = [
    "CITYSCAPES",
    "DEFAULT_COLOR_TOLERANCE",
    "IGNORE_INDEX",
    "LabelClass",
    "LabelDecodeError",
    "LabelSpace",
    "MapKind",
    "StoredLabelSpace",
    "get_label_space",
    "iter_class_histogram",
    "label_space_to_store",
    "stored_label_space",
]
