"""The swipe in a real Chromium (Playwright), on tiny weights: zoom and pan keep both sides on
the same pixels, the keyboard moves the split 1 % (10 % with Shift) and says so, and both
sides' files download. Needs /usr/bin/chromium, like tests/test_browser.py."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from autoencoder.data import load_gallery_image
import test_browser
from test_browser import ARTIFACTS, browser_page, settle

pytestmark = [pytest.mark.browser, pytest.mark.slow]
server = test_browser.server  # the app on tiny weights, served to Chromium (test_browser's fixture)


@pytest.fixture
def page(server):
    with browser_page(server, 1440, 900) as page:
        frame = page.locator(".swipe-frame").first
        frame.evaluate("f => f.scrollIntoView({block: 'center'})")
        yield page


def layers(page) -> list[dict]:
    """Each picture's box on screen and its pixel size: [left, right]."""
    return page.locator(".swipe-frame").first.evaluate("""f => ['.swipe-left', '.swipe-right'].map(s => {
        const img = f.querySelector(s), r = img.getBoundingClientRect();
        return {x: r.x, y: r.y, width: r.width, height: r.height, natural: img.naturalWidth,
                pixelated: img.classList.contains('pixelated')};
    })""")


def pixel_under(layer: dict, x: float, y: float) -> tuple[float, float]:
    """The picture's pixel (column, row, fractional) that the screen point (x, y) falls on."""
    scale = layer["width"] / layer["natural"]
    return (x - layer["x"]) / scale, (y - layer["y"]) / scale


def split(page) -> str:
    return page.locator(".swipe-frame").first.evaluate("f => f.style.getPropertyValue('--split')")


def test_wheel_zoom_keeps_the_pixel_under_the_pointer_on_both_sides_and_dragging_pans(page):
    box = page.locator(".swipe-frame").first.bounding_box()
    # Whole CSS pixels: Chromium puts the mouse there (the frame itself may sit at a fraction).
    x, y = round(box["x"] + 0.3 * box["width"]), round(box["y"] + 0.4 * box["height"])
    page.mouse.move(x, y)
    before = layers(page)
    assert before[0] == before[1]
    under = pixel_under(before[0], x, y)
    for _ in range(5):
        page.mouse.wheel(0, -200)
    page.wait_for_timeout(200)
    zoomed = layers(page)
    assert zoomed[0] == zoomed[1]  # one transform: both sides show the same pixel at every point
    assert zoomed[0]["width"] > 3 * before[0]["width"]
    assert zoomed[0]["pixelated"]  # enlarged pixels stay crisp squares
    for side in zoomed:
        assert pixel_under(side, x, y) == pytest.approx(under, abs=0.5)  # zoomed about the pointer
    level = page.locator(".swipe-frame .zoom-level").first.inner_text()
    assert level == f"{round(100 * zoomed[0]['width'] / box['width'])} %"
    page.screenshot(path=str(ARTIFACTS / "compare-1-zoomed.png"))

    # Drag away from the split line pans both sides; the split stays where it was.
    at = split(page)
    page.mouse.move(box["x"] + 0.7 * box["width"], y)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.7 * box["width"] - 60, y - 40, steps=4)
    page.mouse.up()
    panned = layers(page)
    assert panned[0] == panned[1] and split(page) == at
    assert (panned[0]["x"] - zoomed[0]["x"], panned[0]["y"] - zoomed[0]["y"]) == pytest.approx((-60, -40), abs=1)

    page.get_by_role("button", name="Fit the whole picture").click()
    fitted = layers(page)
    assert fitted[0]["width"] == pytest.approx(box["width"], abs=1) and fitted[0]["x"] == pytest.approx(box["x"], abs=1)


def test_arrow_keys_move_the_split_1_percent_shift_10_and_a_live_region_says_so(page):
    live = page.locator(".swipe-frame [aria-live=polite]").first
    page.locator(".swipe-frame input[type=range]").first.focus()
    assert split(page) == "50%"
    page.keyboard.press("ArrowRight")
    assert split(page) == "51%" and live.inner_text() == "Split at 51 %"
    page.keyboard.press("Shift+ArrowRight")
    assert split(page) == "61%" and live.inner_text() == "Split at 61 %"
    page.keyboard.press("ArrowLeft")
    assert split(page) == "60%" and live.inner_text() == "Split at 60 %"
    clip = page.locator(".swipe-frame img.swipe-left").first.evaluate("img => getComputedStyle(img).clipPath")
    assert "40%" in clip  # the left side shows up to the split
    width = page.locator(".swipe-frame").first.bounding_box()["width"]
    page.keyboard.press("+")
    assert live.inner_text() == "Zoom 200 %" and layers(page)[0]["width"] == pytest.approx(2 * width, abs=1)
    assert page.locator(".swipe-frame input[type=range]").first.get_attribute("aria-valuetext") == "Split at 60 %"


def test_both_sides_files_download(page, tmp_path):
    combo = page.get_by_role("combobox", name="Right side")
    combo.scroll_into_view_if_needed()
    combo.click()
    page.locator("[role=option]").filter(has_text="Codec · JPEG").first.click()
    page.locator(".swipe-frame .swipe-label.right").filter(has_text="JPEG q ").wait_for()
    settle(page)
    label = page.locator(".swipe-frame .swipe-label.right").first.inner_text()
    stated = int(next(p for p in label.split(" · ") if p.endswith(" B")).removesuffix(" B").replace(",", ""))
    page.screenshot(path=str(ARTIFACTS / "compare-2-jpeg-side.png"))

    files = {}
    for name in ("Original (.png)", "(.jpg)"):
        with page.expect_download() as info:
            page.locator("[data-testid=stDownloadButton] button:visible").filter(has_text=name).click()
        download = info.value
        files[name] = (download.suggested_filename, (tmp_path / download.suggested_filename))
        download.save_as(files[name][1])
    png_name, png_path = files["Original (.png)"]
    assert png_name == "Astronaut_original.png"
    np.testing.assert_array_equal(np.array(Image.open(png_path).convert("RGB")), load_gallery_image("Astronaut"))
    jpg_name, jpg_path = files["(.jpg)"]
    data = jpg_path.read_bytes()
    assert jpg_name.startswith("Astronaut_jpeg-q") and jpg_name.endswith(".jpg")
    assert Image.open(io.BytesIO(data)).format == "JPEG" and len(data) == stated  # the file the label counts
