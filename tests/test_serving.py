"""The painter's HTTP API: layouts in, photographs out, and every bad upload refused clearly.

A tiny CRN (2 training steps at 32x64, k=3, with noise inputs so the seed matters) stands in for the
packaged street-scene model.
"""

from __future__ import annotations

import base64
import io
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi", reason="the painter needs the 'serve' extra (fastapi, uvicorn, python-multipart)")
pytest.importorskip("multipart", reason="the painter needs python-multipart")
pytest.importorskip("fastapi_offline", reason="the painter needs the 'serve' extra (fastapi-offline)")
from fastapi.testclient import TestClient  # noqa: E402

from conftest import make_cityscapes_tree  # noqa: E402
from imsynth.data.labels import CITYSCAPES  # noqa: E402
from imsynth.serving import app as serving  # noqa: E402
from imsynth.serving.app import ServingLimits, create_app  # noqa: E402

HEIGHT, WIDTH, K = 32, 64, 3
ROAD, SKY, CAR = CITYSCAPES.id_of("road"), CITYSCAPES.id_of("sky"), CITYSCAPES.id_of("car")


def train_tiny_crn(folder: Path) -> Path:
    """Two training steps of a 32x64 CRN with k=3 variants and noise inputs; returns the run folder."""
    from imsynth.data.datasets import CityscapesPairs
    from imsynth.methods.crn import CRNDataConfig, CRNMethod, CRNMethodConfig, PerceptualLossConfig
    from imsynth.models.crn import CRNConfig
    from imsynth.training import TrainConfig, Trainer

    torch.set_num_threads(1)
    root = folder / "cityscapes"
    make_cityscapes_tree(root, 2, size=(HEIGHT, WIDTH), split="train")
    config = CRNMethodConfig(
        model=CRNConfig(height=HEIGHT, width=WIDTH, num_variants=K, width_multiplier=1 / 64, noise_channels=2),
        loss=PerceptualLossConfig(backbone="efficientnet_lite0"),
        data=CRNDataConfig(root=str(root)),
    )
    out = folder / "run"
    train = TrainConfig(
        out_dir=out,
        max_steps=2,
        log_every=1,
        sample_every=1000,
        checkpoint_every=2,
        progress=False,
        tensorboard=False,
        device="cpu",
    )
    Trainer(CRNMethod(config), train, CityscapesPairs(root, "train", size=(HEIGHT, WIDTH))).fit()
    return out


def street_layout(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """Sky above, road below, a car on the road: an id map."""
    ids = np.full((height, width), ROAD, np.uint8)
    ids[: height // 2] = SKY
    ids[height // 2 : height // 2 + height // 4, width // 4 : width // 2] = CAR
    return ids


def png_bytes(array: np.ndarray | Image.Image) -> bytes:
    image = array if isinstance(array, Image.Image) else Image.fromarray(array)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def header_only_png(width: int, height: int) -> bytes:
    """A PNG of signature, IHDR and IEND only: it claims a size but holds no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def post_png(client: TestClient, data: bytes, **fields: str):
    return client.post("/api/synthesize", files={"file": ("layout.png", data, "image/png")}, data=fields)


def decode_png(text: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return train_tiny_crn(tmp_path_factory.mktemp("painter"))


@pytest.fixture(scope="module")
def client(checkpoint) -> TestClient:
    with TestClient(create_app(checkpoint, device="cpu")) as client:
        yield client


def limited_client(client: TestClient, **limits) -> TestClient:
    """A second app around the already-loaded model, with other limits."""
    return TestClient(create_app(client.app.state.synthesizer, ServingLimits(**limits)))


# ------------------------------------------------------------------------------- info and page
def test_info_describes_the_model(client):
    info = client.get("/api/info").json()
    assert info["method"] == "crn" and info["step"] == 2
    assert (info["height"], info["width"], info["num_variants"]) == (HEIGHT, WIDTH, K)
    assert info["label_space"] == "cityscapes" and info["num_classes"] == 19
    assert info["limits"]["max_upload_bytes"] == 10 * 1024 * 1024 and info["limits"]["max_pixels"] == 4_000_000


def test_palette_lists_the_paintable_classes_with_exact_colours(client):
    palette = client.get("/api/palette").json()
    assert [c["name"] for c in palette["classes"]] == CITYSCAPES.train_names
    road = next(c for c in palette["classes"] if c["name"] == "road")
    assert road == {
        "name": "road",
        "id": 7,
        "train_id": 0,
        "category": "flat",
        "color": "#804080",
        "rgb": [128, 64, 128],
    }
    assert palette["void"] == {"name": "unlabeled", "id": 0, "color": "#000000", "rgb": [0, 0, 0]}


def test_page_and_its_files_are_served_locally_without_a_cdn(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and "static/painter.js" in page.text
    static = Path(serving.__file__).parent / "static"
    names = sorted(p.name for p in static.iterdir() if p.suffix in (".js", ".css"))
    assert {"painter.js", "painter.css", "live.js", "raster.js"} <= set(names)
    texts = [page.text]
    for name in names:
        response = client.get(f"/static/{name}")
        assert response.status_code == 200, name
        texts.append(response.text)
        assert len(response.text.splitlines()) < 400, f"{name}: split it (modules under ~400 lines)"
    for text in texts:
        assert "http://" not in text and "https://" not in text  # nothing is fetched from elsewhere
    assert "image-rendering: pixelated" in client.get("/static/painter.css").text


# -------------------------------------------------------------------------------- synthesis
def test_colour_layout_gives_k_photographs_of_its_size(client):
    response = post_png(client, png_bytes(CITYSCAPES.colorize(street_layout())), strict="true")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["width"], body["height"], body["method"], body["step"]) == (WIDTH, HEIGHT, "crn", 2)
    photos = [decode_png(v) for v in body["variants"]]
    assert len(photos) == K
    assert all(p.shape == (HEIGHT, WIDTH, 3) and p.dtype == np.uint8 for p in photos)


def test_json_id_map_as_data_url_with_fewer_variants(client):
    text = base64.b64encode(png_bytes(street_layout())).decode()  # grayscale PNG: ids
    response = client.post("/api/synthesize", json={"image": f"data:image/png;base64,{text}", "variants": 2})
    assert response.status_code == 200, response.text
    assert len(response.json()["variants"]) == 2


def test_any_size_is_accepted_and_answered_at_that_size(client):
    """Decision: layouts need not match the model grid; the CRN resamples, photos keep the layout's size."""
    response = post_png(client, png_bytes(CITYSCAPES.colorize(street_layout(48, 80))))
    assert response.status_code == 200, response.text
    assert {decode_png(v).shape for v in response.json()["variants"]} == {(48, 80, 3)}


def test_too_small_layout_is_refused(client):
    response = post_png(client, png_bytes(CITYSCAPES.colorize(street_layout(8, 64))))
    assert response.status_code == 422
    assert "8x64 pixels" in response.json()["detail"] and "at least 16 pixels" in response.json()["detail"]


@pytest.mark.parametrize("variants", ["0", "4", "two"])
def test_variants_out_of_range_are_refused(client, variants):
    response = post_png(client, png_bytes(street_layout()), variants=variants)
    assert response.status_code == 422 and "'variants'" in response.json()["detail"]


# ----------------------------------------------------------------------------------- colours
def test_unknown_colours_are_refused_with_the_decoders_counts(client):
    rgb = CITYSCAPES.colorize(street_layout())
    rgb[:, :10] = (1, 200, 3)
    response = post_png(client, png_bytes(rgb))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert f"{HEIGHT * 10} of {HEIGHT * WIDTH} pixels" in detail and "#01c803" in detail


def test_painter_requests_demand_exact_colours(client):
    rgb = CITYSCAPES.colorize(street_layout())
    rgb[5, 5] = (129, 64, 128)  # one pixel of almost-road: an anti-aliasing brush would leave such
    assert post_png(client, png_bytes(rgb)).status_code == 200  # an API upload snaps it (tolerance 40)
    response = post_png(client, png_bytes(rgb), strict="true")
    assert response.status_code == 422 and "#814080" in response.json()["detail"]
    rgba = np.dstack([CITYSCAPES.colorize(street_layout()), np.full((HEIGHT, WIDTH), 255, np.uint8)])
    rgba[0, 0, 3] = 128
    response = post_png(client, png_bytes(rgba), strict="true")
    assert response.status_code == 422 and "1 pixels are not fully opaque" in response.json()["detail"]


# ------------------------------------------------------------------------------ bad uploads
def test_bytes_that_are_not_an_image_are_refused(client):
    response = post_png(client, b"GIF? no, just text")
    assert response.status_code == 400 and "not an image" in response.json()["detail"]
    response = client.post("/api/synthesize", json={"image": "***"})
    assert response.status_code == 400 and "base64" in response.json()["detail"]
    response = client.post("/api/synthesize", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "JSON" in response.json()["detail"]
    response = client.post("/api/synthesize", data={"variants": "1"}, files={"other": ("x", b"", "text/plain")})
    assert response.status_code == 400 and "'file'" in response.json()["detail"]
    response = client.post("/api/synthesize", content=png_bytes(street_layout()), headers={"content-type": "image/png"})
    assert response.status_code == 415 and "multipart/form-data" in response.json()["detail"]


def test_uploads_over_the_byte_limit_are_refused(client):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)  # ~12 KB PNG
    small = limited_client(client, max_upload_bytes=8_000)
    response = post_png(small, png_bytes(noise))
    assert response.status_code == 413 and "limit" in response.json()["detail"]
    # A request body far over the limit is refused from its declared length, before it is read.
    response = small.post("/api/synthesize", content=b"x" * 200_000, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "200,000 bytes" in response.json()["detail"]


def test_uploads_over_the_pixel_limit_are_refused_before_decoding(client):
    big = png_bytes(np.zeros((2000, 2500), np.uint8))  # 5 MP of void: a tiny file
    assert len(big) < 100_000
    response = post_png(client, big)
    assert response.status_code == 413 and "2000x2500" in response.json()["detail"]
    # Header-only files: no pixel data at all, so a 413 (not a decoding 400) proves the header was checked first.
    response = post_png(client, header_only_png(3000, 3000))
    assert response.status_code == 413 and "3000x3000" in response.json()["detail"]
    response = post_png(client, header_only_png(60_000, 60_000))  # beyond Pillow's own bomb guard
    assert response.status_code == 413


# ------------------------------------------------------------------------------------ decode
def test_decode_returns_the_exact_colour_map_resized_to_the_canvas(client):
    ids = street_layout(64, 128)
    response = client.post(
        "/api/decode",
        files={"file": ("map.png", png_bytes(ids), "image/png")},
        data={"width": str(WIDTH), "height": str(HEIGHT)},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["width"], body["height"], body["source_width"], body["source_height"]) == (WIDTH, HEIGHT, 128, 64)
    expected = CITYSCAPES.colorize(ids[::2, ::2])
    np.testing.assert_array_equal(decode_png(body["image"]), expected)
    assert {c["name"] for c in body["classes"]} == {"road", "sky", "car"}


# ------------------------------------------------------------------------------- concurrency
class ProbeSynthesizer:
    """Wraps a synthesizer, counting calls and the most that ever ran at once."""

    def __init__(self, inner, delay: float = 0.0) -> None:
        self.inner, self.delay = inner, delay
        self.method, self.label_space, self.step = inner.method, inner.label_space, inner.step
        self.model = inner.model
        self.num_variants, self.stochastic = inner.num_variants, inner.stochastic
        self.calls = self.active = self.most_active = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self._lock = threading.Lock()

    def synthesize(self, ids, variants=None, seed=None):
        with self._lock:
            self.calls += 1
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        self.entered.set()
        try:
            self.release.wait(timeout=10)
            time.sleep(self.delay)
            return self.inner.synthesize(ids, variants, seed)
        finally:
            with self._lock:
                self.active -= 1


def test_concurrent_requests_are_queued_for_one_model(client):
    probe = ProbeSynthesizer(client.app.state.synthesizer, delay=0.02)
    layout = png_bytes(CITYSCAPES.colorize(street_layout()))
    with TestClient(create_app(probe)) as concurrent:
        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(lambda _: post_png(concurrent, layout), range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    assert all(len(r.json()["variants"]) == K for r in responses)
    assert probe.calls == 8 and probe.most_active == 1


def test_a_full_queue_answers_503(client):
    probe = ProbeSynthesizer(client.app.state.synthesizer)
    probe.release.clear()  # the first request holds the model until released
    layout = png_bytes(CITYSCAPES.colorize(street_layout()))
    with TestClient(create_app(probe, ServingLimits(max_waiting=1))) as busy:
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(post_png, busy, layout)
            assert probe.entered.wait(timeout=10)
            second = post_png(busy, layout)
            probe.release.set()
            assert first.result(timeout=30).status_code == 200
    assert second.status_code == 503 and second.headers["retry-after"] == "2"


# ------------------------------------------------------------------------------------- CLI
def test_serve_command_binds_to_localhost_by_default(checkpoint, monkeypatch):
    import uvicorn
    from click.testing import CliRunner

    from imsynth.cli.main import cli

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # serve sets it process-wide
    result = CliRunner().invoke(cli, ["serve", "--checkpoint", str(checkpoint), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    app, kwargs = calls[0]
    assert kwargs["host"] == "127.0.0.1" and kwargs["port"] == 8000
    assert app.state.synthesizer.num_variants == K
    assert "http://127.0.0.1:8000/" in result.output
    assert Image.MAX_IMAGE_PIXELS == 4_000_000


def test_serve_without_the_packaged_checkpoint_says_so(monkeypatch):
    from click.testing import CliRunner

    from imsynth.cli.main import cli

    monkeypatch.setattr(serving, "PACKAGED_CHECKPOINT", "no_such_model.safetensors")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code != 0
    assert "packaged street-scene checkpoint" in result.output and "--checkpoint" in result.output


def test_a_generator_file_under_the_packaged_name_loads(checkpoint, tmp_path):
    renamed = tmp_path / serving.PACKAGED_CHECKPOINT
    renamed.write_bytes((checkpoint / "checkpoints" / "step_000002" / "generator.safetensors").read_bytes())
    assert create_app(renamed, device="cpu").state.synthesizer.num_variants == K


def test_the_packaged_checkpoint_loads_when_shipped():
    try:
        serving.packaged_checkpoint()
    except serving.CheckpointError:
        pytest.skip(f"imsynth/serving/assets/{serving.PACKAGED_CHECKPOINT} is not shipped yet")
    synthesizer = serving.load_packaged_synthesizer("cpu")
    assert serving.model_grid_size(synthesizer) == (128, 256) and synthesizer.num_variants == 3
    photos = synthesizer.synthesize(street_layout(128, 256))
    assert photos.shape == (3, 128, 256, 3)
