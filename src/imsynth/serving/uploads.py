"""Reading an upload: the request body, its image (multipart or JSON), its options and its layout.

Every upload is checked before it is decoded: the request body and the image file are limited in
bytes (413), the image header's size in pixels (413; the pixels are never decoded), the bytes
must be an image that decodes (400, naming the problem; every failure of Pillow's parsers is
caught by :func:`~imsynth.data.imagefile.open_image`), and its colours must be those of the
label space (422, with the decoder's message counting and naming the offending colours).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import HTTPException, Request
from PIL import Image

from imsynth.data.imagefile import IMAGE_FORMATS, ImageReadError, ImageTooLargeError, open_image
from imsynth.data.labels import LabelDecodeError, LabelSpace
from imsynth.serving.limits import ServingLimits, check_size

__all__ = [
    "Upload",
    "decode_layout",
    "upload_to_ids",
    "option_bool",
    "option_number",
    "png_base64",
    "read_upload",
    "resize_ids",
]


# ----------------------------------------------------------------------------------- request body
@dataclass
class Upload:
    """An uploaded image and the options sent with it (form fields or JSON keys, as strings or JSON)."""

    data: bytes
    options: dict[str, Any]


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it exceeds ``max_bytes`` (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(413, f"the request is {int(declared):,} bytes; the limit is {max_bytes:,} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise HTTPException(413, f"the request exceeds the limit of {max_bytes:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_upload(request: Request, limits: ServingLimits) -> Upload:
    """Parse a multipart (field ``file``) or JSON (key ``image``, base64) upload."""
    body = await read_body(request, limits.max_request_bytes)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return await _multipart_upload(request, body)
    if content_type == "application/json":
        return _json_upload(body)
    raise HTTPException(
        415,
        f"unsupported content type {content_type or '(none)'!r}: send multipart/form-data with a 'file' "
        "field, or application/json with an 'image' key holding a base64 PNG",
    )


async def _multipart_upload(request: Request, body: bytes) -> Upload:
    async def replay() -> dict[str, Any]:  # hand the already-read (size-checked) body to the form parser
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=16)
    except HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is the client's malformed request
        raise HTTPException(400, f"malformed multipart request: {exc}") from None
    options: dict[str, Any] = {}
    data = None
    for name, value in form.multi_items():
        if isinstance(value, str):
            options[name] = value
        elif name in ("file", "image"):
            data = await value.read()
    await form.close()
    if data is None:
        raise HTTPException(400, "the multipart request has no 'file' field holding the label-map image")
    return Upload(data, options)


def _json_upload(body: bytes) -> Upload:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"the request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("image"), str):
        raise HTTPException(400, "the JSON body needs an 'image' key holding a base64-encoded PNG")
    text = payload.pop("image")
    if text.startswith("data:"):  # a data URL, as canvas.toDataURL() gives
        text = text.partition(",")[2]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise HTTPException(400, f"'image' is not valid base64: {exc}") from None
    return Upload(data, payload)


# ---------------------------------------------------------------------------------------- options
def option_bool(options: dict[str, Any], name: str) -> bool:
    value = options.get(name, False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise HTTPException(422, f"{name!r} must be true or false, got {value!r}")


def option_number(options: dict[str, Any], name: str, kind: type, low: float, high: float) -> Any:
    """A numeric option in ``[low, high]``, or ``None`` when absent (NaN is out of every range)."""
    value = options.get(name)
    if value is None or value == "":
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise HTTPException(422, f"{name!r} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not low <= number <= high:
        raise HTTPException(422, f"{name!r} must be between {low:g} and {high:g}, got {value!r}")
    return number


# ------------------------------------------------------------------------------------------ image
def upload_to_ids(
    data: bytes, limits: ServingLimits, space: LabelSpace, *, strict: bool, tolerance: float
) -> np.ndarray:
    """Image bytes -> id map: 400 for what is not a decodable image, 413 when too large, 422 for wrong colours.

    The size is checked from the header before any pixel is decoded, so a small file that claims
    a huge image (a decompression bomb) costs nothing.
    """
    if not data:
        raise HTTPException(400, "the upload is empty: send a label-map image (PNG)")
    if len(data) > limits.max_upload_bytes:
        raise HTTPException(
            413, f"the image file is {len(data):,} bytes; the limit is {limits.max_upload_bytes:,} bytes"
        )
    try:
        with open_image(data, check_size=lambda size: check_size(size, limits)) as image:
            return decode_layout(image, space, strict=strict, tolerance=tolerance)
    except ImageTooLargeError as exc:
        raise HTTPException(413, str(exc)) from None
    except ImageReadError as exc:
        raise HTTPException(400, f"{exc}; send a label map as {', '.join(IMAGE_FORMATS)} (PNG preferred)") from None
    except LabelDecodeError as exc:
        hint = "" if strict else " (over HTTP, the 'tolerance' field sets the colour tolerance)"
        raise HTTPException(422, f"the layout does not fit label space {space.name!r}: {exc}{hint}") from None


def decode_layout(image: Image.Image, space: LabelSpace, *, strict: bool, tolerance: float) -> np.ndarray:
    """Label-map image -> id map; unknown colours or ids raise :class:`LabelDecodeError`.

    ``strict`` (the painter's requests) accepts exact palette colours only: tolerance 0, no
    snapping of edge artefacts, no transparency -- a brush that anti-aliased would be caught here.
    Otherwise any form :meth:`LabelSpace.decode_image` reads is accepted (colour or id maps).
    """
    try:
        if not strict:
            return space.decode_image(image, tolerance=tolerance)
        rgba = np.asarray(image.convert("RGBA"))
    except LabelDecodeError:
        raise
    except (ValueError, OSError) as exc:  # a pixel format Pillow cannot convert (rare TIFF modes)
        raise LabelDecodeError(f"its pixel format ({image.mode}) cannot be read as a label map ({exc})") from None
    translucent = int((rgba[..., 3] != 255).sum())
    if translucent:
        raise LabelDecodeError(f"{translucent} pixels are not fully opaque; a painted layout must be opaque")
    return space.decode_colors(rgba[..., :3], tolerance=0.0, max_artefact_fraction=0.0)


def resize_ids(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resampling of an id map to (height, width): ids stay ids."""
    height, width = size
    if ids.shape == (height, width):
        return ids
    return np.asarray(Image.fromarray(ids).resize((width, height), Image.Resampling.NEAREST))


def png_base64(array: np.ndarray) -> str:
    """uint8 HxW(x3) array -> base64 text of its PNG file."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
