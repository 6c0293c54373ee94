"""The painter: a small local web app that turns a drawn layout into photographs.

``create_app`` builds a FastAPI application around one :class:`LayoutSynthesizer` (a CRN, or any
layout -> photo model), loaded once when the app is created. It serves

* ``GET /`` -- the painter page (plain HTML/JS/CSS from ``imsynth/serving/static``), and
* a JSON API for the page and for scripts:

  ========================  ================================================================
  ``GET  /api/info``        model: method, step, label space, grid size, variants, limits
  ``GET  /api/palette``     the classes one can paint (name, id, colour) and the void colour
  ``POST /api/decode``      a label-map image -> its exact colour map (optionally resized)
  ``POST /api/synthesize``  a label-map image -> ``k`` photographs as base64 PNGs
  ========================  ================================================================

Uploads are either ``multipart/form-data`` (field ``file``, plus optional form fields) or JSON
(``{"image": "<base64 PNG>", ...}``). Every upload is checked before it is decoded: the request
body and the image file are limited in bytes (413), the image header's size in pixels (413; the
pixels are never decoded), the bytes must be an image (400), and its colours must be those of
the label space (422, with the decoder's message counting and naming the offending colours).

Sizes: a layout of any size is accepted (each side at least ``min_side`` pixels, at most
``max_side``, at most ``max_pixels`` in all). The CRN runs at its own grid and resamples the
photographs, so they always come back at the layout's size -- as ``imsynth synthesize`` does.

Concurrency: the model runs on one dedicated thread. Requests wait for it in arrival order
(at most ``max_waiting`` of them; more get 503), so the page, scripts and several browser tabs
can use one server without ever running the model twice at once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from imsynth.data.labels import DEFAULT_COLOR_TOLERANCE, LabelDecodeError, LabelSpace, iter_class_histogram
from imsynth.inference.synthesizer import LayoutSynthesizer, load_synthesizer
from imsynth.runs import CheckpointError

try:
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import HTMLResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("the painter needs the 'serve' extra: pip install 'imsynth[serve]'") from exc

__all__ = [
    "PACKAGED_CHECKPOINT",
    "ServingLimits",
    "background_server",
    "create_app",
    "load_packaged_synthesizer",
    "packaged_checkpoint",
]

PACKAGED_CHECKPOINT = "streets_crn_128x256.safetensors"
"""The small street-scene CRN shipped in ``imsynth/serving/assets`` (128x256, k=3)."""

IMAGE_FORMATS = ("PNG", "BMP", "GIF", "TIFF", "JPEG", "WEBP")
"""The only formats an upload may be in: Pillow does not even try its other decoders."""

FALLBACK_CANVAS = (256, 256)
"""Canvas size for a model that does not run at a fixed grid (the CRN does: its ``grid_size``)."""


# ---------------------------------------------------------------------------------------- limits
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


# ---------------------------------------------------------------------------- packaged checkpoint
def packaged_checkpoint() -> Traversable:
    """The packaged street-scene checkpoint; :class:`CheckpointError` if this install lacks it."""
    asset = resources.files("imsynth.serving").joinpath("assets", PACKAGED_CHECKPOINT)
    if not asset.is_file():
        raise CheckpointError(
            f"the packaged street-scene checkpoint (imsynth/serving/assets/{PACKAGED_CHECKPOINT}) is not "
            "installed; pass a trained model instead: imsynth serve --checkpoint RUN_DIR_OR_SAFETENSORS"
        )
    return asset


def load_packaged_synthesizer(device: str = "auto") -> LayoutSynthesizer:
    """Load the packaged checkpoint (extracted to a temporary file only if the package is zipped)."""
    with resources.as_file(packaged_checkpoint()) as path:
        return load_synthesizer(path, device)


# ---------------------------------------------------------------------------------- image helpers
def model_grid_size(synthesizer: LayoutSynthesizer) -> tuple[int, int]:
    """(height, width) the model runs at -- the painter's canvas size."""
    for owner in (synthesizer, getattr(synthesizer, "model", None)):
        size = getattr(owner, "grid_size", None)
        if size is not None:
            return int(size[0]), int(size[1])
    return FALLBACK_CANVAS


def open_upload(data: bytes, limits: ServingLimits) -> Image.Image:
    """Bytes -> a decoded PIL image, refusing non-images (400) and oversized images (413) first.

    ``Image.open`` reads only the header; the size check happens before any pixel is decoded,
    so a small file that claims a huge image (a decompression bomb) costs nothing.
    """
    if not data:
        raise HTTPException(400, "the upload is empty: send a label-map image (PNG)")
    if len(data) > limits.max_upload_bytes:
        raise HTTPException(
            413, f"the image file is {len(data):,} bytes; the limit is {limits.max_upload_bytes:,} bytes"
        )
    try:
        image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except Image.DecompressionBombError as exc:
        raise HTTPException(413, f"the image is too large to decode ({exc})") from None
    except UnidentifiedImageError:
        raise HTTPException(
            400,
            f"the upload is not an image (first bytes {data[:8]!r}); send a label map as "
            f"{', '.join(IMAGE_FORMATS)} (PNG preferred)",
        ) from None
    check_size(image.size, limits)
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise HTTPException(400, f"the {image.format} image could not be decoded: {exc}") from None
    check_size(image.size, limits)  # a decoder may settle the final size only on load
    return image


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


def decode_layout(image: Image.Image, space: LabelSpace, *, strict: bool, tolerance: float) -> np.ndarray:
    """Label-map image -> id map; unknown colours or ids raise :class:`LabelDecodeError`.

    ``strict`` (the painter's requests) accepts exact palette colours only: tolerance 0, no
    snapping of edge artefacts, no transparency -- a brush that anti-aliased would be caught here.
    Otherwise any form :meth:`LabelSpace.decode_image` reads is accepted (colour or id maps).
    """
    if not strict:
        return space.decode_image(image, tolerance=tolerance)
    rgba = np.asarray(image.convert("RGBA"))
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


def _option_bool(options: dict[str, Any], name: str) -> bool:
    value = options.get(name, False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise HTTPException(422, f"{name!r} must be true or false, got {value!r}")


def _option_number(options: dict[str, Any], name: str, kind: type, low: float, high: float) -> Any:
    """A numeric option in ``[low, high]``, or ``None`` when absent."""
    value = options.get(name)
    if value is None or value == "":
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise HTTPException(422, f"{name!r} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not low <= number <= high:
        raise HTTPException(422, f"{name!r} must be between {low:g} and {high:g}, got {value!r}")
    return number


# ---------------------------------------------------------------------------------------- worker
class ModelWorker:
    """Runs every model call on one dedicated thread; callers wait their turn in arrival order."""

    def __init__(self, synthesizer: LayoutSynthesizer, max_waiting: int) -> None:
        self.synthesizer = synthesizer
        self.max_waiting = max_waiting
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imsynth-model")
        self._waiting = 0
        self._lock = threading.Lock()  # guards the counter: a test client may run several event loops

    async def synthesize(self, ids: np.ndarray, variants: int | None) -> np.ndarray:
        with self._lock:
            if self._waiting >= self.max_waiting:
                raise HTTPException(
                    503,
                    f"the model is busy ({self._waiting} requests waiting); retry shortly",
                    headers={"Retry-After": "2"},
                )
            self._waiting += 1
        try:
            future = self._executor.submit(self.synthesizer.synthesize, ids, variants)
            return await asyncio.wrap_future(future)
        finally:
            with self._lock:
                self._waiting -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------------------------- app
def create_app(
    synthesizer_or_checkpoint: LayoutSynthesizer | str | Path,
    limits: ServingLimits | None = None,
    *,
    device: str = "auto",
) -> FastAPI:
    """The painter app around a loaded synthesizer, or around a checkpoint it loads now (once)."""
    limits = limits or ServingLimits()
    if isinstance(synthesizer_or_checkpoint, (str, Path)):
        synthesizer = load_synthesizer(synthesizer_or_checkpoint, device)
    else:
        synthesizer = synthesizer_or_checkpoint
    space = synthesizer.label_space
    height, width = model_grid_size(synthesizer)
    worker = ModelWorker(synthesizer, limits.max_waiting)
    page = resources.files("imsynth.serving").joinpath("static", "index.html").read_text(encoding="utf-8")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        worker.close()

    app = FastAPI(
        title="imsynth painter",
        version="1",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.synthesizer = synthesizer
    app.state.limits = limits
    app.mount("/static", StaticFiles(packages=[("imsynth.serving", "static")]), name="static")

    def color_hex(color: tuple[int, int, int]) -> str:
        return "#{:02x}{:02x}{:02x}".format(*color)

    void = next(c for c in space.classes if c.id == space.void_id)
    palette = {
        "label_space": space.name,
        "void": {"name": void.name, "id": void.id, "color": color_hex(void.color), "rgb": list(void.color)},
        "classes": [
            {
                "name": c.name,
                "id": c.id,
                "train_id": c.train_id,
                "category": c.category,
                "color": color_hex(c.color),
                "rgb": list(c.color),
            }
            for c in space.train_classes
        ],
    }
    info = {
        "method": synthesizer.method,
        "step": int(synthesizer.step),
        "label_space": space.name,
        "num_classes": space.num_classes,
        "num_variants": int(synthesizer.num_variants),
        "height": height,
        "width": width,
        "limits": asdict(limits),
    }

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return page

    @app.get("/api/info")
    def get_info() -> dict[str, Any]:
        """The model behind the painter: its method, training step, label space, grid size and k."""
        return info

    @app.get("/api/palette")
    def get_palette() -> dict[str, Any]:
        """The classes one can paint (train classes, with their exact colours) and the void colour."""
        return palette

    async def decode_upload(upload: Upload) -> np.ndarray:
        strict = _option_bool(upload.options, "strict")
        tolerance = _option_number(upload.options, "tolerance", float, 0.0, 442.0)
        tolerance = limits.default_tolerance if tolerance is None else tolerance

        def work() -> np.ndarray:
            image = open_upload(upload.data, limits)
            try:
                return decode_layout(image, space, strict=strict, tolerance=tolerance)
            except LabelDecodeError as exc:
                hint = "" if strict else " (over HTTP, the 'tolerance' field sets the colour tolerance)"
                raise HTTPException(422, f"the layout does not fit label space {space.name!r}: {exc}{hint}") from None

        return await asyncio.to_thread(work)

    @app.post("/api/decode")
    async def decode(request: Request) -> JSONResponse:
        """A label-map image (colours or ids) -> its exact colour map as a base64 PNG.

        Optional ``width`` and ``height`` resample the ids (nearest neighbour) to that size,
        as the painter does to load any map onto its canvas.
        """
        upload = await read_upload(request, limits)
        out_width = _option_number(upload.options, "width", int, limits.min_side, limits.max_side)
        out_height = _option_number(upload.options, "height", int, limits.min_side, limits.max_side)
        ids = await decode_upload(upload)
        source_height, source_width = ids.shape
        if out_width is not None or out_height is not None:
            size = (out_height or source_height, out_width or source_width)
            check_size((size[1], size[0]), limits)
            ids = resize_ids(ids, size)
        classes = [{"name": c.name, "id": c.id, "pixels": n} for c, n in iter_class_histogram(space, ids)]
        return JSONResponse(
            {
                "width": int(ids.shape[1]),
                "height": int(ids.shape[0]),
                "source_width": int(source_width),
                "source_height": int(source_height),
                "image": png_base64(space.colorize(ids)),
                "classes": classes,
            }
        )

    @app.post("/api/synthesize")
    async def synthesize(request: Request) -> JSONResponse:
        """A label-map image -> ``k`` photographs (base64 PNGs) at the layout's size."""
        upload = await read_upload(request, limits)
        variants = _option_number(upload.options, "variants", int, 1, synthesizer.num_variants)
        ids = await decode_upload(upload)
        started = time.perf_counter()
        photos = await worker.synthesize(ids, variants)
        seconds = time.perf_counter() - started
        encoded = await asyncio.to_thread(lambda: [png_base64(photo) for photo in photos])
        return JSONResponse(
            {
                "width": int(ids.shape[1]),
                "height": int(ids.shape[0]),
                "variants": encoded,
                "method": synthesizer.method,
                "step": int(synthesizer.step),
                "label_space": space.name,
                "seconds": round(seconds, 3),
            }
        )

    return app


@contextmanager
def background_server(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a background thread while the block runs; yields its URL.

    ``port=0`` picks a free port. The socket is bound before the thread starts, so the URL is
    valid at once and no other process can take the port in between. For tests, scripts and
    notebooks; ``imsynth serve`` runs uvicorn in the foreground instead.
    """
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="imsynth-painter", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the painter server did not start")
            time.sleep(0.02)
        bound_port = sock.getsockname()[1]
        yield f"http://{f'[{host}]' if family == socket.AF_INET6 else host}:{bound_port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
