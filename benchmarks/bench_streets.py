"""Throughput of the procedural street renderer on one CPU core.

Usage::

    PYTHONPATH=src python benchmarks/bench_streets.py [--height 256 --width 512 --count 100] [--large]

Prints images per second for the layout alone, the photo alone (from ready layouts) and the full
scene (layout + photo). Thread pools are limited to one thread and the process is pinned to one
core before numpy is imported, so the numbers are single-core numbers.
"""

from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402


def _pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[-1]})
        return f"pinned to core {cores[-1]}"
    return "not pinned (no sched_setaffinity on this OS)"


def _rate(fn, count: int, repeats: int) -> float:
    """Best images/s over ``repeats`` runs of ``count`` calls of ``fn(i)``."""
    best = float("inf")
    for r in range(repeats):
        start = time.perf_counter()
        for i in range(count):
            fn(r * count + i)
        best = min(best, time.perf_counter() - start)
    return count / best


def bench(height: int, width: int, count: int, repeats: int) -> dict[str, float]:
    from imsynth.data.streets import render_layout, render_photo, render_scene

    render_scene(0, height, width)  # warm up: builds the noise tiles of this size
    layouts = [render_layout(i, height, width) for i in range(count)]
    return {
        "layout": _rate(lambda i: render_layout(i, height, width), count, repeats),
        "photo": _rate(lambda i: render_photo(layouts[i % count], i), count, repeats),
        "scene": _rate(lambda i: render_scene(i, height, width), count, repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--count", type=int, default=60, help="images per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best is reported")
    parser.add_argument("--large", action="store_true", help="also time 1024x2048 (fewer images)")
    args = parser.parse_args()
    print(f"streets benchmark, one thread, {_pin_one_core()}")
    sizes = [(args.height, args.width, args.count)]
    if args.large:
        sizes.append((1024, 2048, max(4, args.count // 12)))
    for h, w, n in sizes:
        r = bench(h, w, n, args.repeats)
        print(
            f"{h}x{w}: layout {r['layout']:7.1f} img/s | photo {r['photo']:7.1f} img/s | "
            f"scene (layout + photo) {r['scene']:7.1f} img/s  ({1000 / r['scene']:.1f} ms/img)"
        )


if __name__ == "__main__":
    main()
