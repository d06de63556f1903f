"""`streamlit run app.py` driven by a real Chromium through Playwright, on tiny weights.

Needs Debian's Chromium at /usr/bin/chromium (`apt-get install -y chromium`; Playwright's own
browser download is not used). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from test_explore import photo
from app_models import make_app_weights

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 120_000  # a first run loads torch and the models on a busy CPU


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app served by `streamlit run` on a free port, on tiny weights; yields its URL."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium`")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    folder = tmp_path_factory.mktemp("browser")
    weights = make_app_weights(folder)
    port = free_port()
    env = {**os.environ, "AUTOENCODER_WEIGHTS": str(weights), "OMP_NUM_THREADS": "1"}
    log = open(folder / "streamlit.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start: {(folder / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(server)
        page.wait_for_selector("[data-testid=stMetric]")
        settle(page)
        yield page
        browser.close()


def settle(page) -> None:
    """Wait until the script run is over (Streamlit's 'running' status widget is gone)."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
    page.wait_for_timeout(300)


def psnr_shown(page) -> str:
    tile = page.locator("[data-testid=stMain] [data-testid=stMetric]").filter(has_text="PSNR").first
    return tile.locator("[data-testid=stMetricValue]").inner_text()


def main_image_sources(page) -> list[str]:
    """src of the original, reconstruction and error map (the first three images of the page body)."""
    images = page.locator("[data-testid=stMain] [data-testid=stImage] img")
    return [images.nth(i).get_attribute("src") for i in range(3)]


def test_upload_then_slider_updates_psnr_and_reconstruction(page, tmp_path):
    page.screenshot(path=str(ARTIFACTS / "browser-1-default.png"))
    assert page.get_by_text("Original · 512×512").is_visible()

    upload = tmp_path / "upload.png"
    Image.fromarray(photo(120, 160, seed=3)).save(upload)
    page.locator("section[data-testid=stSidebar] [data-testid=stFileUploaderDropzoneInput]").set_input_files(str(upload))
    page.get_by_text("Original · 160×120").wait_for()
    settle(page)
    psnr_before, sources_before = psnr_shown(page), main_image_sources(page)
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
    psnr_after, sources_after = psnr_shown(page), main_image_sources(page)
    assert psnr_after != psnr_before
    assert sources_after[0] == sources_before[0]  # the same original…
    assert sources_after[1] != sources_before[1]  # …and a new reconstruction
    assert page.get_by_text("Original · 160×120").is_visible()
    page.screenshot(path=str(ARTIFACTS / "browser-3-slider-moved.png"))


def test_bad_upload_shows_an_error_and_compare_all_and_presentation_work(page, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    page.locator("section[data-testid=stSidebar] [data-testid=stFileUploaderDropzoneInput]").set_input_files(str(bad))
    page.locator("[data-testid=stAlertContentError]").filter(has_text="broken.png").wait_for()
    settle(page)
    assert page.get_by_text("Original · 512×512").is_visible()  # the page still works
    page.screenshot(path=str(ARTIFACTS / "browser-4-bad-upload.png"))

    page.get_by_text("Run every model on this image").click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=stPlotlyChart]').length >= 2")
    settle(page)
    page.locator("[data-testid=stPlotlyChart]").nth(1).scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "browser-5-compare-all.png"))

    page.get_by_text("Presentation", exact=True).click()
    page.wait_for_url("**present=true**")
    settle(page)
    page.wait_for_timeout(1000)  # the layout change re-mounts the page
    page.evaluate("() => document.querySelector('h1').scrollIntoView()")
    page.mouse.move(700, 1000)  # no tooltip over the screenshot
    assert not page.get_by_text("squeezes the image").is_visible()
    page.screenshot(path=str(ARTIFACTS / "browser-6-presentation.png"))
