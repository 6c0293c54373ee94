"""Load figures of the painter server (``imsynth serve``, the packaged street-scene CRN).

Starts the server in a subprocess, then measures

* **burst**: N concurrent ``POST /api/synthesize`` of one HxW colour layout (default 40 of 300x500):
  successes, 503s (queue full), p50 / p95 latency of the successes, the server's RSS before
  and after (and its peak);
* **abandoned**: K large layouts (default 10 of 2000x2000, 4 megapixels) whose clients hang up
  one second after sending, then the latency of one small request (128x256), against the same
  request on the idle server: with the queue dropping the work of disconnected clients it does
  not wait for the abandoned ones.

Usage::

    python benchmarks/serve_load.py [--requests 40] [--size 300x500] [--abandoned 10] [--json out.json]

``--pythonpath DIR`` runs the server from another source tree (e.g. an older checkout's ``src``),
to compare versions with the same client. Only the standard library is used on the client side.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROAD, SIDEWALK, BUILDING, SKY, CAR = (128, 64, 128), (244, 35, 232), (70, 70, 70), (70, 130, 180), (0, 0, 142)


def layout_png(height: int, width: int) -> bytes:
    """A street-like colour layout: sky, buildings, sidewalk, road and a car, as a PNG file."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:] = BUILDING
    rgb[: height // 4] = SKY
    rgb[height * 5 // 8 : height * 3 // 4] = SIDEWALK
    rgb[height * 3 // 4 :] = ROAD
    rgb[height * 3 // 4 : height * 7 // 8, width // 5 : width * 2 // 5] = CAR
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def multipart(data: bytes) -> tuple[bytes, str]:
    boundary = "imsynth-load-boundary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="l.png"\r\n'
    body = (head + "Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def post(port: int, body: bytes, content_type: str, timeout: float = 600) -> tuple[int, float]:
    """One request; (status, seconds)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", "/api/synthesize", body, {"Content-Type": content_type})
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        connection.close()


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MiB, from /proc (Linux)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def start_server(port: int, pythonpath: str | None) -> subprocess.Popen:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    command = [sys.executable, "-m", "imsynth", "serve", "--port", str(port), "--device", "cpu"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/info")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"the server did not start: {server.stderr.read().decode()[-2000:]}")


def burst(port: int, count: int, size: tuple[int, int]) -> dict:
    body, content_type = multipart(layout_png(*size))
    results: list[tuple[int, float]] = []
    barrier = threading.Barrier(count)

    def one() -> None:
        barrier.wait()
        results.append(post(port, body, content_type))

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ok = sorted(seconds for status, seconds in results if status == 200)
    return {
        "requests": count,
        "size": f"{size[0]}x{size[1]}",
        "successes": len(ok),
        "503": sum(status == 503 for status, _ in results),
        "other": sorted({status for status, _ in results} - {200, 503}),
        "p50_s": round(statistics.median(ok), 3) if ok else None,
        "p95_s": round(ok[min(len(ok) - 1, round(0.95 * (len(ok) - 1)))], 3) if ok else None,
        "max_s": round(ok[-1], 3) if ok else None,
    }


def abandoned(port: int, count: int, big: tuple[int, int], small: tuple[int, int]) -> dict:
    """``count`` big requests whose clients hang up after sending, then one small request's latency."""
    small_body, small_type = multipart(layout_png(*small))
    idle = post(port, small_body, small_type)[1]
    body, content_type = multipart(layout_png(*big))
    head = f"POST /api/synthesize HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        sockets.append(sock)
    time.sleep(1.0)  # the server has read them and is decoding or queueing them
    for sock in sockets:
        sock.close()
    status, seconds = post(port, small_body, small_type)
    return {
        "abandoned": count,
        "abandoned_size": f"{big[0]}x{big[1]}",
        "next_status": status,
        "next_s": round(seconds, 3),
        "idle_s": round(idle, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--size", default="300x500", help="HEIGHTxWIDTH of the burst's layout")
    parser.add_argument("--abandoned", type=int, default=10)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--pythonpath", default=None, help="run the server from this source tree")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    server = start_server(args.port, args.pythonpath)
    try:
        post(args.port, *multipart(layout_png(*size)))  # warm-up: first call pays one-off costs
        before = rss_mb(server.pid)
        result = {"burst": burst(args.port, args.requests, size)}
        after = rss_mb(server.pid)
        result["rss_mb"] = {"before": round(before[0]), "after": round(after[0]), "peak": round(after[1])}
        if args.abandoned:
            result["abandoned"] = abandoned(args.port, args.abandoned, (2000, 2000), (128, 256))
            result["rss_mb"]["after_abandoned"] = round(rss_mb(server.pid)[0])
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
