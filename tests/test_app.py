"""The Streamlit app driven through streamlit.testing.v1.AppTest, on tiny weights made here."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from test_explore import bad_uploads, photo
from app_models import make_app_weights

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def app_weights(tmp_path_factory) -> Path:
    return make_app_weights(tmp_path_factory.mktemp("app"))


@pytest.fixture
def app(app_weights, monkeypatch) -> AppTest:
    """The app after its first run on the defaults, pointed at the tiny weights."""
    monkeypatch.setenv("AUTOENCODER_WEIGHTS", str(app_weights))
    at = AppTest.from_file(APP, default_timeout=90).run()
    assert_healthy(at)
    return at


TILES = ["MSE", "PSNR", "SSIM", "MS-SSIM", "Ratio (values)", "Bytes", "Bits per pixel"]


def assert_healthy(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert [m.label for m in at.metric[: len(TILES)]] == TILES, "the metric tiles are missing"


def metrics_of(at: AppTest) -> dict[str, tuple[str, str]]:
    """The main metric tiles (they come first; compare-all rows add more below)."""
    return {m.label: (m.value, m.delta) for m in at.metric[: len(TILES)]}


def main_captions(at: AppTest) -> list[str]:
    return [c for image in at.main.image for c in image.captions]


def original_caption(at: AppTest) -> str:
    return next(c for c in main_captions(at) if c.startswith("Original ·"))


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_default_page_shows_a_gallery_image_through_the_middle_conv_model(app):
    assert not app.error
    assert original_caption(app) == "Original · 512×512"  # the astronaut: never an empty page
    slider = app.select_slider(key="model_conv")
    assert slider.options == ["conv-c16 · 12×", "conv-c4 · 48×"]
    assert slider.value == "conv-c16"
    assert any(c.value == "**conv-c16**: 12× · 8×8×16 latent per 64×64 px · 2 bpp at 8 bits" for c in app.caption)
    shown = metrics_of(app)
    assert shown["Bytes"][0] == f"{16 * 64 * 64 + 16 * 4:,} B"
    assert shown["Ratio (values)"][0] == "12×"
    assert all(not delta for _, delta in shown.values())  # nothing to compare with yet
    assert len(app.get("plotly_chart")) == 1  # the latent heatmap
    assert len(app.sidebar.image) == 6  # the gallery thumbnails


def test_slider_move_changes_the_numbers_and_shows_deltas(app):
    before = metrics_of(app)
    app.select_slider(key="model_conv").set_value("conv-c4").run()
    assert_healthy(app)
    after = metrics_of(app)
    assert after["Bytes"][0] == f"{4 * 64 * 64 + 4 * 4:,} B"
    assert after["PSNR"][0] != before["PSNR"][0]
    assert after["Bytes"][1] == f"{-12 * 64 * 64 - 12 * 4:+,} B"
    assert after["PSNR"][1].endswith(" dB")
    app.slider(key="zoom_x").set_value(10).run()  # an unrelated rerun keeps the comparison
    assert metrics_of(app)["Bytes"][1] == after["Bytes"][1]


def test_family_switch_to_dense_uses_the_64px_centre(app):
    app.radio(key="family").set_value("dense").run()
    assert_healthy(app)
    assert original_caption(app) == "Original · 64×64"
    assert any("Dense models see the centre square" in i.value for i in app.info)
    assert metrics_of(app)["MS-SSIM"][0] == "–"  # too small for five scales
    assert metrics_of(app)["Bytes"][0] == "68 B"  # 64 codes + one float16 range


def test_notebook_view_runs_conv_models_on_64px(app):
    app.toggle(key="notebook").set_value(True).run()
    assert_healthy(app)
    assert original_caption(app) == "Original · 64×64"
    assert metrics_of(app)["Bytes"][0] == f"{16 * 8 * 8 + 16 * 4:,} B"


def test_gallery_pick_switches_the_image(app):
    app.button(key="gallery_2").click().run()  # Chelsea the cat, 451×300
    assert_healthy(app)
    assert original_caption(app) == "Original · 451×300"


def test_upload_replaces_the_gallery_image(app):
    app.file_uploader(key="upload").upload("mine.png", png(photo(90, 120)), "image/png")
    app.run()
    assert_healthy(app)
    assert not app.error
    assert original_caption(app) == "Original · 120×90"
    assert app.get("download_button")[0].proto.label == "Reconstruction (PNG)"
    app.button(key="gallery_1").click().run()  # back to the gallery while the file stays uploaded
    assert original_caption(app) == "Original · 600×400"


@pytest.mark.parametrize("name", sorted(bad_uploads()))
def test_bad_upload_shows_an_error_and_the_page_keeps_working(app, name):
    app.file_uploader(key="upload").upload(name, bad_uploads()[name], "image/png")
    app.run()
    assert_healthy(app)  # the default image is still analysed
    assert len(app.error) == 1
    message = app.error[0].value
    assert name in message and "cannot be used" in message
    assert original_caption(app) == "Original · 512×512"
    app.select_slider(key="model_conv").set_value("conv-c4").run()  # and the session goes on
    assert_healthy(app)


def test_codec_family_shows_the_decoded_file_its_bits_map_and_a_download(app):
    app.radio(key="family").set_value("codec").run()
    assert_healthy(app)
    captions = main_captions(app)
    shown = metrics_of(app)
    size = int(shown["Bytes"][0].removesuffix(" B").replace(",", ""))
    assert any(c.startswith(f"Decoded from the {size:,} B .aez file · codec-c4-hp") for c in captions)
    assert any(c.startswith("Where the bits go") for c in captions)
    assert float(shown["Bits per pixel"][0]) == pytest.approx(8 * size / (512 * 512), abs=1e-3)
    assert "Compressed file (.aez)" in [b.proto.label for b in app.get("download_button")]
    verdicts = [m.value for m in app.markdown if "at these bytes" in m.value or "cannot make a file" in m.value]
    assert len(verdicts) == 2  # one under JPEG, one under WebP


def test_an_uploaded_aez_file_is_decoded_and_a_broken_one_refused(app, app_weights):
    from autoencoder import codec, model_info
    from autoencoder.data import to_tensor

    model, sha = codec.load_codec("codec-c4-hp")
    data = codec.compress(model, to_tensor(photo(70, 90)), "codec-c4-hp", sha).data
    app.file_uploader(key="aez_upload").upload("mine.aez", data, "application/octet-stream")
    app.run()
    assert_healthy(app)
    assert "mine.aez, decoded with codec-c4-hp" in main_captions(app)
    assert model_info("codec-c4-hp")["family"] == "codec"
    app.file_uploader(key="aez_upload").upload("broken.aez", data[:-9], "application/octet-stream")
    app.run()
    assert_healthy(app)
    assert any("broken.aez** cannot be decoded" in e.value and "CRC-32" in e.value for e in app.error)


def test_presentation_layout_hides_the_prose(app):
    intro = [m.value for m in app.markdown if "bottleneck" in m.value]
    assert intro
    app.toggle(key="present").set_value(True).run()
    assert_healthy(app)
    assert not [m.value for m in app.markdown if "squeezes the image" in m.value]


@pytest.mark.slow
def test_compare_all_runs_every_model_and_draws_the_rate_distortion_chart(app):
    app.toggle(key="compare_all").set_value(True).run()
    assert_healthy(app)
    assert len(app.get("plotly_chart")) == 2
    psnrs = [m for m in app.metric if m.label == "PSNR"]
    assert len(psnrs) == 1 + 4  # the main tiles + one row per model
    rd = app.get("plotly_chart")[1].proto.spec
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
        assert original_caption(app) == f"Original · {size}", name
