"""Image sizes written as text: ``HEIGHTxWIDTH`` (``256x512``), the one spelling every command accepts."""

from __future__ import annotations

__all__ = ["parse_size"]


def parse_size(text: str) -> tuple[int, int]:
    """``"256x512"`` (any case, spaces ignored) -> ``(256, 512)``; a ``ValueError`` explains a bad one."""
    cleaned = str(text).lower().replace(" ", "")
    try:
        height, width = (int(v) for v in cleaned.split("x"))
    except ValueError:
        raise ValueError(f"{text!r} is not a size: write HEIGHTxWIDTH, e.g. 256x512") from None
    if height <= 0 or width <= 0:
        raise ValueError(f"{text!r}: height and width must be positive")
    return height, width
