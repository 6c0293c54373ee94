"""The painter end to end in a real browser: paint, fill, undo/redo, load a map, synthesize.

The controls of GauGAN-style demos are in ``test_painter_controls.py`` (same fixtures).

Drives Debian's chromium (``/usr/bin/chromium``; ``.ci/run`` installs it) with Playwright's Python
package -- Playwright's own browser download is not used. Skips where either is missing.
Set ``IMSYNTH_PAINTER_SCREENSHOT=path.png`` to save the page after synthesis.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

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

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
pytest.importorskip("fastapi", reason="the painter needs the 'serve' extra")
pytest.importorskip("uvicorn", reason="the painter needs the 'serve' extra")
pytest.importorskip("fastapi_offline", reason="the painter needs the 'serve' extra (fastapi-offline)")
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the Python package only)")

from imsynth.data.labels import CITYSCAPES  # noqa: E402
from imsynth.serving.app import background_server, create_app  # noqa: E402
from test_serving import HEIGHT, WIDTH, K, png_bytes, street_layout, train_tiny_crn  # noqa: E402

# Every colour of the canvas, packed as 0xRRGGBB, with the count of pixels that are not opaque.
CANVAS_COLOURS = """() => {
  const canvas = document.getElementById("layout");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  let translucent = 0;
  for (let i = 0; i < data.length; i += 4) {
    colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    if (data[i + 3] !== 255) translucent++;
  }
  return { colours: [...colours], translucent, width: canvas.width, height: canvas.height };
}"""

CANVAS_PIXELS = """() => {
  const canvas = document.getElementById("layout");
  return Array.from(canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data);
}"""


def packed(name: str) -> int:
    r, g, b = CITYSCAPES.by_name(name).color
    return (r << 16) | (g << 8) | b


@pytest.fixture(scope="module")
def painter_app(tmp_path_factory):
    return create_app(train_tiny_crn(tmp_path_factory.mktemp("painter")), device="cpu")


@pytest.fixture(scope="module")
def painter_url(painter_app):
    with background_server(painter_app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        except sync_api.Error as exc:
            pytest.skip(f"chromium does not start under Playwright: {exc}")
        yield browser
        browser.close()


@contextmanager
def open_painter(browser, url: str, width: int = 1280, height: int = 900):
    """A new tab on the painter, once its first (live) synthesis has arrived; closes it after the
    block and checks that no script error happened."""
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_selector("body[data-ready='true']", timeout=15_000)
    settle(page)
    try:
        yield page
    finally:
        page.close()
    assert not errors, errors


def settle(page) -> None:
    """Wait until no synthesis is scheduled, queued or in flight."""
    page.wait_for_function("document.body.dataset.synthesis === 'idle'", timeout=30_000)


@pytest.fixture
def page(browser, painter_url):
    with open_painter(browser, painter_url) as page:
        yield page


def canvas_point(page, x: float, y: float) -> tuple[float, float]:
    """Screen position of the canvas point at fractions (x, y) of its width and height."""
    box = page.locator("#layout").bounding_box()
    return box["x"] + x * box["width"], box["y"] + y * box["height"]


def drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*canvas_point(page, *start))
    page.mouse.down()
    page.mouse.move(*canvas_point(page, *end), steps=12)
    page.mouse.up()


def canvas_colours(page) -> tuple[set[int], int]:
    result = page.evaluate(CANVAS_COLOURS)
    assert (result["height"], result["width"]) == (HEIGHT, WIDTH)
    return set(result["colours"]), result["translucent"]


def test_paint_two_classes_and_synthesize(page):
    palette = page.evaluate("fetch('api/palette').then((r) => r.json())")
    allowed = {int(c["color"][1:], 16) for c in palette["classes"]} | {int(palette["void"]["color"][1:], 16)}

    page.uncheck("#live")  # synthesize by hand here; live synthesis is tested in test_painter_controls.py
    page.click("#clear")  # the painter opens on an example street; paint on void instead
    assert canvas_colours(page)[0] == {packed("unlabeled")}
    page.click("#sizes button[data-radius='4']")
    page.click("#palette button[data-name='sky']")
    drag(page, (0.05, 0.2), (0.95, 0.25))
    page.click("#palette button[data-name='road']")
    drag(page, (0.05, 0.8), (0.95, 0.7))
    colours, translucent = canvas_colours(page)
    assert translucent == 0
    assert colours <= allowed, f"colours outside the palette: {sorted(hex(c) for c in colours - allowed)}"
    assert {packed("sky"), packed("road"), packed("unlabeled")} <= colours

    # Fill the void between the strokes with vegetation, then undo it.
    page.click("button[data-tool='fill']")
    page.click("#palette button[data-name='vegetation']")
    page.mouse.click(*canvas_point(page, 0.5, 0.5))
    colours, _ = canvas_colours(page)
    assert packed("vegetation") in colours and colours <= allowed
    page.click("#undo")
    colours, _ = canvas_colours(page)
    assert packed("vegetation") not in colours and {packed("sky"), packed("road")} <= colours
    page.click("#redo")
    assert packed("vegetation") in canvas_colours(page)[0]
    page.click("#undo")

    before = page.get_attribute("#result-large", "src")
    page.click("#synthesize")
    page.wait_for_function(f"document.getElementById('result-large').src !== {before!r}", timeout=30_000)
    settle(page)
    assert page.get_attribute("#layout-shot", "src") == page.evaluate("document.getElementById('layout').toDataURL()")
    size = page.evaluate(
        "(({naturalWidth, naturalHeight}) => [naturalWidth, naturalHeight])(document.getElementById('result-large'))"
    )
    assert size == [WIDTH, HEIGHT]
    thumbnails = page.locator("#thumbnails img")
    assert thumbnails.count() == K
    page.wait_for_function("[...document.querySelectorAll('#thumbnails img')].every((img) => img.complete)")
    sizes = page.evaluate(
        "[...document.querySelectorAll('#thumbnails img')].map((i) => [i.naturalWidth, i.naturalHeight])"
    )
    assert sizes == [[WIDTH, HEIGHT]] * K

    thumbnails.nth(1).click()
    large = page.get_attribute("#result-large", "src")
    assert large == thumbnails.nth(1).get_attribute("src") == page.get_attribute("#download", "href")
    assert page.get_attribute("#download", "download") == "imsynth-crn-seed0-variant2.png"
    assert "variant 2 of 3" in page.text_content("#result-caption") and "seed 0" in page.text_content("#result-caption")
    assert "error" not in (page.get_attribute("#status", "class") or "")

    if os.environ.get("IMSYNTH_PAINTER_SCREENSHOT"):
        page.screenshot(path=os.environ["IMSYNTH_PAINTER_SCREENSHOT"], full_page=True)


def test_loading_a_label_map_puts_its_exact_colours_on_the_canvas(page, tmp_path):
    ids = street_layout(2 * HEIGHT, 2 * WIDTH)  # another size: the painter resamples it to its canvas
    path = tmp_path / "map.png"
    path.write_bytes(png_bytes(ids))  # grayscale ids, decoded server-side
    page.set_input_files("#upload", str(path))
    page.wait_for_function("document.getElementById('status').textContent.startsWith('loaded')", timeout=15_000)
    assert "resized from 64x128" in page.text_content("#status")
    pixels = np.array(page.evaluate(CANVAS_PIXELS), dtype=np.uint8).reshape(HEIGHT, WIDTH, 4)
    np.testing.assert_array_equal(pixels[..., :3], CITYSCAPES.colorize(ids[::2, ::2]))
    assert (pixels[..., 3] == 255).all()


def test_a_bad_upload_shows_the_servers_message(page, tmp_path):
    path = tmp_path / "notes.png"
    path.write_bytes(b"these are not pixels")
    page.set_input_files("#upload", str(path))
    page.wait_for_selector("#status.error", timeout=15_000)
    assert "not an image" in page.text_content("#status")
