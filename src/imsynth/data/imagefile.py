"""Opening untrusted image files and uploads: the size is checked before any pixel is decoded.

:func:`open_image` is the one way imsynth's batch commands, label-map readers and the painter's
uploads open an image. It reads only the header first and refuses an image larger than a limit
(a decompression bomb costs nothing), restricts Pillow to a few formats, and turns *every*
failure of Pillow's parsers -- which raise ``OSError``, ``SyntaxError``, ``ValueError``,
``struct.error``, ``IndexError`` and more on malformed data -- into :class:`ImageReadError`, whose
message names the file and the problem. (Pillow's own ``DecompressionBombWarning`` may still be
printed for images between its threshold and twice that; ``imsynth`` silences it, since the limit
here decides.)
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from PIL import Image, UnidentifiedImageError

from imsynth.utils.io import describe_os_error

__all__ = ["IMAGE_FORMATS", "MAX_IMAGE_PIXELS", "ImageReadError", "ImageTooLargeError", "open_image"]

IMAGE_FORMATS = ("PNG", "BMP", "GIF", "TIFF", "JPEG", "WEBP")
"""The formats imsynth reads: Pillow does not even try its other decoders."""

MAX_IMAGE_PIXELS = 89_478_485
"""Largest image (width x height) the commands decode by default: Pillow's own bomb threshold,
about 9459 x 9459 pixels. Larger files are refused from their header, before decoding."""


class ImageReadError(ValueError):
    """An image that cannot be read: missing, not an image, corrupt or truncated."""


class ImageTooLargeError(ImageReadError):
    """An image whose header declares more pixels than allowed (a decompression bomb, or just huge)."""


def _too_large(name: str, size: tuple[int, int] | None, pixels: int, limit: int) -> ImageTooLargeError:
    shape = f"{size[0]}x{size[1]} pixels ({pixels:,})" if size else f"{pixels:,} pixels"
    return ImageTooLargeError(
        f"{name}: the image declares {shape}, over the limit of {limit:,} pixels (a decompression bomb, "
        "or an image too large to process); shrink it first"
    )


def _check_pixels(name: str, size: tuple[int, int], limit: int | None) -> None:
    if limit is not None and size[0] * size[1] > limit:
        raise _too_large(name, size, size[0] * size[1], limit)


@contextmanager
def open_image(
    source: str | Path | bytes,
    *,
    max_pixels: int | None = MAX_IMAGE_PIXELS,
    check_size: Callable[[tuple[int, int]], None] | None = None,
    formats: tuple[str, ...] = IMAGE_FORMATS,
    name: str | None = None,
) -> Iterator[Image.Image]:
    """Open a file (or bytes) as a fully loaded PIL image; closed when the block ends.

    ``check_size`` (given PIL's ``(width, height)``) replaces the ``max_pixels`` check and may raise
    its own errors; it runs on the header, before decoding, and again after. ``name`` labels the
    source in messages (default: the path, or "the upload").
    """
    label = name or (str(source) if not isinstance(source, bytes) else "the upload")
    with ExitStack() as stack:
        handle: IO[bytes]
        if isinstance(source, bytes):
            handle = io.BytesIO(source)
        else:
            try:
                handle = stack.enter_context(open(source, "rb"))
            except FileNotFoundError:
                raise ImageReadError(f"{label}: no such file") from None
            except OSError as exc:
                raise ImageReadError(f"{label}: cannot read the file ({describe_os_error(exc)})") from None
        head = handle.read(8)
        handle.seek(0)
        limit = max_pixels if check_size is None else None
        image = stack.enter_context(_parse(handle, label, head, formats, limit))
        size = image.size
        (check_size or (lambda s: _check_pixels(label, s, max_pixels)))(size)
        _decode(image, label)
        if image.size != size:  # a decoder may settle the final size only on load
            (check_size or (lambda s: _check_pixels(label, s, max_pixels)))(image.size)
        yield image


def _parse(handle: IO[bytes], label: str, head: bytes, formats: tuple[str, ...], limit: int | None) -> Image.Image:
    """``Image.open`` (header only) with every failure as an :class:`ImageReadError`."""
    try:
        return Image.open(handle, formats=formats)
    except Image.DecompressionBombError as exc:
        match = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(match.group(1)) if match else 0
        raise _too_large(label, None, pixels, limit or 2 * (Image.MAX_IMAGE_PIXELS or 0)) from None
    except UnidentifiedImageError:
        raise ImageReadError(
            f"{label}: not an image, or not one of the formats {', '.join(formats)} (it starts with {head!r})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - Pillow's header parsers raise many types on malformed data
        raise ImageReadError(f"{label}: the image header is corrupt ({_reason(exc)})") from None


def _decode(image: Image.Image, label: str) -> None:
    try:
        image.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{label}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - likewise for the pixel decoders
        raise ImageReadError(
            f"{label}: the {image.format or 'image'} data is corrupt or truncated and cannot be decoded "
            f"({_reason(exc)})"
        ) from None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, OSError) else f"{type(exc).__name__}: {text}"
