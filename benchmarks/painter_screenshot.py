"""Screenshot of the painter after a synthesis, for the README (``docs/painter.png``).

Starts the painter on a free localhost port, draws street ``--seed`` through the page's street
field (the page opens on its example street), paints a car and a person over it with the brush,
waits for the live synthesis, and saves the page. Uses Debian's chromium through Playwright's
Python package (no Playwright browser download)::

    python benchmarks/painter_screenshot.py                     # the packaged street-scene CRN
    python benchmarks/painter_screenshot.py --checkpoint runs/demo/crn --out /tmp/painter.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag the mouse between two canvas points given as fractions of its width and height."""
    box = page.locator("#layout").bounding_box()
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0] * box["width"], box["y"] + end[1] * box["height"], steps=10)
    page.mouse.up()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: the packaged street-scene CRN")
    parser.add_argument("--out", type=Path, default=Path("docs/painter.png"))
    parser.add_argument("--seed", type=int, default=3, help="street layout to start from")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from imsynth.inference.synthesizer import load_synthesizer
    from imsynth.serving.app import background_server, create_app, load_packaged_synthesizer, model_grid_size

    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 1
    if args.checkpoint:
        synthesizer = load_synthesizer(args.checkpoint, args.device)
    else:
        synthesizer = load_packaged_synthesizer(args.device)
    height, width = model_grid_size(synthesizer)

    idle = "document.body.dataset.synthesis === 'idle'"
    with background_server(create_app(synthesizer)) as url:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.wait_for_selector("body[data-ready='true']", timeout=30_000)
            page.wait_for_function(idle, timeout=120_000)
            if page.input_value("#street-seed") != str(args.seed):
                page.fill("#street-seed", str(args.seed))
                page.press("#street-seed", "Enter")
                page.wait_for_function(f"document.getElementById('status').textContent === 'street {args.seed}'")

            page.click("#sizes button[data-radius='4']")
            page.click("#palette button[data-name='car']")
            drag(page, (0.40, 0.80), (0.52, 0.80))
            drag(page, (0.40, 0.76), (0.52, 0.76))
            page.click("#sizes button[data-radius='2']")
            page.click("#palette button[data-name='person']")
            drag(page, (0.66, 0.56), (0.66, 0.72))

            page.mouse.move(0, 0)  # no hover read-out in the picture
            page.wait_for_function(idle, timeout=120_000)  # the live synthesis of the last stroke
            page.wait_for_function("[...document.querySelectorAll('#thumbnails img')].every((i) => i.complete)")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()

    source = args.checkpoint or "the packaged checkpoint"
    print(f"wrote {args.out} ({synthesizer.method} step {synthesizer.step}, {height}x{width}, from {source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
