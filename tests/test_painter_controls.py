"""The painter's controls as users know them from GauGAN-style demos, in a real browser.

An example street to start from, "Random street" (with its seed), live synthesis after a stroke
(debounced, one request in flight, switchable off), the model's seed and "New variants", undo/redo from the
keyboard, downloads of the layout and the photograph, a narrow window, and the API docs offline.
Fixtures and helpers are those of ``test_painter_browser.py`` (Debian's chromium via Playwright).
"""

from __future__ import annotations

import base64
import io
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

import test_painter_browser
from imsynth.data.labels import CITYSCAPES
from imsynth.data.streets import render_layout
from imsynth.serving.app import background_server, create_app
from test_painter_browser import CANVAS_PIXELS, canvas_colours, drag, open_painter, packed, settle, sync_api
from test_serving import HEIGHT, WIDTH, ProbeSynthesizer

# module fixtures: the browser, and the painter around a tiny CRN with noise inputs
browser = test_painter_browser.browser
painter_app, painter_url = test_painter_browser.painter_app, test_painter_browser.painter_url
CANVAS_URL = "document.getElementById('layout').toDataURL()"
LARGE_SRC = "document.getElementById('result-large').src"


@pytest.fixture
def page(browser, painter_url):
    with open_painter(browser, painter_url) as page:
        yield page


def canvas_rgb(page) -> np.ndarray:
    return np.array(page.evaluate(CANVAS_PIXELS), dtype=np.uint8).reshape(HEIGHT, WIDTH, 4)[..., :3]


def street_rgb(seed: int) -> np.ndarray:
    return CITYSCAPES.colorize(render_layout(seed, HEIGHT, WIDTH).ids)


def new_photo(page, before: str) -> str:
    """Wait for a photograph other than ``before`` and for the painter to settle; returns its URL."""
    page.wait_for_function(f"{LARGE_SRC} !== {before!r}", timeout=30_000)
    settle(page)
    return page.evaluate(LARGE_SRC)


# ------------------------------------------------------------------------ example and random street
def test_the_painter_opens_on_the_example_street_already_synthesized(page):
    np.testing.assert_array_equal(canvas_rgb(page), street_rgb(3))
    assert page.input_value("#street-seed") == "3" and page.text_content("#status") == "street 3"
    assert page.evaluate(LARGE_SRC).startswith("data:image/png")  # synthesized without a click
    assert page.get_attribute("#layout-shot", "src") == page.evaluate(CANVAS_URL)
    assert page.is_disabled("#undo") and page.is_disabled("#redo")  # the example is where undo stops


def test_random_street_draws_a_reproducible_street_and_undo_redo_walk_through_it(page):
    page.click("#random-street")
    page.wait_for_function(
        "document.getElementById('status').textContent.startsWith('street ') && "
        "document.getElementById('street-seed').value !== '3'"
    )
    seed = int(page.input_value("#street-seed"))
    assert page.text_content("#status") == f"street {seed}"
    np.testing.assert_array_equal(canvas_rgb(page), street_rgb(seed))  # the renderer's street, exact colours
    settle(page)
    assert page.get_attribute("#layout-shot", "src") == page.evaluate(CANVAS_URL)  # synthesized live

    page.fill("#street-seed", "11")  # a seed typed in draws that street
    page.press("#street-seed", "Enter")
    page.wait_for_function("document.getElementById('status').textContent === 'street 11'")
    np.testing.assert_array_equal(canvas_rgb(page), street_rgb(11))

    page.evaluate("document.activeElement.blur()")  # keys typed into the seed field stay there
    page.keyboard.press("Control+z")
    np.testing.assert_array_equal(canvas_rgb(page), street_rgb(seed))
    page.keyboard.press("Control+z")
    np.testing.assert_array_equal(canvas_rgb(page), street_rgb(3))
    assert page.is_disabled("#undo") and page.is_enabled("#redo")
    page.keyboard.press("Control+y")
    np.testing.assert_array_equal(canvas_rgb(page), street_rgb(seed))
    page.keyboard.press("Control+Shift+Z")
    np.testing.assert_array_equal(canvas_rgb(page), street_rgb(11))
    assert page.is_disabled("#redo")
    settle(page)
    assert page.get_attribute("#layout-shot", "src") == page.evaluate(CANVAS_URL)


# ------------------------------------------------------------------------------- live synthesis
def test_a_stroke_is_synthesized_live(page):
    before = page.evaluate(LARGE_SRC)
    page.click("#palette button[data-name='car']")
    page.click("#sizes button[data-radius='4']")
    drag(page, (0.2, 0.8), (0.8, 0.8))
    assert packed("car") in canvas_colours(page)[0]
    new_photo(page, before)
    assert page.get_attribute("#layout-shot", "src") == page.evaluate(CANVAS_URL)  # the stroke's layout


LIVE_DELAY_MS = 250
"""The page's quiet time after an edit before it synthesizes (``LIVE_DELAY_MS`` of painter.js)."""

SYNTHESIS_STARTS = """() => performance.getEntriesByType("resource")
  .filter((entry) => entry.name.endsWith("/api/synthesize")).map((entry) => entry.startTime)"""


def test_a_burst_of_edits_is_synthesized_once_after_a_quiet_moment_and_live_can_be_switched_off(page):
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.url.endswith("/api/synthesize") else None)
    page.evaluate("performance.clearResourceTimings()")
    # Five edits within one task, each of which asks for a live synthesis: the layout ends up void.
    burst_end, synthesis = page.evaluate(
        """() => {
          for (const id of ["clear", "undo", "redo", "undo", "redo"]) document.getElementById(id).click();
          return [performance.now(), document.body.dataset.synthesis];
        }"""
    )
    assert synthesis == "busy"  # scheduled at once, sent later
    settle(page)
    starts = page.evaluate(SYNTHESIS_STARTS)
    assert len(sent) == 1 and len(starts) == 1, (sent, starts)  # one request for the whole burst
    assert starts[0] - burst_end >= 0.8 * LIVE_DELAY_MS, (burst_end, starts)  # after the quiet time
    assert canvas_colours(page)[0] == {packed("unlabeled")}
    assert page.get_attribute("#layout-shot", "src") == page.evaluate(CANVAS_URL)  # the burst's last layout

    page.uncheck("#live")  # edits are then synthesized only on request
    page.click("#undo")
    page.wait_for_timeout(3 * LIVE_DELAY_MS)
    settle(page)
    assert len(sent) == 1 and page.get_attribute("#layout-shot", "src") != page.evaluate(CANVAS_URL)
    np.testing.assert_array_equal(canvas_rgb(page), street_rgb(3))
    page.check("#live")  # switching it back on synthesizes the layout at once
    page.wait_for_function(f"document.getElementById('layout-shot').src === {CANVAS_URL}", timeout=30_000)
    settle(page)
    assert len(sent) == 2


@pytest.fixture(scope="module")
def gated(painter_app):
    """A second server on the same model whose synthesis can be held (``probe.release``)."""
    probe = ProbeSynthesizer(painter_app.state.synthesizer)
    with background_server(create_app(probe)) as url:
        yield url, probe


def test_live_synthesis_keeps_one_request_in_flight_and_sends_only_the_newest_layout(browser, gated):
    url, probe = gated
    with open_painter(browser, url) as page:
        in_flight, most, sent = [0], [0], []

        def started(request):
            if request.url.endswith("/api/synthesize"):
                sent.append(request)
                in_flight[0] += 1
                most[0] = max(most[0], in_flight[0])

        def ended(request):
            if request.url.endswith("/api/synthesize"):
                in_flight[0] -= 1

        page.on("request", started)
        page.on("requestfinished", ended)
        page.on("requestfailed", ended)
        probe.release.clear()  # the model holds the next synthesis until released
        probe.entered.clear()
        page.click("#palette button[data-name='car']")
        drag(page, (0.1, 0.8), (0.3, 0.8))
        assert probe.entered.wait(timeout=15)  # the first stroke's synthesis is on the model
        for y in (0.6, 0.5, 0.4):  # three more strokes, each long enough apart to fire its debounce
            drag(page, (0.5, y), (0.9, y))
            page.wait_for_timeout(400)
        assert len(sent) == 1 and in_flight[0] == 1
        probe.release.set()
        settle(page)
        assert len(sent) == 2 and most[0] == 1  # the three queued strokes were sent once, together
        assert page.get_attribute("#layout-shot", "src") == page.evaluate(CANVAS_URL)


# ------------------------------------------------------------------------------------- seeds
def test_seed_and_new_variants_change_the_photographs_reproducibly(page):
    assert page.is_enabled("#seed") and page.input_value("#seed") == "0"  # the tiny CRN has noise inputs
    seed0 = page.evaluate(LARGE_SRC)
    page.fill("#seed", "5")
    page.press("#seed", "Enter")
    seed5 = new_photo(page, seed0)
    assert "seed 5" in page.text_content("#result-caption") and "seed 5" in page.text_content("#synthesis-status")
    page.fill("#seed", "0")
    page.press("#seed", "Enter")
    assert new_photo(page, seed5) == seed0  # the same layout and seed: the same photographs

    page.click("#new-variants")
    fresh = new_photo(page, seed0)
    seed = int(page.input_value("#seed"))
    assert seed != 0 and f"seed {seed}" in page.text_content("#result-caption") and fresh != seed0


# --------------------------------------------------------------------------------- downloads
def test_the_layout_and_the_photograph_download_as_pngs(page, tmp_path):
    page.locator("#thumbnails img").nth(2).click()
    with page.expect_download() as photo_download:
        page.click("#download")
    with page.expect_download() as layout_download:
        page.click("#download-layout")
    photo_file, layout_file = tmp_path / "photo.png", tmp_path / "layout.png"
    photo_download.value.save_as(photo_file)
    layout_download.value.save_as(layout_file)
    assert photo_download.value.suggested_filename == "imsynth-crn-seed0-variant3.png"
    assert layout_download.value.suggested_filename == "imsynth-layout.png"

    layout = np.asarray(Image.open(layout_file).convert("RGB"))
    np.testing.assert_array_equal(layout, street_rgb(3))  # exact palette colours, loadable as a label map
    np.testing.assert_array_equal(CITYSCAPES.colorize(CITYSCAPES.load(layout_file, tolerance=0)), layout)
    photo = np.asarray(Image.open(photo_file))
    shown = page.evaluate(f"{LARGE_SRC}.split(',')[1]")
    np.testing.assert_array_equal(photo, np.asarray(Image.open(io.BytesIO(base64.b64decode(shown)))))
    assert photo.shape == (HEIGHT, WIDTH, 3)


# --------------------------------------------------------------------------------- narrow window
def test_a_400_pixel_window_needs_no_sideways_scrolling(browser, painter_url):
    with open_painter(browser, painter_url, width=400, height=800) as page:
        assert page.evaluate("document.documentElement.scrollWidth") <= 400
        for selector in (
            "#layout",
            "#result-large",
            "#layout-shot",
            "#synthesize",
            "#new-variants",
            "#random-street",
            "#download",
            "#download-layout",
            "#palette button[data-name='bicycle']",
        ):
            box = page.locator(selector).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 400, (selector, box)
        canvas = page.locator("#layout").bounding_box()
        assert canvas["width"] >= 300 and abs(canvas["height"] / canvas["width"] - HEIGHT / WIDTH) < 0.02
        before = page.evaluate(LARGE_SRC)
        page.click("#palette button[data-name='sky']")
        drag(page, (0.1, 0.9), (0.9, 0.9))  # painting still hits the right pixels when scaled
        rgb = canvas_rgb(page)
        assert (rgb[int(0.9 * HEIGHT), WIDTH // 2] == CITYSCAPES.by_name("sky").color).all()
        new_photo(page, before)


# ------------------------------------------------------------------------------ API docs offline
def test_the_api_docs_render_with_every_other_site_blocked(browser, painter_url):
    page = browser.new_page()
    own, foreign = urlsplit(painter_url).netloc, []

    def only_local(route):
        if urlsplit(route.request.url).netloc == own or route.request.url.startswith("data:"):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    try:
        page.goto(painter_url + "api/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
        assert "imsynth painter" in page.text_content(".swagger-ui .info .title")
        page.wait_for_selector("[data-path='/api/random-layout']")
        assert page.locator(".opblock").count() >= 5
        assert not foreign, foreign
    except sync_api.Error:
        page.screenshot(path="/tmp/imsynth-docs-failure.png")
        raise
    finally:
        page.close()
