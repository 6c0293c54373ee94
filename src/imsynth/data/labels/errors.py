"""The error of label maps that do not fit their label space."""


class LabelDecodeError(ValueError):
    """A label map that cannot be decoded into the label space (unknown colours or ids)."""
