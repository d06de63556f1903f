"""`streamlit run app.py` driven by a real Chromium through Playwright, on tiny weights.

Needs Debian's Chromium at /usr/bin/chromium (`apt-get install -y chromium`; Playwright's own
browser download is not used). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import io
import re
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from app_models import make_app_weights
from autoencoder.models import MODEL_FAMILIES
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
def browser_page(url: str, width: int, height: int, phone: bool = False):
    """A Chromium page of width × height at `url`, once the app's numbers are drawn; `phone`:
    a touch screen that says it is mobile."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone)
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
    try:  # the indicator appears once the server has the rerun; a quick run may be over already
        page.wait_for_selector("[data-testid=stStatusWidget]", timeout=1500)
    except Exception:  # noqa: BLE001 (Playwright's TimeoutError)
        pass
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
    page.wait_for_timeout(400)


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


# ---------------------------------------------------------------------------------------
# Issue 21: one screen at every size, presentation after use, steady reruns, readability

def box(page, selector: str) -> dict:
    found = page.locator(selector).first
    found.wait_for()
    return found.bounding_box()


def inside(b: dict, width: int, height: int) -> bool:
    return b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["width"] <= width + 0.5 and b["y"] + b["height"] <= height + 0.5


SLIDER = "[data-testid=stSlider]:has-text('Bottleneck')"
TILE = "[data-testid=stMain] .st-key-tiles [data-testid=stMetric]"

# Everything on the page that could be cut short: [selector, what] pairs whose text overflows
# its box (an ellipsis, or clipped) are returned by TRUNCATED.
TRUNCATED = """() => {
    const cut = [];
    for (const e of document.querySelectorAll('[data-testid=stMain] .st-key-tiles *, [data-testid=stTab] *')) {
        if (!e.offsetParent || !e.childNodes.length || e.children.length) continue;  // leaves with text only
        const style = getComputedStyle(e);
        if (e.scrollWidth > e.clientWidth + 1 && style.overflow !== 'visible') cut.push(e.innerText);
        if (style.textOverflow === 'ellipsis' && e.scrollWidth > e.clientWidth + 1) cut.push(e.innerText);
    }
    return cut;
}"""

SWIPE_LABELS = """() => {
    for (const e of document.querySelectorAll('*')) {
        const labels = e.shadowRoot && e.shadowRoot.querySelectorAll('.swipe-label');
        if (labels && labels.length) return [...labels].map(l => ({
            text: l.textContent, size: parseFloat(getComputedStyle(l).fontSize),
            cut: l.scrollWidth > l.clientWidth + 1 || l.scrollHeight > l.clientHeight + 1}));
    }
    return [];
}"""


@pytest.mark.parametrize("width, height, query, phone", [
    (1280, 800, "", False), (1280, 800, "?present=true", False), (1440, 900, "", False), (390, 844, "", True)])
def test_slider_and_picture_share_one_screen(server, width, height, query, phone):
    """At a projector's, a laptop's and a phone's size, after moving the slider: the slider and the
    whole picture are on screen without scrolling, the numbers beside it (under it, two to a row,
    on a phone, where the PSNR is also on the picture)."""
    with browser_page(f"{server}/{query}", width, height, phone) as page:
        page.locator(f"{SLIDER} input[type=range]").first.focus()
        page.keyboard.press("ArrowRight")
        page.locator(".st-key-status").filter(has_text="conv-c4").wait_for()
        settle(page)
        page.screenshot(path=str(ARTIFACTS / f"one-screen-{width}x{height}{'-present' if query else ''}.png"))
        slider, frame = box(page, SLIDER), box(page, ".swipe-frame")
        assert inside(slider, width, height), slider
        assert inside(frame, width, height), frame
        assert frame["height"] >= (300 if phone else 400)  # large, not a thumbnail
        tiles = [page.locator(TILE).nth(i).bounding_box() for i in range(page.locator(TILE).count())]
        assert tiles and page.evaluate(TRUNCATED) == []
        if phone:
            assert tiles[0]["y"] == tiles[1]["y"] and tiles[0]["x"] < tiles[1]["x"]  # two to a row
            assert "dB" in page.evaluate(SWIPE_LABELS)[1]["text"]  # the headline number on the picture
            # No sidebar over the page; the picker at the top uploads and picks instead.
            assert page.locator("[data-testid=stSidebar]").get_attribute("data-collapsed") == "true"
            picker = box(page, ".st-key-top_picker button")
            assert inside(picker, width, height) and picker["y"] < slider["y"]
            assert page.get_by_text("Drag across the picture").first.is_visible()  # touch words
        else:
            psnr = tiles[0]
            assert inside(psnr, width, height) and psnr["x"] >= frame["x"] + frame["width"]  # beside it
            assert page.get_by_text("Move the pointer to move the split").is_visible() == (not query)  # no hint on a projector


def check_presentation(page, where: str) -> None:
    """Nothing cut off or cut short on a 1280×800 projector, and large type on and beside the picture."""
    width = page.viewport_size["width"]
    assert page.evaluate(TRUNCATED) == [], where
    assert page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollWidth") <= width, where
    tablist = page.locator("[data-testid=stTabs] [role=tablist]").first
    assert tablist.evaluate("t => t.scrollWidth <= t.clientWidth + 1"), where  # every tab label whole
    for i in range(page.get_by_role("tab").count()):
        assert inside(page.get_by_role("tab").nth(i).bounding_box(), width, 800), (where, i)
    for i in range(page.locator(TILE).count()):
        tile = page.locator(TILE).nth(i)
        assert inside(tile.bounding_box(), width, 800), (where, tile.inner_text())
        for part in ("stMetricLabel", "stMetricValue", "stMetricDelta"):
            found = tile.locator(f"[data-testid={part}]")
            if found.count():
                size = found.first.evaluate("e => parseFloat(getComputedStyle(e.querySelector('p') || e).fontSize)")
                assert size >= 24, (where, part, size)
    quote = page.locator("[data-testid=stMain] p").filter(has_text="than its pixels").first
    assert "smaller" in quote.inner_text()  # the ratio a room can read
    assert float(quote.evaluate("p => parseFloat(getComputedStyle(p).fontSize)")) >= 24


def test_presentation_survives_every_model_every_tab_and_the_sidebar(server):
    with browser_page(f"{server}/?present=true", 1280, 800) as page:
        for family in ("conv", "dense", "codec"):
            page.get_by_text(MODEL_FAMILIES[family].label).first.click()
            settle(page)
            slider = page.locator(f"{SLIDER} input[type=range]")
            positions = 1
            if slider.count():
                slider.first.focus()
                page.keyboard.press("Home")
                settle(page)
                positions = int(slider.first.get_attribute("max")) + 1
            for step in range(positions):
                if step:
                    slider.first.focus()
                    page.keyboard.press("ArrowRight")
                    settle(page)
                where = f"{family}, position {step}"
                check_presentation(page, where)
                frame = box(page, ".swipe-frame")
                assert inside(frame, 1280, 800) and frame["height"] >= 400, (where, frame)
                labels = page.evaluate(SWIPE_LABELS)
                assert all(label["size"] >= 24 and not label["cut"] for label in labels), (where, labels)
        page.screenshot(path=str(ARTIFACTS / "presentation-after-every-model.png"))
        tabs = [page.get_by_role("tab").nth(i).inner_text() for i in range(page.get_by_role("tab").count())]
        for tab in tabs:
            page.get_by_role("tab", name=tab).click()
            settle(page)
            check_presentation(page, tab)
            if tab == "Same bytes" and page.locator(".swipe-frame").count():
                assert inside(box(page, ".swipe-frame"), 1280, 800)  # under its verdicts, still whole
        page.get_by_role("tab", name="Swipe").click()
        settle(page)
        page.locator("[data-testid=stExpandSidebarButton]").click()  # to upload, say
        page.wait_for_timeout(800)  # the sidebar slides in
        check_presentation(page, "sidebar open")
        page.screenshot(path=str(ARTIFACTS / "presentation-sidebar-open.png"))


SAMPLER = """() => {
    window.__samples = [];
    const swipe = () => {
        for (const e of document.querySelectorAll('*'))
            if (e.shadowRoot && e.shadowRoot.querySelector('.swipe-label.right')) return e.shadowRoot;
        return null;
    };
    let root = null;
    const sample = () => {
        if (!root || !root.host.isConnected) root = swipe();
        const stage = document.querySelector('.st-key-stage');
        const psnr = [...document.querySelectorAll('.st-key-tiles [data-testid=stMetric]')]
            .find(m => m.innerText.startsWith('PSNR'));
        window.__samples.push({
            t: performance.now(),
            status: (document.querySelector('.st-key-status') || {}).innerText || '',
            label: root ? root.querySelector('.swipe-label.right').textContent : '',
            original: root ? root.querySelector('img.swipe-left').alt : '',
            psnr: psnr ? psnr.querySelector('[data-testid=stMetricValue]').innerText : '',
            faded: stage ? parseFloat(getComputedStyle(stage).opacity) < 0.6 : false,
            chosen: [...document.querySelectorAll('[data-testid=stSidebar] button[kind=primary], '
                + '[data-testid=stSidebar] [data-testid=stBaseButton-primary]')].map(b => b.innerText).join('|'),
        });
        if (window.__sampling) requestAnimationFrame(sample);
    };
    window.__sampling = true;
    requestAnimationFrame(sample);
}"""


def samples(page) -> list[dict]:
    return page.evaluate("() => { window.__sampling = false; return window.__samples; }")


def mixed_too_long(shots: list[dict], longest_ms: float = 300) -> list[dict]:
    """Moments an unfaded page showed one model's name with another's picture or numbers, for
    longer than a redraw takes (Streamlit draws a run's elements one after the other)."""
    def model_of(status: str) -> str | None:
        return None if not status or status.startswith("Running") else status.split(":")[0].strip()

    bad, since = [], None
    for shot in shots:
        named = model_of(shot["status"])
        mixed = not shot["faded"] and named and shot["label"] and (
            not shot["label"].startswith(named + " ·") or shot["psnr"] not in shot["label"].split(" · "))
        if mixed and since is None:
            since = shot
        elif not mixed and since is not None:
            if shot["t"] - since["t"] > longest_ms:
                bad.append(since)
            since = None
    return bad


def test_reruns_show_one_model_at_a_time_and_never_the_gallery_between_uploads(page, tmp_path):
    big = tmp_path / "big.png"
    Image.fromarray(photo(768, 1024, seed=5)).save(big)  # a run of a few tenths of a second, even tiny
    page.evaluate(SAMPLER)
    upload(page, big)
    page.locator('.swipe-frame img.swipe-left[alt="The original image, 1024×768 pixels"]').wait_for()
    page.get_by_text(MODEL_FAMILIES["codec"].label).first.click()  # not computed yet
    page.locator(".st-key-status").filter(has_text="codec-c4-hp:").wait_for()
    settle(page)
    second = tmp_path / "second.png"
    Image.fromarray(photo(600, 800, seed=6)).save(second)
    upload(page, second)  # replacing a file: the uploader is empty for one run
    page.locator('.swipe-frame img.swipe-left[alt="The original image, 800×600 pixels"]').wait_for()
    settle(page)
    shots = samples(page)
    assert len(shots) > 20
    assert mixed_too_long(shots) == []
    after_first = [s for s in shots if s["original"] != "" and "1024×768" in s["original"]]
    assert after_first
    later = shots[shots.index(after_first[0]):]
    assert not [s for s in later if "512×512" in s["original"]]  # the gallery photo never came back
    assert not [s for s in later if s["chosen"]]  # nor was a sample photo marked chosen
    for shot in (s for s in shots if s["status"].startswith("Running")):
        # While a model runs, what is on screen is faded and named for itself.
        assert shot["faded"], shot
        assert shot["label"].startswith(shot["status"].split("still showing ")[1].split(" on ")[0]), shot


def test_file_names_are_text_and_fetch_nothing(page):
    fetched = []
    page.on("request", lambda request: fetched.append(request.url) if "beacon" in request.url else None)
    name = "![t](http://127.0.0.1:8699/beacon.png).png"
    buffer = io.BytesIO()
    Image.fromarray(photo(40, 60)).save(buffer, format="PNG")
    page.locator("section[data-testid=stSidebar] [data-testid=stFileUploaderDropzoneInput]").set_input_files(
        {"name": name, "mimeType": "image/png", "buffer": buffer.getvalue()})
    page.locator('.swipe-frame img.swipe-left[alt="The original image, 60×40 pixels"]').wait_for()
    settle(page)
    page.get_by_role("button", name="Coffee", exact=True).click()  # the way back names the file
    settle(page)
    assert page.get_by_role("button", name=f"Back to {name}", exact=True).first.is_visible()
    page.wait_for_timeout(500)
    assert fetched == []


def test_tabs_are_a_tab_press_away_and_captions_are_readable(page):
    page.keyboard.press("Tab")  # the skip link comes first…
    assert page.evaluate("() => document.activeElement.innerText") == "Skip to the pictures"
    page.keyboard.press("Enter")  # …and lands on the open tab
    assert page.evaluate("() => document.activeElement.getAttribute('role')") == "tab"
    page.keyboard.press("ArrowRight")
    assert page.evaluate("() => document.activeElement.innerText") == "Side by side"
    # Grey text reaches 4.5:1 on white (WCAG AA): captions are the theme's text colour at 60 %.
    contrast = page.locator("[data-testid=stCaptionContainer]").first.evaluate("""c => {
        const [r, g, b, a = 1] = getComputedStyle(c).color.match(/[\\d.]+/g).map(Number);
        const alpha = a * parseFloat(getComputedStyle(c).opacity);
        const lin = v => { v = (255 - alpha * (255 - v)) / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
        const L = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
        return 1.05 / (L + 0.05);
    }""")
    assert contrast >= 4.5, contrast


# ---------------------------------------------------------------------------------------
# Issue 23: the codec family's rate control beside the picture

RATE_INPUT = ".st-key-rate_kb input"


def status_text(page) -> str:
    return page.locator(".st-key-status").first.inner_text()


def choose_rate(page, option: str) -> None:
    page.locator(".st-key-rate_mode").click()
    page.get_by_role("option", name=option).click()
    settle(page)


@pytest.mark.parametrize("width, height, phone", [(1280, 800, False), (390, 844, True)])
def test_the_rate_control_and_the_picture_share_one_screen(server, width, height, phone):
    """The codec family's rate control: a size typed, then stepped up, then a quality slid; each
    time the file's name and bytes under the control are the swipe's, and the control and the
    whole picture are on screen together."""
    with browser_page(server, width, height, phone) as page:
        page.get_by_text(MODEL_FAMILIES["codec"].label).first.click()
        settle(page)
        choose_rate(page, "Rate: size (KB)")
        size = page.locator(RATE_INPUT)
        size.fill("10")
        size.press("Enter")
        page.locator(".st-key-status").filter(has_text="for 10 KB").wait_for()
        settle(page)
        page.locator(".st-key-rate_kb button").last.click()  # + one step: 11 KB
        page.locator(".st-key-status").filter(has_text="for 11 KB").wait_for()
        settle(page)
        page.screenshot(path=str(ARTIFACTS / f"rate-size-{width}x{height}.png"))
        status = status_text(page)
        name, made = re.match(r"(.+?): ([\d,]+ B), ", status).groups()  # 'codec-c4-hp Δ1.272', '10,996 B'
        assert name.startswith("codec-c4-hp Δ") and int(made.removesuffix(" B").replace(",", "")) <= 11_000
        right = page.evaluate(SWIPE_LABELS)[1]["text"]
        assert right.startswith(f"{name} · ") and f"· {made} ·" in right  # the picture is the file named
        control, frame = box(page, RATE_INPUT), box(page, ".swipe-frame")
        assert inside(control, width, height) and inside(frame, width, height), (control, frame)
        assert frame["height"] >= (300 if phone else 400)
        if not phone:
            psnr = page.locator(TILE).first.bounding_box()
            assert inside(psnr, width, height) and psnr["x"] >= frame["x"] + frame["width"]  # beside it
        size.fill("0")  # no size: said under the control, and the slider's model shown meanwhile
        size.press("Enter")
        page.locator(".st-key-status").filter(has_text="0 KB is no size").wait_for()
        settle(page)
        assert page.evaluate(SWIPE_LABELS)[1]["text"].startswith("codec-c4-hp · ")
        choose_rate(page, "Rate: quality")
        slider = page.locator(".st-key-rate_quality input[type=range]")
        slider.focus()
        page.keyboard.press("ArrowRight")  # 75 → 76
        page.locator(".st-key-status").filter(has_text="quality 76:").wait_for()
        settle(page)
        page.screenshot(path=str(ARTIFACTS / f"rate-quality-{width}x{height}.png"))
        assert inside(box(page, ".st-key-rate_quality"), width, height) and inside(box(page, ".swipe-frame"), width, height)
