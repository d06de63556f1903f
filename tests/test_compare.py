"""The swipe's two sides (explorer.sides and the Swipe tab): bytes, PSNR and "−N %" against
plain numpy arithmetic, codec files within a budget, and choices that change what the page sends."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from autoencoder import baselines
from autoencoder.data import decode_image, load_gallery_image
from autoencoder.pipeline import Analysis
from conftest import numpy_psnr, photo
from explorer import report, sides
from test_app import app, seen, swipes  # noqa: F401 (app: the page on tiny weights, test_app's fixture)

CODECS = list(baselines.CODECS)


# ---------------------------------------------------------------------------------------
# The side model, without Streamlit

@pytest.mark.parametrize("percent, text", [(-89.2, "−89 %"), (-50.4, "−50 %"), (-99.62, "−99.6 %"),
                                           (-99.99, "−99.9 %"), (-0.6, "−0.6 %"), (0.0, "0 %"), (12.4, "+12 %"),
                                           (250.0, "+250 %")])
def test_change_text_says_the_percent_with_its_sign_and_never_rounds_to_minus_100(percent, text):
    assert sides.change_text(percent) == text


def test_reference_is_the_raw_pixels_or_the_uploaded_file():
    image = photo(30, 50)
    raw = sides.reference_of(image)
    assert raw.num_bytes == raw.raw_bytes == 30 * 50 * 3 and raw.file_name is None
    upload = sides.reference_of(image, ("me.jpg", 1234))
    assert upload.num_bytes == 1234 and upload.raw_bytes == 4500
    original = sides.original_side(image, upload)
    assert original.label(upload) == "Original · me.jpg · 1,234 B" and original.psnr is None
    assert original.alt == "The original image, 50×30 pixels" and original.suffix == ".png"
    assert sides.original_side(image, raw).label(raw) == "Original · 4,500 B raw"


@pytest.mark.parametrize("codec", CODECS)
def test_a_codec_side_states_its_file_s_bytes_psnr_and_size_change_as_numpy_computes_them(codec):
    image = photo(48, 64, seed=5)
    encoded = baselines.pillow_roundtrip(image, codec, 40)
    file = encoded.data  # what the side's download button hands out
    side = sides.codec_side(image, encoded)
    # The downloaded file is the file measured and shown: same size, same pixels once decoded.
    assert side.num_bytes == len(file)
    np.testing.assert_array_equal(baselines.decode(file, codec), encoded.decoded)
    assert side.psnr == pytest.approx(numpy_psnr(image, baselines.decode(file, codec)), abs=1e-4)
    raw, upload = sides.reference_of(image), sides.reference_of(image, ("in.png", 5000))
    assert side.label(raw) == (f"{baselines.CODECS[codec].label} q 40 · {side.psnr:.2f} dB · {len(file):,} B · "
                               f"{sides.change_text(100 * len(file) / (48 * 64 * 3) - 100)}")
    assert side.label(upload).endswith(sides.change_text(100 * len(file) / 5000 - 100))
    facts = side.facts(upload)
    assert sides.change_text(100 * len(file) / 5000 - 100) + " against in.png" in facts
    assert sides.change_text(100 * len(file) / (48 * 64 * 3) - 100) + " against the raw pixels" in facts
    assert (side.suffix, side.mime) == (baselines.CODECS[codec].suffix, baselines.CODECS[codec].mime)


def test_file_types_are_the_usual_ones():
    usual = {"jpeg": (".jpg", "image/jpeg"), "webp": (".webp", "image/webp"), "avif": (".avif", "image/avif"),
             "jxl": (".jxl", "image/jxl")}
    assert {c: (codec.suffix, codec.mime) for c, codec in baselines.ALL_CODECS.items()} == usual


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("budget", [700, 1500, 3000, 6000])
def test_a_codec_side_at_equal_bytes_never_exceeds_the_budget_and_is_the_best_that_fits(codec, budget):
    image = photo(64, 96, seed=2)
    result = report.equal_bytes(image, budget, codec)
    if result.encoded is None:
        assert baselines.pillow_roundtrip(image, codec, 1).num_bytes > budget
        return
    side = sides.codec_side(image, result.encoded)
    assert side.num_bytes == len(result.encoded.data) <= budget
    if result.encoded.quality < 95:
        assert baselines.pillow_roundtrip(image, codec, result.encoded.quality + 1).num_bytes > budget


def analysis(file: bytes | None) -> Analysis:
    image = photo(32, 40)
    return Analysis("conv-x", image, image[::-1].copy(), np.zeros((4, 4, 5), np.float32), 777,
                    {"psnr": 23.456}, file=file)


def test_a_model_side_downloads_its_aez_file_or_else_its_png():
    reference = sides.reference_of(photo(32, 40))
    side = sides.model_side(analysis(None))
    assert (side.suffix, side.mime) == (".png", "image/png")
    assert side.label(reference) == f"conv-x · 23.46 dB · 777 B · {sides.change_text(100 * 777 / 3840 - 100)}"
    assert side.alt == "Reconstruction from the 8-bit latent of conv-x, 777 bytes"
    coded = sides.model_side(analysis(b"AEZ"))
    assert coded.suffix == ".aez" and coded.alt.startswith("Decoded from the 777 B .aez file of conv-x")


def test_dense_models_fit_whole_64_pixel_tiles_only():
    conv, dense = (report.ModelCard(i, f, "0" * 64, 12.0, 2.0, "") for i, f in (("c", "conv"), ("d", "dense")))
    assert sides.fits(conv, 100, 70) and not sides.fits(dense, 100, 70)
    assert sides.fits(dense, 128, 64) and sides.fits(dense, 64, 64)


def test_choices_start_with_what_a_first_visit_shows():
    options = sides.choices(["conv-c4"], ["jpeg"])
    assert options == ["original", "current", "model:conv-c4", "codec:jpeg"]


# ---------------------------------------------------------------------------------------
# The Swipe tab through the page

def payload(at: AppTest) -> dict:
    assert not at.exception, [e.value for e in at.exception]
    (shown,) = swipes(at)
    return shown


def downloads(at: AppTest) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


def label_bytes(label: str) -> int:
    """The bytes a side's label states: 'JPEG q 80 · 30.12 dB · 12,345 B · −98 %' → 12345."""
    return int(next(p for p in label.split(" · ") if p.endswith(" B")).removesuffix(" B").replace(",", ""))


def test_a_first_visit_shows_the_original_against_the_slider_s_model(app):
    shown = payload(app)
    assert shown["left_label"] == "Original · 786,432 B raw"  # the astronaut, 512×512×3
    assert shown["right_label"].startswith("conv-c16 · ") and shown["right_label"].endswith(" · −92 %")
    assert label_bytes(shown["right_label"]) == 16 * 64 * 64 + 16 * 4  # the 8-bit latent and its ranges
    assert shown["left_alt"] == "The original image, 512×512 pixels"
    assert shown["right_alt"] == "Reconstruction from the 8-bit latent of conv-c16, 65,600 bytes"
    assert downloads(app) == ["Original (.png)", "conv-c16 (.png)"]


def test_choosing_sides_changes_what_the_swipe_shows(app):
    before = payload(app)
    app.selectbox(key="side_left").set_value("codec:jpeg").run()
    jpeg = payload(app)
    assert jpeg["left"] != before["left"] and jpeg["right"] == before["right"]
    assert jpeg["left_label"].startswith("JPEG q ")
    assert label_bytes(jpeg["left_label"]) <= label_bytes(before["right_label"])  # same bytes as conv-c16
    assert app.radio(key="side_left_mode").options == ["Same bytes as conv-c16", "Quality"]

    app.radio(key="side_left_mode").set_value("quality").run()
    app.slider(key="side_left_jpeg_q").set_value(10).run()
    at_10 = payload(app)
    image = load_gallery_image("Astronaut")
    encoded = baselines.pillow_roundtrip(image, "jpeg", 10)
    assert at_10["left_label"] == (f"JPEG q 10 · {numpy_psnr(image, encoded.decoded):.2f} dB · "
                                   f"{encoded.num_bytes:,} B · "
                                   f"{sides.change_text(100 * encoded.num_bytes / (512 * 512 * 3) - 100)}")
    shown = decode_image(base64.b64decode(at_10["left"].split(",", 1)[1]))
    np.testing.assert_array_equal(shown, encoded.decoded)  # the decoded JPEG, pixel for pixel
    assert at_10["left_alt"] == f"JPEG file at quality 10, {encoded.num_bytes:,} bytes, decoded"

    # Model against model, and a codec at the same bytes follows the model on the other side.
    app.selectbox(key="side_right").set_value("model:conv-c4").run()
    app.radio(key="side_left_mode").set_value("bytes").run()
    pair = payload(app)
    assert pair["right_label"].startswith("conv-c4 · ") and label_bytes(pair["right_label"]) == 4 * 64 * 64 + 4 * 4
    assert app.radio(key="side_left_mode").options == ["Same bytes as conv-c4", "Quality"]
    assert label_bytes(pair["left_label"]) <= 4 * 64 * 64 + 4 * 4
    assert downloads(app)[1] == "conv-c4 (.png)" and downloads(app)[0].endswith("(.jpg)")

    app.selectbox(key="side_right").set_value("model:codec-c4-hp").run()
    assert payload(app)["right_label"].startswith("codec-c4-hp · ")
    assert downloads(app)[1] == "codec-c4-hp (.aez)"


def test_an_upload_is_the_file_the_sizes_are_compared_with(app):
    image = photo(96, 128, seed=8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    data = buffer.getvalue()
    app.file_uploader(key="upload").upload("mine.png", data, "image/png")
    app.run()
    shown = payload(app)
    assert shown["left_label"] == f"Original · mine.png · {len(data):,} B"
    right = label_bytes(shown["right_label"])
    assert shown["right_label"].endswith(sides.change_text(100 * right / len(data) - 100))
    assert any(seen(c.value).startswith(f"mine.png: {len(data):,} B (as raw 24-bit pixels: {96 * 128 * 3:,} B)")
               for c in app.caption)
