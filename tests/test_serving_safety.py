"""The painter under bad input and hostile clients (issue 15 items 4 and 10).

* a fuzz test: thousands of mutated PNG/JPEG/GIF/TIFF/WEBP/BMP uploads, never a 5xx;
* queued work of clients that went away is dropped, not computed;
* the Host header is checked when serving on localhost (DNS rebinding), and cross-site form posts
  are refused.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the painter needs the 'serve' extra (fastapi, uvicorn, python-multipart)")
pytest.importorskip("multipart", reason="the painter needs python-multipart")
from fastapi.testclient import TestClient  # noqa: E402

from imsynth.data.labels import CITYSCAPES  # noqa: E402
from imsynth.serving.app import ServingLimits, background_server, create_app  # noqa: E402
from test_serving import ProbeSynthesizer, png_bytes, street_layout, train_tiny_crn  # noqa: E402

FORMATS = ("PNG", "JPEG", "GIF", "TIFF", "WEBP", "BMP")


@pytest.fixture(scope="module")
def synthesizer(tmp_path_factory):
    from imsynth.inference.synthesizer import load_synthesizer

    return load_synthesizer(train_tiny_crn(tmp_path_factory.mktemp("painter")), "cpu")


# ------------------------------------------------------------------------------------ 4: fuzzing
def seed_files() -> dict[str, list[bytes]]:
    """Valid label maps in every accepted format (and a few modes of each), the fuzzer's seeds."""
    ids = street_layout(24, 40)
    colour = Image.fromarray(CITYSCAPES.colorize(ids))
    variants = {
        "PNG": [colour, Image.fromarray(ids), CITYSCAPES.palette_image(ids), colour.convert("RGBA")],
        "JPEG": [colour, Image.fromarray(ids)],
        "GIF": [CITYSCAPES.palette_image(ids), colour.convert("P")],
        "TIFF": [colour, Image.fromarray(ids.astype(np.uint16) * 1000)],
        "WEBP": [colour],
        "BMP": [colour, CITYSCAPES.palette_image(ids)],
    }
    options = {"JPEG": {"quality": 95}, "WEBP": {"lossless": True}, "TIFF": {"compression": "tiff_lzw"}}
    seeds = {}
    for fmt, images in variants.items():
        seeds[fmt] = []
        for image in images:
            buffer = io.BytesIO()
            image.save(buffer, format=fmt, **options.get(fmt, {}))
            seeds[fmt].append(buffer.getvalue())
    return seeds


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One random corruption, biased towards the header where parsers trip: truncate, flip, insert, delete."""
    out = bytearray(data)

    def position() -> int:
        return int(rng.integers(0, min(len(out), 160))) if rng.random() < 0.7 else int(rng.integers(0, len(out)))

    op = rng.integers(5)
    if op == 0:
        out = out[: int(rng.integers(1, len(out)))]
    elif op == 1:
        for _ in range(int(rng.integers(1, 9))):
            out[position()] = int(rng.integers(0, 256))
    elif op == 2:
        at = position()
        out[at:at] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    elif op == 3:
        at = position()
        del out[at : at + int(rng.integers(1, 64))]
    else:  # an extreme 4-byte value in the header: sizes, offsets, counts
        at = position()
        out[at : at + 4] = bytes.fromhex(rng.choice(["ffffffff", "7fffffff", "00000000", "00010000", "80000000"]))
    return bytes(out)


def fuzz_corpus(per_format: int, seed: int = 0) -> Iterator[tuple[str, bytes]]:
    rng = np.random.default_rng(seed)
    for fmt, seeds in seed_files().items():
        for i in range(per_format):
            yield fmt, mutate(seeds[i % len(seeds)], rng)


def run_fuzz(synthesizer, per_format: int, seed: int) -> None:
    statuses: Counter[tuple[str, int]] = Counter()
    failures = []
    with TestClient(create_app(synthesizer), raise_server_exceptions=False) as client:
        for i, (fmt, data) in enumerate(fuzz_corpus(per_format, seed)):
            response = client.post("/api/decode", files={"file": (f"f.{fmt.lower()}", data, "image/png")})
            statuses[(fmt, response.status_code)] += 1
            if response.status_code >= 500 or (response.status_code >= 400 and not response.json().get("detail")):
                failures.append((i, fmt, response.status_code, response.text[:200]))
    count = sum(statuses.values())
    assert count == per_format * len(FORMATS)
    assert not failures, f"{len(failures)} of {count} fuzzed uploads gave 5xx or no message: {failures[:5]}"
    assert {status for _, status in statuses} <= {200, 400, 413, 422}, statuses


def test_fuzzed_uploads_never_give_a_server_error(synthesizer):
    """600 mutated files (100 per format): every undecodable one is a 4xx that names the problem."""
    run_fuzz(synthesizer, per_format=100, seed=0)


@pytest.mark.slow
def test_thousands_of_fuzzed_uploads_never_give_a_server_error(synthesizer):
    """3000 mutated files (500 per format), other seeds."""
    run_fuzz(synthesizer, per_format=500, seed=1)


# ------------------------------------------------------------------ 10: clients that went away
def raw_post(url: str, body: bytes, content_type: str) -> socket.socket:
    """Send a complete POST /api/synthesize on a raw socket and return it without reading the answer."""
    host, port = url.split("//")[1].rstrip("/").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    head = (
        f"POST /api/synthesize HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def multipart(data: bytes) -> tuple[bytes, str]:
    boundary = "imsynthboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="l.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_queued_work_of_disconnected_clients_is_dropped(synthesizer):
    import httpx

    probe = ProbeSynthesizer(synthesizer)
    probe.release.clear()  # the first request holds the model until released
    body, content_type = multipart(png_bytes(CITYSCAPES.colorize(street_layout())))
    app = create_app(probe)
    with background_server(app) as url:
        first = threading.Thread(target=lambda: raw_post(url, body, content_type).recv(1 << 20))
        first.start()
        assert probe.entered.wait(timeout=10)
        abandoned = [raw_post(url, body, content_type) for _ in range(5)]
        deadline = time.monotonic() + 10
        while app.state.worker.waiting < 6 and time.monotonic() < deadline:  # all queued behind the first
            time.sleep(0.02)
        assert app.state.worker.waiting == 6
        for sock in abandoned:
            sock.close()
        time.sleep(0.5)  # the server notices the closed connections while they wait
        probe.release.set()
        first.join(timeout=30)
        response = httpx.post(url + "api/synthesize", files={"file": ("l.png", png_bytes(street_layout()))}, timeout=30)
    assert response.status_code == 200
    assert probe.calls == 2, f"the model ran {probe.calls} times; the 5 abandoned requests should not run"
    assert app.state.worker.dropped == 5


# ------------------------------------------------------------------ 10: DNS rebinding, cross-site
def test_host_header_is_checked_when_serving_on_localhost(synthesizer):
    app = create_app(synthesizer, allowed_hosts=("localhost", "127.0.0.1", "::1"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/api/info").status_code == 200
        for host in ("localhost:8000", "LOCALHOST", "[::1]:8000", "127.0.0.1"):
            assert client.get("/api/info", headers={"host": host}).status_code == 200, host
        for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", ""):
            response = client.get("/api/info", headers={"host": host})
            assert response.status_code == 421, host
            assert "Host" in response.json()["detail"] and "http://127.0.0.1" in response.json()["detail"]


def test_the_serve_command_turns_the_host_check_on_for_localhost(synthesizer, tmp_path, monkeypatch):
    import uvicorn
    from click.testing import CliRunner

    from imsynth.cli.main import cli
    from imsynth.serving import app as serving

    monkeypatch.setattr(serving, "load_packaged_synthesizer", lambda device: synthesizer)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    for host, rebinding_refused in (("127.0.0.1", True), ("0.0.0.0", False)):
        apps: list = []
        monkeypatch.setattr(uvicorn, "run", lambda app, apps=apps, **kwargs: apps.append(app))
        result = CliRunner().invoke(cli, ["serve", "--host", host])
        assert result.exit_code == 0, result.output
        with TestClient(apps[0]) as client:
            status = client.get("/api/info", headers={"host": "evil.example"}).status_code
        assert (status == 421) == rebinding_refused, host


def test_cross_site_posts_are_refused(synthesizer):
    layout = png_bytes(street_layout())
    with TestClient(create_app(synthesizer), base_url="http://localhost:8000") as client:

        def post(headers):
            return client.post("/api/decode", files={"file": ("l.png", layout, "image/png")}, headers=headers)

        assert post({}).status_code == 200  # scripts send no Origin
        assert post({"origin": "http://localhost:8000", "sec-fetch-site": "same-origin"}).status_code == 200
        for headers in (
            {"origin": "http://evil.example"},
            {"origin": "null"},
            {"origin": "http://localhost:9999"},
            {"sec-fetch-site": "cross-site"},
        ):
            response = post(headers)
            assert response.status_code == 403, headers
            assert "cross-site" in response.json()["detail"]
        assert client.get("/api/info", headers={"origin": "http://evil.example"}).status_code == 200  # reads: CORS


def test_a_full_queue_still_answers_503_with_the_new_worker(synthesizer):
    probe = ProbeSynthesizer(synthesizer)
    probe.release.clear()
    layout = png_bytes(street_layout())
    with TestClient(create_app(probe, ServingLimits(max_waiting=1))) as busy:
        done = []
        thread = threading.Thread(
            target=lambda: done.append(busy.post("/api/synthesize", files={"file": ("l.png", layout)}))
        )
        thread.start()
        assert probe.entered.wait(timeout=10)
        second = busy.post("/api/synthesize", files={"file": ("l.png", layout)})
        probe.release.set()
        thread.join(timeout=30)
    assert second.status_code == 503 and done[0].status_code == 200
