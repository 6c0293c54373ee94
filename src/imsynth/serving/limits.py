"""What one request may ask of the painter server: bytes, pixels, sides and places in the queue."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException

from imsynth.data.labels import DEFAULT_COLOR_TOLERANCE

__all__ = ["ServingLimits", "check_size"]


@dataclass(frozen=True)
class ServingLimits:
    """What one request may ask of the server."""

    max_upload_bytes: int = 10 * 1024 * 1024
    """Largest image file (after base64 decoding for JSON requests)."""
    max_pixels: int = 4_000_000
    """Largest layout, width x height, read from the image header before decoding."""
    min_side: int = 16
    """Smallest layout side: below it a layout has too little room for any class."""
    max_side: int = 8192
    """Longest layout side (keeps extreme aspect ratios such as 16 x 250000 out)."""
    max_waiting: int = 32
    """Requests that may wait for the model at once; one more is refused with 503."""
    default_tolerance: float = DEFAULT_COLOR_TOLERANCE
    """Colour tolerance of uploads that do not ask for ``strict`` (exact) colours."""

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_pixels", "min_side", "max_side", "max_waiting"):
            if getattr(self, name) < 1:
                raise ValueError(f"ServingLimits.{name} must be >= 1, got {getattr(self, name)}")
        if self.min_side > self.max_side:
            raise ValueError(f"ServingLimits.min_side ({self.min_side}) exceeds max_side ({self.max_side})")

    @property
    def max_request_bytes(self) -> int:
        """Largest request body: the image as base64 (4/3 of its bytes) plus room for the other fields."""
        return self.max_upload_bytes * 4 // 3 + 64 * 1024


def check_size(size: tuple[int, int], limits: ServingLimits) -> None:
    """Raise 413 for a layout that is too large and 422 for one that is too small (``size``: PIL's width, height)."""
    width, height = size
    if width * height > limits.max_pixels or max(width, height) > limits.max_side:
        raise HTTPException(
            413,
            f"the layout is {height}x{width} pixels (height x width); the limit is {limits.max_pixels:,} "
            f"pixels and {limits.max_side} per side",
        )
    if min(width, height) < limits.min_side:
        raise HTTPException(
            422,
            f"the layout is {height}x{width} pixels (height x width); each side must be at least "
            f"{limits.min_side} pixels",
        )
