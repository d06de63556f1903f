"""Unit tests of what the app computes (explorer.report) and draws (explorer.figures).

Models here are untrained and tiny (built in memory): these tests check bookkeeping, shapes
and honesty of the numbers, not image quality.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from autoencoder import pipeline
from explorer import figures, report
from autoencoder.baselines import pillow_roundtrip
from autoencoder.data import decode_image, to_uint8
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

@pytest.mark.parametrize("entry, ratio, bpp, latent", [
    ({"id": "conv-c16", "family": "conv", "latent_channels": 16, "ratio": 12.0}, "12×", "2 bpp", "8×8×16 latent"),
    ({"id": "conv-c4", "family": "conv", "latent_channels": 4, "ratio": 48.0}, "48×", "0.5 bpp", "8×8×4 latent"),
    ({"id": "conv-c64", "family": "conv", "latent_channels": 64, "ratio": 3.0}, "3×", "8 bpp", "8×8×64 latent"),
    ({"id": "dense-d256", "family": "dense", "latent_dim": 256, "ratio": 48.0}, "48×", "0.5 bpp", "256-value code"),
    ({"id": "dense-d2048", "family": "dense", "latent_dim": 2048, "ratio": 6.0}, "6×", "4 bpp", "2048-value code"),
])
def test_model_label_states_the_real_ratio_latent_and_bpp(entry, ratio, bpp, latent):
    card = report.model_card({**entry, "sha256": "0" * 64, "config": {}})
    assert card.label.startswith(f"{ratio} · {latent}")
    assert f"· {bpp} at 8 bits" in card.label
    assert card.any_size == (entry["family"] == "conv")


def test_family_cards_run_from_wide_to_narrow_and_default_is_the_middle():
    cards = [report.model_card({"id": f"conv-c{c}", "family": "conv", "latent_channels": c, "ratio": 192 / c,
                                 "sha256": ""}) for c in (64, 4, 16)]
    cards.append(report.model_card({"id": "dense-d256", "family": "dense", "latent_dim": 256, "ratio": 48.0,
                                     "sha256": ""}))
    conv = report.family_cards(cards, "conv")
    assert [c.id for c in conv] == ["conv-c64", "conv-c16", "conv-c4"]
    assert report.default_card(conv).id == "conv-c16"
    assert [c.id for c in report.family_cards(cards, "dense")] == ["dense-d256"]


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


# ---------------------------------------------------------------------------------------
# Bad input the app relies on data.decode_image to refuse (the messages the user sees)

