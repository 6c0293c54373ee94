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
(``{"image": "<base64 PNG>", ...}``); :mod:`imsynth.serving.uploads` reads and checks them (400
for what is not a decodable image, 413 for too large, 422 for colours outside the label space),
within the limits of :class:`~imsynth.serving.limits.ServingLimits`.

Sizes: a layout of any size is accepted (each side at least ``min_side`` pixels, at most
``max_side``, at most ``max_pixels`` in all). The CRN runs at its own grid and resamples the
photographs, so they always come back at the layout's size -- as ``imsynth synthesize`` does.

Concurrency: the model runs on one dedicated thread (:mod:`imsynth.serving.worker`). Requests wait
for it in arrival order (at most ``max_waiting`` of them; more get 503), so the page, scripts and
several browser tabs can use one server without ever running the model twice at once; the queued
work of a client that disconnected is dropped.

Safety (:mod:`imsynth.serving.guard`): cross-site posts are refused, and with ``allowed_hosts``
(what ``imsynth serve`` passes on a loopback address) so is any other Host header (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from imsynth.data.labels import iter_class_histogram
from imsynth.inference.synthesizer import LayoutSynthesizer, load_synthesizer
from imsynth.runs import CheckpointError
from imsynth.serving.guard import RequestGuard
from imsynth.serving.limits import ServingLimits, check_size
from imsynth.serving.uploads import (
    Upload,
    option_bool,
    option_number,
    png_base64,
    read_upload,
    resize_ids,
    upload_to_ids,
)
from imsynth.serving.worker import ClientGone, ModelWorker

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

CLIENT_CLOSED = 499
"""Status recorded for a request whose client disconnected before its answer (nothing is sent)."""

FALLBACK_CANVAS = (256, 256)
"""Canvas size for a model that does not run at a fixed grid (the CRN does: its ``grid_size``)."""


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


# ------------------------------------------------------------------------------------ canvas size
def model_grid_size(synthesizer: LayoutSynthesizer) -> tuple[int, int]:
    """(height, width) the model runs at -- the painter's canvas size."""
    for owner in (synthesizer, getattr(synthesizer, "model", None)):
        size = getattr(owner, "grid_size", None)
        if size is not None:
            return int(size[0]), int(size[1])
    return FALLBACK_CANVAS


# ------------------------------------------------------------------------------------------- app
def create_app(
    synthesizer_or_checkpoint: LayoutSynthesizer | str | Path,
    limits: ServingLimits | None = None,
    *,
    device: str = "auto",
    allowed_hosts: Sequence[str] | None = None,
) -> FastAPI:
    """The painter app around a loaded synthesizer, or around a checkpoint it loads now (once).

    ``allowed_hosts``: the only Host header names accepted (``None``: any; ``imsynth serve`` passes
    :data:`~imsynth.serving.guard.LOOPBACK_HOSTS` when it listens on a loopback address).
    """
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
    app.state.worker = worker
    app.add_middleware(RequestGuard, allowed_hosts=allowed_hosts)
    app.mount("/static", StaticFiles(packages=[("imsynth.serving", "static")]), name="static")
    palette, info = _palette(space), _info(synthesizer, (height, width), limits)

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
        strict = option_bool(upload.options, "strict")
        tolerance = option_number(upload.options, "tolerance", float, 0.0, 442.0)
        tolerance = limits.default_tolerance if tolerance is None else tolerance
        return await asyncio.to_thread(upload_to_ids, upload.data, limits, space, strict=strict, tolerance=tolerance)

    @app.post("/api/decode")
    async def decode(request: Request) -> Response:
        """A label-map image (colours or ids) -> its exact colour map as a base64 PNG.

        Optional ``width`` and ``height`` resample the ids (nearest neighbour) to that size,
        as the painter does to load any map onto its canvas.
        """
        upload = await read_upload(request, limits)
        out_width = option_number(upload.options, "width", int, limits.min_side, limits.max_side)
        out_height = option_number(upload.options, "height", int, limits.min_side, limits.max_side)
        if await request.is_disconnected():
            return Response(status_code=CLIENT_CLOSED)
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
    async def synthesize(request: Request) -> Response:
        """A label-map image -> ``k`` photographs (base64 PNGs) at the layout's size."""
        upload = await read_upload(request, limits)
        variants = option_number(upload.options, "variants", int, 1, synthesizer.num_variants)
        if await request.is_disconnected():
            return Response(status_code=CLIENT_CLOSED)
        ids = await decode_upload(upload)
        started = time.perf_counter()
        try:
            photos = await worker.synthesize(ids, variants, request.is_disconnected)
        except ClientGone:
            return Response(status_code=CLIENT_CLOSED)
        seconds = time.perf_counter() - started
        if await request.is_disconnected():
            return Response(status_code=CLIENT_CLOSED)
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


def _color_hex(color: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


def _palette(space: Any) -> dict[str, Any]:
    """``GET /api/palette``: the train classes with their colours, and the void class."""
    void = next(c for c in space.classes if c.id == space.void_id)
    return {
        "label_space": space.name,
        "void": {"name": void.name, "id": void.id, "color": _color_hex(void.color), "rgb": list(void.color)},
        "classes": [
            {
                "name": c.name,
                "id": c.id,
                "train_id": c.train_id,
                "category": c.category,
                "color": _color_hex(c.color),
                "rgb": list(c.color),
            }
            for c in space.train_classes
        ],
    }


def _info(synthesizer: LayoutSynthesizer, grid: tuple[int, int], limits: ServingLimits) -> dict[str, Any]:
    """``GET /api/info``: the model and the limits."""
    return {
        "method": synthesizer.method,
        "step": int(synthesizer.step),
        "label_space": synthesizer.label_space.name,
        "num_classes": synthesizer.label_space.num_classes,
        "num_variants": int(synthesizer.num_variants),
        "height": grid[0],
        "width": grid[1],
        "limits": asdict(limits),
    }


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
