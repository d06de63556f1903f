"""`streamlit run app.py` driven by a real Chromium through Playwright, on tiny weights.

Needs Debian's Chromium at /usr/bin/chromium (`apt-get install -y chromium`; Playwright's own
browser download is not used). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from app_models import make_app_weights
from tools.load_test import CHROMIUM, CHROMIUM_ARGS, Server
from conftest import photo

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 120_000  # a first run loads torch and the models on a busy CPU


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app served by `streamlit run` on a free port, on tiny weights; yields its URL."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium`")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    folder = tmp_path_factory.mktemp("browser")
    served = Server(folder / "streamlit.log", {"AUTOENCODER_WEIGHTS": str(make_app_weights(folder)),
                                               "OMP_NUM_THREADS": "1"})
    try:
        served.wait_healthy(60)
        yield served.url
    except RuntimeError as e:
        pytest.fail(str(e))
    finally:
        served.stop()


@contextmanager
def browser_page(url: str, width: int, height: int):
    """A Chromium page of width × height at `url`, once the app's numbers are drawn."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.wait_for_selector("[data-testid=stMetric]")
        settle(page)
        yield page
        browser.close()


@pytest.fixture
def page(server):
    with browser_page(server, 1500, 1100) as page:
        yield page


def settle(page) -> None:
    """Wait until the script run is over (Streamlit's 'running' status widget is gone)."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
    page.wait_for_timeout(300)


def psnr_shown(page) -> str:
    tile = page.locator("[data-testid=stMain] [data-testid=stMetric]").filter(has_text="PSNR").first
    return tile.locator("[data-testid=stMetricValue]").inner_text()


def swipe_pictures(page) -> tuple[str, str, str]:
    """(alt of the original, src of the original, src of the reconstruction) in the swipe view."""
    left, right = page.locator(".swipe-frame img.swipe-left").first, page.locator(".swipe-frame img.swipe-right").first
    return left.get_attribute("alt"), left.get_attribute("src"), right.get_attribute("src")


def upload(page, path) -> None:
    page.locator("section[data-testid=stSidebar] [data-testid=stFileUploaderDropzoneInput]").set_input_files(str(path))


def test_upload_then_slider_updates_psnr_and_reconstruction_with_nothing_stale(page, tmp_path):
    page.screenshot(path=str(ARTIFACTS / "browser-1-default.png"))
    assert swipe_pictures(page)[0] == "The original image, 512×512 pixels"

    first, second = tmp_path / "first.png", tmp_path / "second.png"
    Image.fromarray(photo(120, 160, seed=3)).save(first)
    Image.fromarray(photo(100, 150, seed=4)).save(second)
    for path, size in ((first, "160×120"), (second, "150×100")):
        upload(page, path)
        # (the swipe lives in a shadow root: Playwright's locators reach into it, document.querySelector does not)
        page.locator(f'.swipe-frame img.swipe-left[alt="The original image, {size} pixels"]').wait_for()
        settle(page)
        # Nothing of the image before stays on screen: no stale element, and one original only.
        assert page.locator("[data-stale=true]").count() == 0
        assert page.locator(".swipe-frame").count() == 1
    psnr_before, (_, original_before, reconstruction_before) = psnr_shown(page), swipe_pictures(page)
    page.screenshot(path=str(ARTIFACTS / "browser-2-uploaded.png"))

    slider = page.locator("[data-testid=stSlider]").filter(has_text="Bottleneck").locator("input[type=range]")
    assert slider.get_attribute("aria-valuetext") == "conv-c16 · 12×"
    slider.focus()
    page.keyboard.press("ArrowRight")  # one step narrower: conv-c16 → conv-c4
    page.wait_for_function(
        "before => { const t = [...document.querySelectorAll('[data-testid=stMain] [data-testid=stMetric]')]"
        ".find(m => m.innerText.includes('PSNR')); return t && !t.innerText.includes(before); }",
        arg=psnr_before)
    settle(page)
    assert slider.get_attribute("aria-valuetext") == "conv-c4 · 48×"
    assert page.get_by_text("8×8×4 latent per 64×64 px · 0.5 bpp at 8 bits").is_visible()
    _, original_after, reconstruction_after = swipe_pictures(page)
    assert psnr_shown(page) != psnr_before
    assert original_after == original_before and reconstruction_after != reconstruction_before
    page.screenshot(path=str(ARTIFACTS / "browser-3-slider-moved.png"))


def test_the_swipe_follows_the_pointer_and_the_keyboard(page):
    frame = page.locator(".swipe-frame").first
    frame.scroll_into_view_if_needed()
    box = frame.bounding_box()
    assert box["width"] > 300 and box["height"] > 300  # 512×512 shown large, not a thumbnail
    def split() -> str:
        return frame.evaluate("f => f.style.getPropertyValue('--split')")

    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2)
    assert split() == "20%"
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    assert split() == "90%"
    clip = page.locator(".swipe-frame img.swipe-left").first.evaluate("img => getComputedStyle(img).clipPath")
    assert "10%" in clip  # the original is cut at the split: 90 % of it shows
    page.screenshot(path=str(ARTIFACTS / "browser-4-swipe.png"))
    frame.locator("input[type=range]").focus()
    page.keyboard.press("Home")
    assert split() == "0%"


def test_bad_upload_shows_an_error_and_compare_all_works(page, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    upload(page, bad)
    page.locator("[data-testid=stAlertContentError]").filter(has_text="broken.png").wait_for()
    settle(page)
    assert swipe_pictures(page)[0] == "The original image, 512×512 pixels"  # the page still works
    page.screenshot(path=str(ARTIFACTS / "browser-5-bad-upload.png"))

    page.get_by_role("tab", name="All models").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=stPlotlyChart]').length >= 1")
    settle(page)
    page.locator("[data-testid=stPlotlyChart]").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "browser-6-compare-all.png"))


def test_presentation_mode_fits_a_1280x800_projector(server):
    with browser_page(f"{server}/?present=true", 1280, 800) as page:
        page.wait_for_selector(".swipe-frame img")
        settle(page)
        page.mouse.move(640, 790)  # no tooltip over the screenshot
        page.screenshot(path=str(ARTIFACTS / "browser-7-presentation-1280x800.png"))
        assert not page.get_by_text("squeezes the image").is_visible()
        for label in ("PSNR", "SSIM", "Bytes", "Bits per pixel"):
            tile = page.locator("[data-testid=stMetric]").filter(has_text=label).first.bounding_box()
            assert tile["y"] >= 0 and tile["y"] + tile["height"] <= 800, (label, tile)  # fully on screen
            assert tile["x"] + tile["width"] <= 1280, (label, tile)
        value = page.locator("[data-testid=stMetricValue]").first
        assert float(value.evaluate("v => parseFloat(getComputedStyle(v).fontSize)")) >= 36  # readable from the back
        frame = page.locator(".swipe-frame").first.bounding_box()
        assert frame["y"] + frame["height"] <= 800 and frame["height"] >= 400  # large, and not cut off


def test_the_uses_tabs_draw_their_pictures(page):
    """Each use's tab shows all its pictures, decoded (not broken) and with alt text."""
    for tab, pictures in (("Denoise", 3), ("Find defects", 2), ("Interpolate", 10)):
        page.get_by_role("tab", name=tab).click()
        settle(page)
        page.wait_for_function("""n => {
            const shown = [...document.querySelectorAll('[data-testid=stTabs] [role=tabpanel] img')]
                .filter(i => i.offsetParent);
            return shown.length === n && shown.every(i => i.complete && i.naturalWidth > 0 && i.alt.length > 0);
        }""", arg=pictures)
    page.screenshot(path=str(ARTIFACTS / "interpolate.png"))
