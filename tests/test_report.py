"""Unit tests of what the app computes (explorer.report) and draws (explorer.figures).

Models here are untrained and tiny (built in memory): these tests check bookkeeping, shapes
and honesty of the numbers, not image quality.
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from autoencoder import pipeline
from explorer import figures, report
from autoencoder.baselines import pillow_roundtrip
from autoencoder.data import decode_image, to_uint8
from autoencoder.manifest import REFERENCE_DATASET, ModelEntry
from autoencoder.models import build_model
from conftest import numpy_psnr, photo


@pytest.fixture(scope="module")
def conv_model():
    torch.manual_seed(0)
    return build_model("conv", {"latent_channels": 4, "width": 8, "depth": 1}).eval()


@pytest.fixture(scope="module")
def dense_model():
    torch.manual_seed(0)
    return build_model("dense", {"latent_dim": 64, "width": 8, "depth": 1}).eval()


# ---------------------------------------------------------------------------------------
# Slider labels

def entry(model_id: str, family: str, size: int, ratio: float, **fields) -> ModelEntry:
    """A manifest entry with what a card reads (its file and sha256: placeholders a card never shows)."""
    return ModelEntry(model_id, family, {}, f"{model_id}.safetensors", "0" * 64, ratio, size, **fields)


@pytest.mark.parametrize("model, ratio, bpp, latent", [
    (entry("conv-c16", "conv", 16, 12.0), "12×", "2 bpp", "8×8×16 latent"),
    (entry("conv-c4", "conv", 4, 48.0), "48×", "0.5 bpp", "8×8×4 latent"),
    (entry("conv-c64", "conv", 64, 3.0), "3×", "8 bpp", "8×8×64 latent"),
    (entry("dense-d256", "dense", 256, 48.0), "48×", "0.5 bpp", "256-value code"),
    (entry("dense-d2048", "dense", 2048, 6.0), "6×", "4 bpp", "2048-value code"),
])
def test_model_label_states_the_real_ratio_latent_and_bpp(model, ratio, bpp, latent):
    card = report.model_card(model)
    assert card.label.startswith(f"{ratio} · {latent}")
    assert f"· {bpp} at 8 bits" in card.label
    assert card.any_size == (model.family == "conv")


def test_family_cards_run_from_wide_to_narrow_and_default_is_the_middle():
    cards = [report.model_card(entry(f"conv-c{c}", "conv", c, 192 / c)) for c in (64, 4, 16)]
    cards.append(report.model_card(entry("dense-d256", "dense", 256, 48.0)))
    conv = report.family_cards(cards, "conv")
    assert [c.id for c in conv] == ["conv-c64", "conv-c16", "conv-c4"]
    assert report.default_card(conv).id == "conv-c16"
    assert [c.id for c in report.family_cards(cards, "dense")] == ["dense-d256"]


def test_codec_slider_labels_use_this_image_s_bits_per_pixel_once_known():
    card = report.model_card(entry("codec-c16-hp", "codec", 16, 12.0, prior="hyperprior", lmbda=0.003)
                             .scored(REFERENCE_DATASET, rate=0.3211))
    assert card.slider_label() == card.short_label == "codec-c16-hp · ~0.32 bpp"  # the Kodak mean, marked
    assert card.slider_label(0.2401) == "codec-c16-hp · 0.240 bpp"  # measured on this image
    assert "(mean–scale hyperprior, λ = 0.003)" in card.label and "hyperprior prior" not in card.label
    factorized = report.model_card(entry("codec-c32-fp", "codec", 32, 6.0, prior="factorized", lmbda=0.013))
    assert "(factorized prior, λ = 0.013)" in factorized.label
    conv = report.model_card(entry("conv-c16", "conv", 16, 12.0))
    assert conv.slider_label(1.9) == "conv-c16 · 12×"  # conv ratios are the model's own


# ---------------------------------------------------------------------------------------
# Quotable sizes

def test_times_smaller_is_raw_24_bit_pixels_over_stored_bytes():
    # The example: codec-c16-hp's 11,819 B file of a 768×512 photo.
    assert report.raw_bytes(512, 768) == 768 * 512 * 3 == 1_179_648
    assert report.times_smaller(11_819, 512, 768) == pytest.approx(99.81, abs=0.01)
    assert report.smaller_text(11_819, 512, 768) == "100× smaller"
    assert report.smaller_text(65_600, 512, 512) == "12× smaller"  # conv-c16: 786,432 / 65,600 = 11.99
    assert report.smaller_text(3 * 512 * 512 // 3, 512, 512) == "3.0× smaller"
    assert report.smaller_text(24, 2, 2) == "2.0× bigger"  # a tiny image: the code outweighs its 12 B


@pytest.mark.parametrize("num_bytes, text", [(950, "950 B"), (11_819, "11.8 KB"), (65_600, "65.6 KB"),
                                             (412_345, "412 KB"), (1_412_345, "1.41 MB")])
def test_sizes_read_as_people_say_them(num_bytes, text):
    assert report.size_text(num_bytes) == text


def test_against_the_visitor_s_own_file():
    jpeg = report.Upload(np.zeros((512, 768, 3), np.uint8), (768, 512), 103_000, "JPEG")
    assert report.versus_file(11_819, (768, 512), jpeg) == "−89 % vs your 103 KB JPEG"  # 11,819 / 103,000 − 1
    assert report.versus_file(206_000, (768, 512), jpeg) == "+100 % vs your 103 KB JPEG"
    # The model saw fewer pixels than the file has (capped, or a 64×64 square): compared per pixel.
    big = report.Upload(np.zeros((768, 1024, 3), np.uint8), (4032, 3024), 2_000_000, "JPEG")
    bpp_model, bpp_file = 8 * 30_000 / (1024 * 768), 8 * 2_000_000 / (4032 * 3024)
    expected = report.percent_text(bpp_model / bpp_file - 1)
    assert report.versus_file(30_000, (1024, 768), big) == f"{expected} bits per pixel vs your 2 MB JPEG (4032×3024)"
    assert report.versus_file(1, (1, 1), report.Upload(np.zeros((1, 1, 3), np.uint8), (1, 1))) is None


def test_upload_records_the_file_s_bytes_and_format():
    data = io.BytesIO()
    Image.fromarray(photo(40, 60)).save(data, format="JPEG", quality=90)
    upload = report.decode_upload(data.getvalue())
    assert (upload.num_bytes, upload.format, upload.size, upload.note) == (len(data.getvalue()), "JPEG", (60, 40), None)


def test_an_unreadable_aez_upload_is_refused_as_an_image_error():
    from autoencoder import aez
    from autoencoder.data import ImageError

    with pytest.raises(ImageError, match="an .aez file that cannot be decoded"):
        report.decode_upload(aez.MAGIC + b"\x01 not really")


@pytest.mark.parametrize("name", ["![t](http://127.0.0.1:8699/beacon.png).png", "[x](javascript:alert(1)).jpg",
                                  "a\\b*c*_d_.png", ":red[big]:smile:.png", "<img src=x onerror=alert(1)>.png",
                                  "# heading\nline.png"])
def test_file_names_are_escaped_for_markdown(name):
    escaped = report.plain(name)
    # Every character Markdown, HTML or Streamlit's :directives: could read is backslash-escaped
    # (CommonMark reads a backslash before ASCII punctuation as that character, literally)…
    specials = set("\\`*_{}[]()<>#+-.!|~:$&\"'=^")
    i = 0
    while i < len(escaped):
        if escaped[i] == "\\":
            assert escaped[i + 1] in specials
            i += 2
            continue
        assert escaped[i] not in specials, (escaped, i)
        i += 1
    # …so a reader sees the name itself (line breaks as spaces); the browser test checks that
    # no picture is fetched.
    assert re.sub(r"\\(.)", r"\1", escaped) == " ".join(name.split())


# ---------------------------------------------------------------------------------------
# What a model sees

def test_model_input_keeps_small_images_and_caps_large_ones():
    small = photo(300, 200)
    kept = report.model_input(small, any_size=True, notebook=False)
    assert kept.image is small and kept.note is None

    large = photo(600, 2100)
    capped = report.model_input(large, any_size=True, notebook=False)
    assert max(capped.image.shape[:2]) == report.MAX_SIDE
    assert capped.image.shape[:2] == (293, 1024)
    assert "2100×600" in capped.note and str(report.MAX_SIDE) in capped.note


@pytest.mark.parametrize("any_size, notebook, who", [(False, False, "Dense models"), (True, True, "notebook")])
def test_dense_models_and_the_notebook_view_see_the_centre_square_at_64(any_size, notebook, who):
    result = report.model_input(photo(100, 180), any_size, notebook)
    assert result.image.shape == (64, 64, 3)
    assert result.image.flags.writeable
    assert who in result.note and "180×100" in result.note


def test_image_key_follows_content_and_shape():
    image = photo(32, 48)
    assert report.image_key(image) == report.image_key(image.copy())
    changed = image.copy()
    changed[5, 5, 0] ^= 1
    assert report.image_key(changed) != report.image_key(image)
    assert report.image_key(image.reshape(48, 32, 3)) != report.image_key(image)


# ---------------------------------------------------------------------------------------
# One model on one image

def test_analysis_is_decoded_from_the_8bit_latent_and_counts_its_bytes(conv_model):
    image = photo(70, 90)  # not multiples of 8: padding inside, cropped back
    analysis = pipeline.analyse(conv_model, "tiny", image)
    assert analysis.reconstruction.shape == image.shape and analysis.reconstruction.dtype == np.uint8
    # The claim, checked from the stored code itself: its 8-bit codes, dequantized and decoded, are the picture.
    from autoencoder.latent import dequantize
    from autoencoder.models import crop_to

    decoded = crop_to(conv_model.decode(dequantize(analysis.quantized)), 70, 90).clamp(0, 1)
    np.testing.assert_array_equal(analysis.reconstruction, to_uint8(decoded))
    assert analysis.quantized.codes.dtype == np.uint8
    # 4 channels × ⌈70/8⌉ × ⌈90/8⌉ codes + a float16 low/high (4 bytes) per channel
    assert analysis.latent.shape == (4, 9, 12)
    assert analysis.num_bytes == 4 * 9 * 12 + 4 * 4
    assert analysis.bits_per_pixel == pytest.approx(8 * analysis.num_bytes / (70 * 90))
    assert analysis.ratio == pytest.approx(70 * 90 * 3 / (4 * 9 * 12))
    # PSNR and MSE against a plain numpy computation on the uint8 pixels (not the package's metric code).
    mse = np.mean((image.astype(np.float64) - analysis.reconstruction.astype(np.float64)) ** 2) / 255.0**2
    assert analysis.scores["mse"] == pytest.approx(mse, rel=1e-5)
    assert analysis.scores["psnr"] == pytest.approx(10 * np.log10(1 / mse), abs=1e-4)
    numbers = analysis.numbers()
    assert numbers["bytes"] == analysis.num_bytes and numbers["psnr"] == analysis.scores["psnr"]


def test_dense_analysis_has_a_flat_code(dense_model):
    analysis = pipeline.analyse(dense_model, "tiny-dense", photo(64, 64))
    assert analysis.latent.shape == (64,)
    assert analysis.num_bytes == 64 + 4  # one range for the whole code
    assert analysis.scores["ms_ssim"] is None  # 64 px is too small for five scales


def test_size_notice_only_where_the_code_outweighs_the_pixels(conv_model):
    tiny, normal = pipeline.analyse(conv_model, "tiny", photo(2, 2)), pipeline.analyse(conv_model, "tiny", photo(64, 64))
    assert tiny.bits_per_pixel > report.RAW_BITS_PER_PIXEL and normal.bits_per_pixel < report.RAW_BITS_PER_PIXEL
    assert "12 B as plain 8-bit RGB" in report.size_notice(tiny)
    assert report.size_notice(normal) is None


def test_latent_facts_state_shape_range_values_and_bytes(conv_model):
    analysis = pipeline.analyse(conv_model, "tiny", photo(64, 64))
    facts = report.latent_facts(analysis)
    assert facts["Shape"].startswith("4 × 8 × 8")
    assert facts["Size"] == "256 values"
    assert facts["Bytes at 8 bits"].startswith(f"{analysis.num_bytes:,} B (256 codes + 16 B")
    # The range is that of the latent the decoder got: the dequantized 8-bit codes, whose ends are the stored float16 range.
    low, high = float(analysis.quantized.low.min()), float(analysis.quantized.high.max())
    assert facts["Value range"] == f"{low:.3f} … {high:.3f}"


# ---------------------------------------------------------------------------------------
# Equal bytes

def test_equal_bytes_finds_a_file_within_the_budget_and_scores_it():
    image = photo(96, 128)
    budget = pillow_roundtrip(image, "jpeg", 50).num_bytes
    result = report.equal_bytes(image, budget, "jpeg")
    assert result.encoded.num_bytes <= budget and result.encoded.quality >= 50
    assert result.scores["psnr"] == pytest.approx(numpy_psnr(image, result.encoded.decoded), abs=1e-4)
    assert result.smallest_bytes is None


def test_equal_bytes_says_how_big_the_smallest_file_is_when_none_fits():
    image = photo(64, 64)
    result = report.equal_bytes(image, 40, "jpeg")
    assert result.encoded is None and result.scores is None
    assert result.smallest_bytes == pillow_roundtrip(image, "jpeg", 1).num_bytes > 40


# ---------------------------------------------------------------------------------------
# Compare all

def test_comparison_image_cuts_to_whole_tiles():
    image = photo(130, 200)
    cut = report.comparison_image(image)
    assert cut.image.shape == (128, 192, 3) and "192×128" in cut.note
    exact = photo(128, 192)
    assert report.comparison_image(exact).image is exact and report.comparison_image(exact).note is None
    assert report.comparison_image(photo(40, 50)).image.shape == (64, 64, 3)


def test_model_points_use_real_latent_bytes(conv_model, dense_model):
    image = photo(128, 192)
    tiled = pipeline.analyse(dense_model, "d", image, full_scores=False)
    dense = report.rate_point(tiled)
    assert dense.num_bytes == 2 * 3 * (64 + 4)  # six 64×64 tiles, each a 64-value code + its range
    assert tiled.latent.shape == (6, 64) and tiled.scores["ssim"] is None  # PSNR only, as asked
    # Each tile is coded on its own: the top-right tile of the whole is the model's answer for that tile alone.
    alone = pipeline.analyse(dense_model, "d", np.ascontiguousarray(image[:64, 128:]))
    np.testing.assert_array_equal(dense.reconstruction[:64, 128:], alone.reconstruction)
    assert dense.psnr == pytest.approx(numpy_psnr(image, dense.reconstruction), abs=1e-4)
    conv = report.rate_point(pipeline.analyse(conv_model, "c", image, full_scores=False))
    assert conv.num_bytes == 4 * 16 * 24 + 4 * 4
    assert conv.bpp == pytest.approx(8 * conv.num_bytes / (128 * 192))


def test_codec_points_are_the_real_file_sizes():
    image = photo(64, 96)
    points = report.codec_points(image, "webp")
    assert len(points) > 5
    assert points[3].num_bytes == pillow_roundtrip(image, "webp", points[3].quality).num_bytes
    assert points[-1].psnr > points[0].psnr and points[-1].bpp > points[0].bpp


def test_kodak_eval_is_optional(tmp_path):
    assert report.load_kodak_eval(tmp_path) is None
    (tmp_path / report.KODAK_EVAL_FILE).write_text("{broken")
    assert report.load_kodak_eval(tmp_path) is None
    (tmp_path / report.KODAK_EVAL_FILE).write_text(json.dumps(KODAK))
    assert report.load_kodak_eval(tmp_path)["images"] == 24
    row = {"id": "codec-c16-hp", "prior": "hyperprior", "bpp": 0.3, "psnr": 28.0}
    (tmp_path / report.KODAK_EVAL_FILE).write_text(json.dumps({**KODAK, "codecs": [row]}))
    assert report.load_kodak_eval(tmp_path) is None  # an older eval's file: no "ladder" to draw the chart's ladder from
    (tmp_path / report.KODAK_EVAL_FILE).write_text(json.dumps({**KODAK, "codecs": [{**row, "ladder": True}]}))
    assert report.load_kodak_eval(tmp_path)["codecs"][0]["ladder"]


# ---------------------------------------------------------------------------------------
# Downloads

def test_download_bytes_round_trip():
    image = photo(20, 30)
    np.testing.assert_array_equal(decode_image(report.png_bytes(image)), image)
    latent = np.random.default_rng(1).normal(size=(4, 3, 2)).astype(np.float32)
    np.testing.assert_array_equal(np.load(io.BytesIO(report.npy_bytes(latent))), latent)


@pytest.mark.parametrize("name, stem", [
    ("My photo.JPG", "My-photo_conv-c16"), ("../../etc/passwd", "passwd_conv-c16"), ("???.png", "image_conv-c16"),
])
def test_file_stem_is_safe(name, stem):
    assert report.file_stem(name, "conv-c16") == stem


# ---------------------------------------------------------------------------------------
# Figures

KODAK = {
    "images": 24,
    "models": [{"id": "conv-c16", "family": "conv", "ratio": 12, "psnr": 30, "psnr_8bit": 29.9, "bpp_8bit": 2.0}],
    "block_pca": [{"channels": 16, "ratio": 12, "psnr": 28, "psnr_8bit": 27.9, "bpp_8bit": 2.0}],
    "jpeg": [{"quality": q, "bpp": q / 40, "psnr": 25 + q / 10} for q in (10, 50, 90)],
    "webp": [{"quality": q, "bpp": q / 50, "psnr": 26 + q / 10} for q in (10, 50, 90)],
}


def test_rd_figure_has_this_image_and_the_kodak_reference():
    points = [report.RatePoint("conv-c16", None, 1000, 2.0, 30.0),
              report.RatePoint("dense-d256", None, 100, 0.5, 20.0)]
    codecs = {"jpeg": [report.RatePoint("jpeg", 50, 500, 1.0, 31.0)]}
    fig = figures.rd_figure(points, {"conv-c16": "conv", "dense-d256": "dense"}, codecs, KODAK, current="conv-c16")
    names = [t.name for t in fig.data]
    assert "JPEG (this image)" in names and "conv models (this image)" in names
    assert "JPEG (Kodak, 24 images)" in names and "block-PCA (Kodak, 24 images)" in names
    conv = next(t for t in fig.data if t.name == "conv models (this image)")
    assert list(conv.marker.size) == [16]  # the slider's model stands out
    assert len(figures.rd_figure(points, {"conv-c16": "conv", "dense-d256": "dense"}, codecs, None).data) == 3


def test_rate_table_is_the_chart_s_points_as_text():
    points = [report.RatePoint("conv-c16", None, 1000, 2.0, 30.0)]
    codecs = {"jpeg": [report.RatePoint("jpeg", 50, 500, 1.0, 31.0)]}
    rows = report.rate_table(points, {"conv-c16": "conv"}, codecs)
    assert rows == [{"what": "conv-c16 (conv)", "quality": "", "bytes": "1,000", "bits per pixel": "2.000",
                     "PSNR (dB)": "30.00"},
                    {"what": "JPEG", "quality": "50", "bytes": "500", "bits per pixel": "1.000", "PSNR (dB)": "31.00"}]


def test_rd_figure_tells_curves_apart_by_marker_shape():
    points = [report.RatePoint("conv-c16", None, 1000, 2.0, 30.0), report.RatePoint("dense-d256", None, 100, 0.5, 20.0)]
    codecs = {"jpeg": [report.RatePoint("jpeg", 50, 500, 1.0, 31.0)], "webp": [report.RatePoint("webp", 50, 400, 0.8, 32.0)]}
    fig = figures.rd_figure(points, {"conv-c16": "conv", "dense-d256": "dense"}, codecs, KODAK)
    symbols = {t.name: t.marker.symbol for t in fig.data}
    this_image = [symbols[n] for n in ("JPEG (this image)", "WebP (this image)", "conv models (this image)",
                                       "dense models (this image)")]
    assert len(set(this_image)) == 4  # one shape each, not colour alone
    assert symbols["JPEG (Kodak, 24 images)"] == symbols["JPEG (this image)"] + "-open"


# ---------------------------------------------------------------------------------------
# Bad input the app relies on data.decode_image to refuse (the messages the user sees)

