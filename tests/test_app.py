"""The Streamlit app driven through streamlit.testing.v1.AppTest, on tiny weights made here."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from autoencoder import baselines
from autoencoder.data import GALLERY
from explorer import report
from corpus import IMAGE_CASES, MANIFEST_CASES, WHOLE_MANIFEST_CASES, break_model
from conftest import photo

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def app(app_weights, monkeypatch) -> AppTest:
    """The app after its first run on the defaults, pointed at the tiny weights."""
    monkeypatch.setenv("AUTOENCODER_WEIGHTS", str(app_weights))
    at = AppTest.from_file(APP, default_timeout=90).run()
    assert_healthy(at)
    return at


TILES = ["PSNR", "SSIM", "Smaller", "Size"]  # beside the picture; the rest under "All numbers"
PRESENTED = ["PSNR", "Smaller", "Size"]


def assert_healthy(at: AppTest, tiles: list[str] = TILES) -> None:
    assert not at.exception, [e.value for e in at.exception]
    # The tiles stand beside the view, drawn after it: the last metrics on the page.
    assert [m.label for m in at.metric[-len(tiles):]] == tiles, "the metric tiles are missing"


def metrics_of(at: AppTest) -> dict[str, tuple[str, str]]:
    """Every number of the page's result as label → (value, change): the tiles beside the
    picture and the "All numbers" table (compare-all rows add tiles of their own before them)."""
    shown = {m.label: (m.value, m.delta) for m in at.metric[-len(TILES):]}
    table = next(m.value for m in at.markdown if m.value.startswith("| | value | change |"))
    for row in table.splitlines()[2:]:
        label, value, change, _ = (cell.strip() for cell in row.strip("|").split("|"))
        shown.setdefault(label, (value, change or None))
    return shown


def quote(at: AppTest) -> str:
    """The quotable line under the tiles."""
    return next(m.value for m in at.markdown if "than its pixels" in m.value)


def status_line(at: AppTest) -> str:
    """The line under the slider: the model on screen."""
    return next(c.value for c in at.caption if c.value.startswith("**"))


def view(at: AppTest, name: str) -> AppTest:
    """Open one of the page's tabs (only the open tab runs) and rerun."""
    at.session_state["view"] = name
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def seen(markdown: str) -> str:
    """Markdown as a reader sees it: backslash escapes (file names are escaped) undone."""
    return re.sub(r"\\(.)", r"\1", markdown)


def main_captions(at: AppTest) -> list[str]:
    """The pictures' captions as shown (image captions are Markdown)."""
    return [seen(c) for image in at.main.image for c in image.captions]


def swipes(at: AppTest) -> list[dict]:
    """The data of every swipe comparison on the page (explorer.views.swipe_payload)."""
    return [json.loads(c.proto.json) for c in at.get("bidi_component") if c.proto.component_name == "autoencoder_swipe"]


def original_size(at: AppTest) -> str:
    """'W×H' of the original, as the swipe view's alt text states it."""
    alt = swipes(at)[0]["left_alt"]
    assert alt.startswith("The original image, ") and alt.endswith(" pixels"), alt
    return alt.removeprefix("The original image, ").removesuffix(" pixels")


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def upload_photo(at: AppTest, name: str, image: np.ndarray, key: str = "upload") -> str:
    """Upload `image` as a PNG named `name` and rerun; the size the page then shows, 'W×H'."""
    at.file_uploader(key=key).upload(name, png(image), "image/png")
    at.run()
    assert_healthy(at)
    return original_size(at)


def image_alts(at: AppTest) -> list[str | None]:
    """The alt text of every st.image on the page (None where it has none)."""
    return [img.alt if img.HasField("alt") else None for image in at.image for img in image.proto.imgs]


def test_default_page_shows_a_gallery_image_through_the_middle_conv_model(app):
    assert not app.error
    assert original_size(app) == "512×512"  # the astronaut: never an empty page
    (shown,) = swipes(app)
    assert shown["left_label"].startswith("Original · ") and shown["right_label"].startswith("conv-c16 · ")
    assert shown["left"].startswith("data:image/png;base64,") and shown["left"] != shown["right"]
    slider = app.select_slider(key="model_conv")
    assert slider.options == ["conv-c16 · 12×", "conv-c4 · 48×"]
    assert slider.value == "conv-c16"
    assert status_line(app) == "**conv-c16**: 12× · 8×8×16 latent per 64×64 px · 2 bpp at 8 bits"
    shown = metrics_of(app)
    assert shown["Bytes"][0] == f"{16 * 64 * 64 + 16 * 4:,} B" and shown["Size"][0] == "65.6 KB"
    assert shown["Smaller"][0] == "12×"  # 512 × 512 × 3 B ÷ 65,600 B
    assert shown["Values ratio"][0] == "12×"
    assert quote(app) == "**12× smaller** than its pixels · 2.002 bits per pixel"  # a gallery photo: no file
    assert all(not delta for _, delta in shown.values())  # nothing to compare with yet
    assert not app.get("plotly_chart")  # the latent heatmap only runs in its own tab
    assert len(app.sidebar.image) == 6  # the gallery thumbnails


def test_every_view_opens_and_every_picture_has_alt_text(app):
    for name in ("Side by side", "Zoom", "Latent", "Same bytes", "Files", "Denoise", "Find defects",
                 "Interpolate"):
        view(app, name)
        assert_healthy(app)
        alts = image_alts(app)
        assert alts and all(alts), (name, alts)
    view(app, "Side by side")
    assert "Original · 512×512" in main_captions(app)
    assert any("|x − x̂|, mean over RGB" in h.proto.body for h in app.get("html"))  # the error map's colour bar


def test_slider_move_changes_the_numbers_and_shows_deltas(app):
    before, picture = metrics_of(app), swipes(app)[0]
    app.select_slider(key="model_conv").set_value("conv-c4").run()
    assert_healthy(app)
    after = metrics_of(app)
    assert after["Bytes"][0] == f"{4 * 64 * 64 + 4 * 4:,} B" and after["Size"][0] == "16.4 KB"
    assert after["PSNR"][0] != before["PSNR"][0]
    assert after["Bytes"][1] == f"{-12 * 64 * 64 - 12 * 4:+,} B" and after["Size"][1] == "-49.2 KB"
    assert after["Smaller"][0] == "48×" and status_line(app).startswith("**conv-c4**: 48×")
    assert after["PSNR"][1].endswith(" dB")
    moved = swipes(app)[0]
    assert moved["left"] == picture["left"] and moved["right"] != picture["right"]  # same original, new reconstruction
    view(app, "Zoom")
    app.slider(key="zoom_x").set_value(10).run()  # an unrelated rerun keeps the comparison
    assert metrics_of(app)["Bytes"][1] == after["Bytes"][1]


def markdown_with(at: AppTest, text: str) -> str:
    return next(m.value for m in at.markdown if text in m.value)


def test_denoise_tab_scores_noisy_denoised_and_wavelet_against_the_clean_image(app):
    view(app, "Denoise")
    verdict = markdown_with(app, "comes closer to the clean image")  # a 3-step denoiser may lose: it says which
    assert verdict.startswith(("#### denoise-c4 ", "#### The wavelet denoiser "))
    captions = main_captions(app)
    noisy = float(next(c for c in captions if c.startswith("Noisy input · ")).split("· ")[1].split(" dB")[0])
    assert 19 < noisy < 22  # σ = 25 of 255 on a photo, some of it clipped: about 20·log10(255/25) dB
    assert any(c.startswith("Denoised by denoise-c4 · ") for c in captions)
    assert any(c.startswith("Wavelet denoiser · ") for c in captions)
    app.slider(key="noise_sigma").set_value(50).run()
    louder = float(next(c for c in main_captions(app) if c.startswith("Noisy input")).split("· ")[1].split(" dB")[0])
    assert louder < noisy - 4  # twice the noise: about 6 dB worse
    assert not app.exception


def score_of(at: AppTest) -> float:
    return float(markdown_with(at, "Anomaly score").split("Anomaly score ")[1].split()[0])


def test_find_defects_tab_scores_the_image_with_its_defect(app):
    # The tiny test models (3 steps, no PCA start) rebuild nothing well and have no calibration:
    # the tab gives the bare score of the image it shows, defect included, and its map. That a
    # real score finds defects and spares clean photos is test_uses's and the test below.
    app.button(key="gallery_4").click().run()
    view(app, "Find defects")
    assert score_of(app) > 0 and "No calibration" in " ".join(c.value for c in app.caption)
    clean = [image.proto.imgs[0].url for image in app.main.image[:2]]
    app.segmented_control(key="defect").set_value("noise patch").run()
    assert not app.exception
    assert [image.proto.imgs[0].url for image in app.main.image[:2]] != clean  # the input and its map both changed
    assert any("with a noise patch" in c for c in main_captions(app))


@pytest.mark.slow
def test_find_defects_calls_no_gallery_photo_anomalous_and_flags_a_noise_patch():
    """With the shipped weights and their calibration: every clean gallery photo gets a verdict
    other than anomalous; a noise patch (found on every photo in the calibration) is anomalous."""
    at = AppTest.from_file(APP, default_timeout=300).run()
    view(at, "Find defects")
    for i, entry in enumerate(GALLERY):
        at.button(key=f"gallery_{i}").click().run()
        assert not at.exception, entry.name
        headline = next(m.value for m in at.markdown if m.value.startswith("#### "))
        assert headline.startswith(("#### Looks normal", "#### Unsure")), (entry.name, headline)
    at.segmented_control(key="defect").set_value("noise patch").run()
    assert next(m.value for m in at.markdown if m.value.startswith("#### ")).startswith("#### Looks anomalous")


def test_interpolate_tab_shows_both_paths(app):
    view(app, "Interpolate")
    captions = main_captions(app)
    assert captions.count("t = 0") == 2 and captions.count("t = 1") == 2 and len(captions) == 10
    assert any("the decoded blend is" in c.value for c in app.caption)
    app.slider(key="blend_steps").set_value(3).run()
    assert len(main_captions(app)) == 6 and not app.exception


def test_family_switch_to_dense_uses_the_64px_centre(app):
    app.radio(key="family").set_value("dense").run()
    assert_healthy(app)
    assert original_size(app) == "64×64"
    assert any("Dense models see the centre square" in c.value for c in app.caption)
    assert metrics_of(app)["MS-SSIM"][0] == "–"  # too small for five scales
    assert metrics_of(app)["Bytes"][0] == "68 B" == metrics_of(app)["Size"][0]  # 64 codes + one float16 range
    assert quote(app).startswith("**181× smaller**")  # 64 × 64 × 3 B ÷ 68 B
    view(app, "Latent")  # the code drawn as its per-patch map: one 8×8 map for 64 values
    heatmap = json.loads(app.get("plotly_chart")[0].proto.spec)["data"][0]
    z = heatmap["z"]  # plotly sends arrays as {"dtype", "bdata", "shape"} or as nested lists
    assert (z["shape"] if isinstance(z, dict) else f"{len(z)}, {len(z[0])}").replace(" ", "") == "8,8"
    assert any("per-patch maps" in c.value for c in app.caption)


def test_notebook_view_runs_conv_models_on_64px(app):
    app.toggle(key="notebook").set_value(True).run()
    assert_healthy(app)
    assert original_size(app) == "64×64"
    assert metrics_of(app)["Bytes"][0] == f"{16 * 8 * 8 + 16 * 4:,} B"


def test_latent_view_numbers_channels_and_sorts_them_by_energy(app):
    view(app, "Latent")
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    numbers = [a["text"] for a in spec["layout"]["annotations"]]
    assert numbers == [str(c) for c in range(16)]  # every channel numbered, in channel order
    app.toggle(key="by_energy").set_value(True).run()
    assert not app.exception
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    by_energy = [int(a["text"]) for a in spec["layout"]["annotations"]]
    assert sorted(by_energy) == list(range(16)) and by_energy != list(range(16))


def test_gallery_pick_switches_the_image(app):
    app.button(key="gallery_2").click().run()  # Chelsea the cat, 451×300
    assert_healthy(app)
    assert original_size(app) == "451×300"


def test_upload_replaces_the_gallery_image_and_can_be_brought_back(app):
    assert upload_photo(app, "mine.png", photo(90, 120)) == "120×90"
    assert not app.error
    assert not [b for b in app.button if b.key == "back_to_upload"]  # showing the upload already
    app.button(key="gallery_1").click().run()  # back to the gallery while the file stays uploaded
    assert original_size(app) == "600×400"
    app.button(key="back_to_upload").click().run()
    assert_healthy(app)
    assert original_size(app) == "120×90"


def test_an_image_too_small_to_compress_says_so(app):
    assert upload_photo(app, "tiny.png", photo(2, 2)) == "2×2"
    (warning,) = app.warning
    assert "too small to compress" in warning.value and "12 B as plain 8-bit RGB" in warning.value


def test_codec_family_shows_the_decoded_file_its_bits_map_and_a_download(app):
    app.radio(key="family").set_value("codec").run()
    assert_healthy(app)
    shown = metrics_of(app)
    size = int(shown["Bytes"][0].removesuffix(" B").replace(",", ""))
    assert float(shown["Bits per pixel"][0]) == pytest.approx(8 * size / (512 * 512), abs=1e-3)
    # The real compression of the file written, and the line under the slider with this image's bits.
    assert shown["Smaller"][0] == report.times_text(512 * 512 * 3 / size)
    assert status_line(app).startswith(f"**codec-c4-hp**: {8 * size / (512 * 512):.3f} bpp on this image")
    assert "mean–scale hyperprior" in status_line(app) and "hyperprior prior" not in status_line(app)
    captions = main_captions(view(app, "Side by side"))
    assert any(c.startswith(f"Decoded from the {size:,} B .aez file · codec-c4-hp") for c in captions)
    assert any(c.startswith("Where the bits go") for c in captions)
    assert f"Compressed file (.aez, {size:,} B)" in [b.proto.label for b in view(app, "Files").get("download_button")]
    # docs/aez-format.md: magic, version and id length (6) + id (11) + sha prefix (8) + size, step and
    # stream count (11) + two streams' length and symbol check (16) + CRC (4) = 56 bytes around the streams.
    assert f"{size:,} B, of which 56 B header and checksum" in " ".join(m.value for m in view(app, "Latent").markdown)
    view(app, "Same bytes")
    verdicts = [m.value for m in app.markdown if "at these bytes" in m.value or "cannot make a file" in m.value]
    assert len(verdicts) == len(baselines.CODECS)  # one for each classical codec
    if [s for s in swipes(app)]:  # a swipe against the first codec that fits in the bytes
        assert swipes(app)[0]["right_label"].startswith("codec-c4-hp · ")


def test_an_uploaded_aez_file_is_decoded_and_a_broken_one_refused(app, app_weights):
    from autoencoder import codec, model_info
    from autoencoder.data import to_tensor

    view(app, "Files")
    model, sha = codec.load_codec("codec-c4-hp")
    data = codec.compress(model, to_tensor(photo(70, 90)), "codec-c4-hp", sha).data
    app.file_uploader(key="aez_upload").upload("mine.aez", data, "application/octet-stream")
    app.run()
    assert_healthy(app)
    assert "mine.aez, decoded with codec-c4-hp" in main_captions(app)
    assert model_info("codec-c4-hp").family == "codec"
    app.file_uploader(key="aez_upload").upload("broken.aez", data[:-9], "application/octet-stream")
    app.run()
    assert_healthy(app)
    assert any("broken.aez** cannot be decoded" in seen(e.value) and "CRC-32" in e.value for e in app.error)


def test_presentation_layout_hides_the_prose_and_shows_four_large_numbers(app):
    intro = [m.value for m in app.markdown if "bottleneck" in m.value]
    assert intro
    app.toggle(key="present").set_value(True).run()
    assert_healthy(app, PRESENTED)
    assert len(app.metric) == len(PRESENTED)
    assert not [m.value for m in app.markdown if "squeezes the image" in m.value]
    assert any("--label-size: 24px" in h.proto.body for h in app.get("html"))  # the large-type styles
    assert "than its pixels" in quote(app)  # the ratio a room can read
    # The picture's tallest size is the page's, per screen (the browser test measures it).
    assert swipes(app)[0]["max_height"].startswith("var(--swipe-max-height")


@pytest.mark.slow
def test_compare_all_runs_every_model_and_draws_the_rate_distortion_chart(app):
    view(app, "All models")
    assert_healthy(app)
    assert len(app.get("plotly_chart")) == 1
    psnrs = [m for m in app.metric if m.label == "PSNR"]
    assert len(psnrs) == 1 + 4  # the main tiles + one row per model
    rd = app.get("plotly_chart")[0].proto.spec
    assert "JPEG (this image)" in rd and "dense models (this image)" in rd


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.slow
def test_uploads_in_every_accepted_format_are_converted(app):
    rgb = Image.fromarray(photo(90, 120))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    gray16 = Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.uint16) * 257)  # mode I;16
    uploads = {
        "rotated.jpg": (encoded(rgb, "JPEG", exif=exif), "90×120"),  # EXIF orientation applied
        "alpha.png": (encoded(rgb.convert("RGBA"), "PNG"), "120×90"),
        "palette.gif": (encoded(rgb.convert("P"), "GIF"), "120×90"),
        "cmyk.jpg": (encoded(rgb.convert("CMYK"), "JPEG"), "120×90"),
        "deep.tif": (encoded(gray16, "TIFF"), "120×90"),
        "photo.webp": (encoded(rgb, "WEBP"), "120×90"),
        "photo.bmp": (encoded(rgb, "BMP"), "120×90"),
    }
    for name, (content, size) in uploads.items():
        app.file_uploader(key="upload").set_value((name, content, "application/octet-stream")).run()
        assert_healthy(app)
        assert not app.error, (name, [e.value for e in app.error])
        assert original_size(app) == size, name


# ---------------------------------------------------------------------------------------
# Issue 16's corpus through the page: a damaged model is left out, the page keeps working.

@pytest.fixture
def app_with(app_weights, tmp_path, monkeypatch):
    """(case → the app run on a copy of the tiny weights with conv-c16, the default, damaged)."""
    def run(case) -> AppTest:
        folder = tmp_path / "weights"
        shutil.copytree(app_weights, folder)
        break_model(folder, "conv-c16", case)
        monkeypatch.setenv("AUTOENCODER_WEIGHTS", str(folder))
        return AppTest.from_file(APP, default_timeout=90).run()
    return run


@pytest.mark.parametrize("name", sorted(MANIFEST_CASES))
def test_a_damaged_model_is_left_out_with_its_reason_and_the_rest_works(app_with, name):
    case = MANIFEST_CASES[name]
    at = app_with(case)
    assert_healthy(at)
    (warning,) = [w.value for w in at.warning if "Left out of the model list" in w.value]
    assert case.words in warning and "conv-c16" in warning
    assert any("**Bottleneck:** conv-c4" in m.value for m in at.markdown)  # the one conv model left
    assert swipes(at)[0]["right_label"].startswith("conv-c4 · ")


@pytest.mark.parametrize("name", sorted(WHOLE_MANIFEST_CASES))
def test_a_manifest_that_is_no_model_list_gives_one_clear_error(app_weights, tmp_path, monkeypatch, name):
    text, words = WHOLE_MANIFEST_CASES[name]
    folder = tmp_path / "weights"
    shutil.copytree(app_weights, folder)
    (folder / "manifest.json").write_text(text)
    monkeypatch.setenv("AUTOENCODER_WEIGHTS", str(folder))
    at = AppTest.from_file(APP, default_timeout=90).run()
    assert not at.exception
    assert words in at.error[0].value and "The model list cannot be read" in at.error[0].value
    assert len(at.sidebar.image) == 6  # the sidebar still works


@pytest.mark.parametrize("name", sorted(IMAGE_CASES))
def test_odd_image_files_through_the_page(app, name):
    """Every image case of the corpus: decoded and shown, or refused in the package's words
    (never Pillow's), with the last gallery photo shown and the session going on."""
    case = IMAGE_CASES[name]
    app.file_uploader(key="upload").upload("odd-file.png", case.data(), "application/octet-stream")
    app.run()
    assert_healthy(app)
    if case.words is None:
        assert not app.error, [e.value for e in app.error]
        assert original_size(app) != "512×512"
        return
    (error,) = app.error
    assert seen(error.value).startswith("**odd-file.png** cannot be used: ") and case.words in seen(error.value)
    assert "Showing “Astronaut” instead" in error.value and "DOS attack" not in error.value
    assert original_size(app) == "512×512"
    app.select_slider(key="model_conv").set_value("conv-c4").run()  # and the session goes on
    assert_healthy(app)


# ---------------------------------------------------------------------------------------
# Issue 21: quotable numbers, steady reruns, the slider per family; issue 22: file names as text

def test_an_upload_is_compared_with_its_own_file(app):
    data = png(photo(96, 128))
    app.file_uploader(key="upload").upload("mine.png", data, "image/png")
    app.run()
    assert_healthy(app)
    size = int(metrics_of(app)["Bytes"][0].removesuffix(" B").replace(",", ""))
    change = report.percent_text(size / len(data) - 1)  # the model saw the file's own 128×96 pixels
    assert quote(app) == (f"**{report.smaller_text(size, 96, 128)}** than its pixels · "
                          f"**{change} vs your {report.size_text(len(data))} PNG** · {8 * size / (96 * 128):.3f} bits per pixel")


def test_replacing_an_upload_never_shows_the_gallery_photo_in_between(app):
    assert upload_photo(app, "first.png", photo(90, 120, seed=1)) == "120×90"
    # Replacing a file empties the uploader for one run before the new file is in: that run
    # keeps the last upload on screen, and no sample photo is marked as chosen.
    app.file_uploader(key="upload").clear()
    app.run()
    assert_healthy(app)
    assert original_size(app) == "120×90"
    assert not [b for b in app.sidebar.button if b.key.startswith("gallery_") and b.proto.type == "primary"]
    assert upload_photo(app, "second.png", photo(100, 150, seed=2)) == "150×100"
    app.button(key="gallery_1").click().run()  # a sample photo still replaces it when asked
    assert original_size(app) == "600×400"


def test_the_compact_picker_uploads_too(app):
    assert upload_photo(app, "phone.png", photo(80, 100), key="upload_top") == "100×80"
    app.pills(key="gallery_pills").set_value("Coffee").run()
    assert original_size(app) == "600×400"
    app.button(key="back_to_upload_top").click().run()
    assert original_size(app) == "100×80"


def test_the_slider_keeps_its_position_per_family(app):
    app.select_slider(key="model_conv").set_value("conv-c4").run()
    app.radio(key="family").set_value("codec").run()
    assert status_line(app).startswith("**codec-c4-hp**")
    app.radio(key="family").set_value("conv").run()
    assert_healthy(app)
    assert app.select_slider(key="model_conv").value == "conv-c4"
    assert status_line(app).startswith("**conv-c4**")


def test_an_aez_file_on_the_image_uploader_is_decoded_and_shown(app):
    from autoencoder import codec
    from autoencoder.data import to_tensor

    model, sha = codec.load_codec("codec-c4-hp")
    data = codec.compress(model, to_tensor(photo(72, 88)), "codec-c4-hp", sha).data
    app.file_uploader(key="upload").upload("photo.aez", data, "application/octet-stream")
    app.run()
    assert_healthy(app)
    assert not app.error
    assert original_size(app) == "88×72"
    assert any(f"An .aez file made by codec-c4-hp: {len(data):,} B, decoded to 88×72" in c.value for c in app.caption)
    assert f"vs your {report.size_text(len(data))} file" in quote(app)


def node_texts(node) -> list[str]:
    """Every string an element or block of the page carries (labels, bodies, captions, …)."""
    texts = []

    def walk_message(message) -> None:
        for field, value in message.ListFields():
            values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
            for v in values:
                if isinstance(v, str):
                    texts.append(v)
                elif hasattr(v, "ListFields"):
                    walk_message(v)

    proto = getattr(node, "proto", None)
    if proto is not None and hasattr(proto, "ListFields"):
        walk_message(proto)
    for child in getattr(node, "children", {}).values():
        texts += node_texts(child)
    return texts


BEACON = "![t](http://127.0.0.1:8699/beacon.png).png"


def test_file_names_are_shown_as_plain_text_everywhere(app):
    def assert_plain(at: AppTest) -> None:
        named = [t for t in node_texts(at._tree) if "beacon" in t]
        assert named, "the file name is shown somewhere"
        # The swipe's own payload is no Markdown: explorer/web/swipe.js sets its labels as textContent.
        for text in (t for t in named if not t.startswith('{"left": "data:')):
            # Markdown would fetch ![t](url) as a picture: every bracket is escaped.
            assert "![" not in text and "](" not in text, text

    app.file_uploader(key="upload").upload(BEACON, png(photo(60, 80)), "image/png")
    app.run()
    assert_healthy(app)
    assert_plain(app)  # the picker's label "Image: …"
    assert seen(next(t for t in node_texts(app._tree) if t.startswith("Image: "))) == f"Image: {BEACON}"
    app.button(key="gallery_2").click().run()
    assert_plain(app)  # the "Back to …" buttons
    app.file_uploader(key="upload").upload(BEACON, b"not an image", "image/png")
    app.run()
    assert_plain(app)  # the refusal
    assert seen(app.error[0].value).startswith(f"**{BEACON}** cannot be used")
    view(app, "Files")
    app.file_uploader(key="aez_upload").upload(BEACON.replace(".png", ".aez"), b"\x89AEZ broken", "application/octet-stream")
    app.run()
    assert_plain(app)  # the .aez uploader's refusal


def test_the_latent_shows_each_channel_on_its_own_scale_by_default(app):
    view(app, "Latent")
    assert any("each on its own colour scale" in c.value for c in app.caption)
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert spec["data"][0]["colorbar"]["title"]["text"] == "÷ channel max"
    app.toggle(key="shared_scale").set_value(True).run()
    assert any("one colour scale for all" in c.value for c in app.caption)


# ---------------------------------------------------------------------------------------
# The codec family's rate control (issue 23): a size, bits per pixel or a quality → the real file

def rate(at: AppTest, mode: str, value=None) -> AppTest:
    """The codec family with the rate control on `mode`, its number set to `value` (if given)."""
    at.radio(key="family").set_value("codec").run()
    at.selectbox(key="rate_mode").set_value(mode).run()
    if value is not None:
        widget = at.slider(key="rate_quality") if mode == "quality" else at.number_input(key=f"rate_{RATE_KEYS[mode]}")
        widget.set_value(value).run()
    assert_healthy(at)
    return at


RATE_KEYS = {"size": "kb", "bpp": "bpp"}


def shown_bytes(at: AppTest) -> int:
    return int(metrics_of(at)["Bytes"][0].removesuffix(" B").replace(",", ""))


def warnings(at: AppTest) -> str:
    return " ".join(w.value for w in at.warning)


def test_the_rate_control_writes_the_file_at_the_size_asked_and_everything_follows_it(app):
    trained = shown_bytes(rate(app, "trained"))
    size = shown_bytes(rate(app, "size", 10.0))
    assert 0.97 * 10_000 <= size <= 10_000 and size != trained  # at most the target, and close to it
    line = status_line(app)
    step = re.search(r"^\*\*codec-c4-hp Δ([\d.]+)\*\*", line)
    assert step and float(step.group(1)) > 1, line  # fewer bytes than as trained: a coarser step
    assert f"{size:,} B, {8 * size / (512 * 512):.3f} bpp for 10 KB" in line
    name = f"codec-c4-hp Δ{step.group(1)}"
    assert quote(app).startswith(f"**{report.smaller_text(size, 512, 512)}**")
    assert metrics_of(app)["Smaller"][0] == report.times_text(512 * 512 * 3 / size)
    assert swipes(app)[0]["right_label"].startswith(f"{name} · ") and f"· {size:,} B ·" in swipes(app)[0]["right_label"]
    assert any(c.startswith(f"Decoded from the {size:,} B .aez file · {name}") for c in main_captions(view(app, "Side by side")))
    facts = " ".join(m.value for m in view(app, "Latent").markdown)
    assert f"{size:,} B, of which 56 B header and checksum" in facts and f"{float(step.group(1)):.4g}" in facts
    assert f"Compressed file (.aez, {size:,} B)" in [b.proto.label for b in view(app, "Files").get("download_button")]
    view(app, "Same bytes")
    verdicts = [m.value for m in app.markdown if "at these bytes" in m.value or "cannot make a file" in m.value]
    assert len(verdicts) == len(baselines.CODECS) and all(name in v for v in verdicts), verdicts
    for swiped in swipes(app):  # against the first codec that fits in this file's bytes
        assert swiped["right_alt"] == f"{name}, {size:,} bytes"


def test_the_rate_control_by_bits_per_pixel_and_quality(app):
    size = shown_bytes(rate(app, "bpp", 0.25))
    assert 0.97 * 8192 <= size <= 8192  # 0.25 bpp of 512 × 512 pixels
    low, high = shown_bytes(rate(app, "quality", 0)), shown_bytes(rate(app, "quality", 100))
    assert low < size < high
    assert status_line(app).startswith("**codec-c4-hp Δ") and "quality 100: " in status_line(app)
    rate(app, "trained")  # back to the model as trained
    assert status_line(app).startswith("**codec-c4-hp**: ") and "bpp on this image" in status_line(app)


def test_the_rate_control_says_when_a_size_cannot_be_met(app):
    smallest = shown_bytes(rate(app, "size", 0.2))
    assert smallest > 200 and "200 bytes is below the smallest file the codec makes of this image" in warnings(app)
    assert "(the smallest file of this image; 0.2 KB asked)" in status_line(app)  # by the control, in short
    largest = shown_bytes(rate(app, "size", 1e12))
    assert largest > smallest and "is above the largest file the codec makes of this image" in warnings(app)
    assert "(the largest file of this image; 1e+12 KB asked)" in status_line(app)


@pytest.mark.parametrize("value, words", [(0.0, "0 KB is no size"), (-5.0, "-5 KB is no size"),
                                          (float("nan"), "is no")])  # (NaN arrives as 0 through the widget)
def test_a_number_that_is_no_size_is_refused_in_words(app, value, words):
    rate(app, "size")
    app.number_input(key="rate_kb").set_value(value).run()
    assert_healthy(app)
    refused = next(c.value for c in app.caption if ":material/error:" in c.value)
    assert words in seen(refused) and "Showing **codec-c4-hp**, the slider's model" in refused
    assert swipes(app)[0]["right_label"].startswith("codec-c4-hp · ")  # the trained model's file instead


def test_the_rate_control_on_an_image_too_small_and_on_an_uploaded_aez_file(app):
    from autoencoder import codec
    from autoencoder.data import to_tensor

    upload_photo(app, "tiny.png", photo(2, 2))
    rate(app, "size", 0.01)  # 10 bytes: less than any file
    assert "below the smallest file" in warnings(app) and "too small to compress" in warnings(app)
    model, sha = codec.load_codec("codec-c4-hp")
    data = codec.compress(model, to_tensor(photo(72, 88)), "codec-c4-hp", sha).data
    app.file_uploader(key="upload").upload("photo.aez", data, "application/octet-stream")
    app.run()
    rate(app, "size", len(data) / 2000)  # half the uploaded file
    assert shown_bytes(app) <= len(data) // 2 and f"vs your {report.size_text(len(data))} file" in quote(app)


@pytest.mark.parametrize("mode, value, words", [
    ("size", None, "Type a size in KB."), ("size", "30 KB", "“30 KB” is not a number"),
    ("size", float("nan"), "nan is not a size in KB"), ("bpp", float("inf"), "inf is not a number of bits per pixel"),
    ("bpp", -1, "-1 bpp is no size"), ("bpp", 1e-9, "1e-09 bpp is less than one byte for 512×512 pixels"),
    ("quality", 101, "Quality 101 is outside 0…100"), ("quality", -1, "Quality -1 is outside 0…100")])
def test_what_is_no_rate_target_says_why(mode, value, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        report.rate_target(mode, value, 512, 512)


def test_a_rate_target_is_at_most_the_bytes_asked():
    assert report.rate_target("size", 30, 512, 512) == report.RateTarget(30_000, None, "30 KB")
    assert report.rate_target("size", 29.9999, 512, 512).num_bytes == 29_999  # never above
    assert report.rate_target("bpp", 0.5, 512, 512) == report.RateTarget(16_384, None, "0.5 bpp")
    assert report.rate_target("quality", 60.4, 512, 512) == report.RateTarget(None, 60, "quality 60")
    assert report.rate_target("size", 1e12, 512, 512).num_bytes == 10**15  # rate.compress_to says it is too large
