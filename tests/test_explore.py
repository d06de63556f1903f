"""Unit tests of what the app computes (autoencoder.explore) and draws (autoencoder.figures).

Models here are untrained and tiny (built in memory): these tests check bookkeeping, shapes
and honesty of the numbers, not image quality.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch

from autoencoder import explore, figures, metrics
from autoencoder.baselines import pillow_roundtrip
from autoencoder.data import decode_image, to_tensor, to_uint8
from autoencoder.models import build_model


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB image (compresses like a photo, not like noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([np.sin(xx / rng.uniform(5, 20) + c) * np.cos(yy / rng.uniform(5, 20)) for c in range(3)], -1)
    return np.clip(base * 100 + 128 + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def conv_model():
    torch.manual_seed(0)
    return build_model("conv", {"latent_channels": 4, "width": 8, "depth": 1}).eval()


@pytest.fixture(scope="module")
def dense_model():
    torch.manual_seed(0)
    return build_model("dense", {"latent_dim": 32, "hidden": 16}).eval()


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
    card = explore.model_card({**entry, "sha256": "0" * 64, "config": {}})
    assert card.label.startswith(f"{ratio} · {latent}")
    assert f"· {bpp} at 8 bits" in card.label
    assert card.any_size == (entry["family"] == "conv")


def test_family_cards_run_from_wide_to_narrow_and_default_is_the_middle():
    cards = [explore.model_card({"id": f"conv-c{c}", "family": "conv", "latent_channels": c, "ratio": 192 / c,
                                 "sha256": ""}) for c in (64, 4, 16)]
    cards.append(explore.model_card({"id": "dense-d256", "family": "dense", "latent_dim": 256, "ratio": 48.0,
                                     "sha256": ""}))
    conv = explore.family_cards(cards, "conv")
    assert [c.id for c in conv] == ["conv-c64", "conv-c16", "conv-c4"]
    assert explore.default_card(conv).id == "conv-c16"
    assert [c.id for c in explore.family_cards(cards, "dense")] == ["dense-d256"]


# ---------------------------------------------------------------------------------------
# What a model sees

def test_model_input_keeps_small_images_and_caps_large_ones():
    small = photo(300, 200)
    kept = explore.model_input(small, any_size=True, notebook=False)
    assert kept.image is small and kept.note is None

    large = photo(600, 2100)
    capped = explore.model_input(large, any_size=True, notebook=False)
    assert max(capped.image.shape[:2]) == explore.MAX_SIDE
    assert capped.image.shape[:2] == (293, 1024)
    assert "2100×600" in capped.note and str(explore.MAX_SIDE) in capped.note


@pytest.mark.parametrize("any_size, notebook, who", [(False, False, "Dense models"), (True, True, "notebook")])
def test_dense_models_and_the_notebook_view_see_the_centre_square_at_64(any_size, notebook, who):
    result = explore.model_input(photo(100, 180), any_size, notebook)
    assert result.image.shape == (64, 64, 3)
    assert result.image.flags.writeable
    assert who in result.note and "180×100" in result.note


def test_image_key_follows_content_and_shape():
    image = photo(32, 48)
    assert explore.image_key(image) == explore.image_key(image.copy())
    changed = image.copy()
    changed[5, 5, 0] ^= 1
    assert explore.image_key(changed) != explore.image_key(image)
    assert explore.image_key(image.reshape(48, 32, 3)) != explore.image_key(image)


# ---------------------------------------------------------------------------------------
# One model on one image

def test_analysis_is_decoded_from_the_8bit_latent_and_counts_its_bytes(conv_model):
    image = photo(70, 90)  # not multiples of 8: padding inside, cropped back
    analysis = explore.analyse(conv_model, "tiny", image)
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
    analysis = explore.analyse(dense_model, "tiny-dense", photo(64, 64))
    assert analysis.latent.shape == (32,)
    assert analysis.num_bytes == 32 + 4  # one range for the whole code
    assert analysis.scores["ms_ssim"] is None  # 64 px is too small for five scales


def test_error_map_colours_follow_the_absolute_error():
    table = explore.colour_table(explore.ERROR_COLORSCALE)
    original = np.full((4, 4, 3), 100, np.uint8)
    assert (explore.error_map(original, original) == table[0]).all()
    far = original.copy()
    far[0, 0] = 100 + round(explore.ERROR_MAP_MAX * 255) + 10  # beyond vmax: saturates
    far[1, 1] = 110  # a small error: a dim colour
    heat = explore.error_map(original, far)
    assert (heat[0, 0] == table[255]).all()
    assert table[0].sum() < heat[1, 1].sum() < table[255].sum()
    with pytest.raises(ValueError):
        explore.error_map(original, far[:2])


def test_enlarge_repeats_pixels_by_whole_factors():
    image = photo(64, 48)
    big = explore.enlarge(image, 512)
    assert big.shape == (64 * 11, 48 * 11, 3)  # ⌈512 / 48⌉ = 11
    np.testing.assert_array_equal(big[::11, ::11], image)
    assert (big[:11, :11] == image[0, 0]).all()
    large = photo(600, 700)
    assert explore.enlarge(large, 512) is large


# ---------------------------------------------------------------------------------------
# Zoom

def test_zoom_box_is_centred_and_kept_inside_the_image():
    assert explore.zoom_box(400, 800, 0.5, 0.5, 4) == explore.Box(150, 300, 100, 200)
    assert explore.zoom_box(400, 800, 0.0, 1.0, 4) == explore.Box(300, 0, 100, 200)
    assert explore.zoom_box(400, 800, 1.0, 0.0, 2) == explore.Box(0, 400, 200, 400)
    assert explore.zoom_box(10, 10, 0.3, 0.7, 1) == explore.Box(0, 0, 10, 10)
    assert explore.zoom_box(5, 5, 0.5, 0.5, 16).height == 1
    with pytest.raises(ValueError):
        explore.zoom_box(10, 10, 0.5, 0.5, 0.5)


def test_crop_and_outline():
    image = photo(100, 100)
    box = explore.Box(10, 20, 30, 40)
    assert explore.crop(image, box).shape == (30, 40, 3)
    framed = explore.outline(image, box, colour=(1, 2, 3))
    assert (framed[10, 20:60] == (1, 2, 3)).all() and (framed[39, 20:60] == (1, 2, 3)).all()
    assert (framed[10:40, 20] == (1, 2, 3)).all() and (framed[10:40, 59] == (1, 2, 3)).all()
    np.testing.assert_array_equal(framed[15:35, 25:55], image[15:35, 25:55])  # inside untouched
    assert not (image[10, 20:60] == (1, 2, 3)).all()  # the input is not drawn on


# ---------------------------------------------------------------------------------------
# Latent grid

def test_conv_latent_grid_tiles_channels_with_gaps_and_hover_positions():
    latent = np.arange(4 * 3 * 5, dtype=np.float32).reshape(4, 3, 5)
    grid = explore.latent_grid(latent)
    assert grid.values.shape == (2 * 4 - 1, 2 * 6 - 1)  # 2 × 2 tiles of 3 × 5, one-cell gaps
    assert np.isnan(grid.values[3]).all() and np.isnan(grid.values[:, 5]).all()
    np.testing.assert_array_equal(grid.values[4:7, 6:11], latent[3])
    assert tuple(grid.hover[5, 8]) == (3, 1, 2)  # channel 3, latent row 1, column 2
    assert tuple(grid.hover[3, 0]) == (-1, -1, -1)
    assert grid.pool == 1 and grid.channels == 4 and grid.cell_pixels == 8
    np.testing.assert_array_equal(grid.colours, grid.values)  # one scale for all: colours are values


def test_per_channel_colours_scale_each_channel_but_keep_values():
    latent = np.stack([np.full((2, 2), 10.0), np.full((2, 2), -0.5)]).astype(np.float32)
    grid = explore.latent_grid(latent, per_channel=True)
    assert grid.per_channel
    assert np.nanmax(np.abs(grid.colours[:2, :2])) == 1 and np.nanmin(grid.colours[:2, 3:]) == -1
    assert grid.values[0, 0] == 10 and grid.values[0, 3] == -0.5


def test_large_latents_are_average_pooled_under_the_cell_budget():
    latent = np.random.default_rng(0).normal(size=(16, 40, 40)).astype(np.float32)
    grid = explore.latent_grid(latent, max_cells=16 * 10 * 10)
    assert grid.pool == 4 and grid.cell_pixels == 32
    np.testing.assert_allclose(grid.values[0, 0], latent[0, :4, :4].mean(), rtol=1e-5)
    assert np.isfinite(grid.values).sum() == 16 * 10 * 10


def test_energy_order_puts_the_strongest_channel_first_and_keeps_channel_numbers():
    signs = np.where(np.indices((4, 4)).sum(axis=0) % 2, 1.0, -1.0)  # a checkerboard of ±1: mean square 1
    scales = np.array([0.1, 3.0, 0.0, 1.0, 2.0])  # channel 2 is all zeros
    latent = (signs[None] * scales[:, None, None]).astype(np.float32)
    by_number, by_energy = explore.latent_grid(latent), explore.latent_grid(latent, by_energy=True)
    assert [c for c, _, _ in by_number.tiles] == [0, 1, 2, 3, 4]
    assert [c for c, _, _ in by_energy.tiles] == [1, 4, 3, 0, 2]
    np.testing.assert_allclose(by_energy.energy, (latent.astype(np.float64) ** 2).mean(axis=(1, 2)))
    channel, top, left = by_energy.tiles[0]  # the first tile holds channel 1's values, and says so on hover
    np.testing.assert_array_equal(by_energy.values[top : top + 4, left : left + 4], latent[1])
    assert (by_energy.hover[top : top + 4, left : left + 4, 0] == 1).all()
    annotations = figures.latent_figure(by_energy).layout.annotations
    assert [a.text for a in annotations] == ["1", "4", "3", "0", "2"]


def test_size_notice_only_where_the_code_outweighs_the_pixels(conv_model):
    tiny, normal = explore.analyse(conv_model, "tiny", photo(2, 2)), explore.analyse(conv_model, "tiny", photo(64, 64))
    assert tiny.bits_per_pixel > explore.RAW_BITS_PER_PIXEL and normal.bits_per_pixel < explore.RAW_BITS_PER_PIXEL
    assert "12 B as plain 8-bit RGB" in explore.size_notice(tiny)
    assert explore.size_notice(normal) is None


def test_display_png_is_lossless_and_thumbnails_only_shrink():
    image = photo(40, 30)
    shown = decode_image(explore.display_png(image, 120))
    np.testing.assert_array_equal(shown[::4, ::4], image)  # enlarged ×4, every pixel kept
    assert explore.thumbnail(photo(800, 400), 384).shape == (384, 192, 3)
    assert explore.thumbnail(image, 384) is image


@pytest.mark.parametrize("dim, shape", [(256, (16, 16)), (2048, (32, 64)), (7, (1, 7))])
def test_dense_codes_are_reshaped_to_the_most_square_2d(dim, shape):
    grid = explore.latent_grid(np.arange(dim, dtype=np.float32))
    assert grid.values.shape == shape and grid.family == "dense"
    assert tuple(grid.hover[-1, -1]) == (dim - 1, shape[0] - 1, shape[1] - 1)


def test_latent_facts_state_shape_range_values_and_bytes(conv_model):
    analysis = explore.analyse(conv_model, "tiny", photo(64, 64))
    facts = explore.latent_facts(analysis)
    assert facts["Shape"].startswith("4 × 8 × 8")
    assert facts["Size"] == "256 values"
    assert facts["Bytes at 8 bits"].startswith(f"{analysis.num_bytes:,} B (256 codes + 16 B")
    low, high = analysis.latent.min(), analysis.latent.max()
    assert facts["Value range"] == f"{low:.3f} … {high:.3f}"


# ---------------------------------------------------------------------------------------
# Metric tiles and deltas

NUMBERS = {"mse": 0.002, "psnr": 27.0, "ssim": 0.9, "ms_ssim": None, "ratio": 12.0, "bytes": 4160, "bpp": 2.03}


def test_metric_tiles_without_a_previous_model_have_no_deltas():
    tiles = explore.metric_tiles(NUMBERS, None)
    assert [t.label for t in tiles] == ["MSE", "PSNR", "SSIM", "MS-SSIM", "Ratio (values)", "Bytes",
                                        "Bits per pixel"]
    assert [t.group for t in tiles] == ["quality"] * 4 + ["size"] * 3
    assert all(t.delta is None for t in tiles)
    shown = {t.label: t.value for t in tiles}
    assert shown["PSNR"] == "27.00 dB" and shown["MS-SSIM"] == "–" and shown["Bytes"] == "4,160 B"


def test_metric_deltas_against_the_previous_model():
    before = {**NUMBERS, "psnr": 25.5, "bytes": 1040, "ms_ssim": 0.8}
    tiles = {t.label: t for t in explore.metric_tiles(NUMBERS, before)}
    assert tiles["PSNR"].delta == "+1.50 dB" and tiles["PSNR"].delta_color == "normal"
    assert tiles["Bytes"].delta == "+3,120 B" and tiles["Bytes"].delta_color == "inverse"
    assert tiles["MSE"].delta == "+0.00000"
    assert tiles["MS-SSIM"].delta is None  # not defined now: no delta


def test_lossless_psnr_is_infinity_without_a_delta():
    tiles = {t.label: t for t in explore.metric_tiles({**NUMBERS, "psnr": math.inf}, NUMBERS)}
    assert tiles["PSNR"].value == "∞" and tiles["PSNR"].delta is None


def test_previous_numbers_remembers_the_model_shown_before_on_the_same_input():
    history: dict = {}
    a, b, c = {"psnr": 20.0}, {"psnr": 25.0}, {"psnr": 30.0}
    assert explore.previous_numbers(history, "img1", "m1", a) is None
    assert explore.previous_numbers(history, "img1", "m1", a) is None  # a rerun, same model
    assert explore.previous_numbers(history, "img1", "m2", b) == a
    assert explore.previous_numbers(history, "img1", "m2", b) == a  # zoom moved: still against m1
    assert explore.previous_numbers(history, "img1", "m3", c) == b
    assert explore.previous_numbers(history, "img2", "m3", c) is None  # new image: nothing to compare


# ---------------------------------------------------------------------------------------
# Equal bytes

def test_equal_bytes_finds_a_file_within_the_budget_and_scores_it():
    image = photo(96, 128)
    budget = pillow_roundtrip(image, "jpeg", 50).num_bytes
    result = explore.equal_bytes(image, budget, "jpeg")
    assert result.encoded.num_bytes <= budget and result.encoded.quality >= 50
    assert result.scores["psnr"] == pytest.approx(
        metrics.quality(to_tensor(image), to_tensor(result.encoded.decoded))["psnr"])
    assert result.smallest_bytes is None


def test_equal_bytes_says_how_big_the_smallest_file_is_when_none_fits():
    image = photo(64, 64)
    result = explore.equal_bytes(image, 40, "jpeg")
    assert result.encoded is None and result.scores is None
    assert result.smallest_bytes == pillow_roundtrip(image, "jpeg", 1).num_bytes > 40


# ---------------------------------------------------------------------------------------
# Compare all

def test_comparison_image_cuts_to_whole_tiles():
    image = photo(130, 200)
    cut = explore.comparison_image(image)
    assert cut.image.shape == (128, 192, 3) and "192×128" in cut.note
    exact = photo(128, 192)
    assert explore.comparison_image(exact).image is exact and explore.comparison_image(exact).note is None
    assert explore.comparison_image(photo(40, 50)).image.shape == (64, 64, 3)


def test_model_points_use_real_latent_bytes(conv_model, dense_model):
    image = photo(128, 192)
    dense = explore.model_point(dense_model, "d", image)
    assert dense.num_bytes == 2 * 3 * (32 + 4)  # six 64×64 tiles, each a 32-value code + its range
    assert dense.reconstruction.shape == image.shape
    assert dense.psnr == pytest.approx(float(metrics.psnr(to_tensor(image), to_tensor(dense.reconstruction))))
    conv = explore.model_point(conv_model, "c", image)
    assert conv.num_bytes == 4 * 16 * 24 + 4 * 4
    assert conv.bpp == pytest.approx(8 * conv.num_bytes / (128 * 192))


def test_codec_points_are_the_real_file_sizes():
    image = photo(64, 96)
    points = explore.codec_points(image, "webp")
    assert len(points) > 5
    assert points[3].num_bytes == pillow_roundtrip(image, "webp", points[3].quality).num_bytes
    assert points[-1].psnr > points[0].psnr and points[-1].bpp > points[0].bpp


def test_kodak_eval_is_optional(tmp_path):
    assert explore.load_kodak_eval(tmp_path) is None
    (tmp_path / explore.KODAK_EVAL_FILE).write_text("{broken")
    assert explore.load_kodak_eval(tmp_path) is None
    (tmp_path / explore.KODAK_EVAL_FILE).write_text(json.dumps(KODAK))
    assert explore.load_kodak_eval(tmp_path)["images"] == 24


# ---------------------------------------------------------------------------------------
# Downloads

def test_download_bytes_round_trip():
    image = photo(20, 30)
    np.testing.assert_array_equal(decode_image(explore.png_bytes(image)), image)
    latent = np.random.default_rng(1).normal(size=(4, 3, 2)).astype(np.float32)
    np.testing.assert_array_equal(np.load(io.BytesIO(explore.npy_bytes(latent))), latent)


@pytest.mark.parametrize("name, stem", [
    ("My photo.JPG", "My-photo_conv-c16"), ("../../etc/passwd", "passwd_conv-c16"), ("???.png", "image_conv-c16"),
])
def test_file_stem_is_safe(name, stem):
    assert explore.file_stem(name, "conv-c16") == stem


# ---------------------------------------------------------------------------------------
# Figures

KODAK = {
    "images": 24,
    "models": [{"id": "conv-c16", "family": "conv", "ratio": 12, "psnr": 30, "psnr_8bit": 29.9, "bpp_8bit": 2.0}],
    "block_pca": [{"channels": 16, "ratio": 12, "psnr": 28, "psnr_8bit": 27.9, "bpp_8bit": 2.0}],
    "jpeg": [{"quality": q, "bpp": q / 40, "psnr": 25 + q / 10} for q in (10, 50, 90)],
    "webp": [{"quality": q, "bpp": q / 50, "psnr": 26 + q / 10} for q in (10, 50, 90)],
}


def test_latent_figure_colours_the_grid_and_hovers_the_values():
    latent = np.random.default_rng(0).normal(size=(4, 3, 3)).astype(np.float32)
    grid = explore.latent_grid(latent, per_channel=True)
    heatmap = figures.latent_figure(grid).data[0]
    np.testing.assert_array_equal(np.asarray(heatmap.z, dtype=float), grid.colours)
    assert heatmap.zmin == -heatmap.zmax == -1.0  # per-channel colours span −1…1
    assert np.asarray(heatmap.customdata)[0, 0, 3] == pytest.approx(latent[0, 0, 0])
    assert "customdata[3]" in heatmap.hovertemplate and "channel" in heatmap.hovertemplate


def test_rd_figure_has_this_image_and_the_kodak_reference():
    points = [explore.RatePoint("conv-c16", None, 1000, 2.0, 30.0),
              explore.RatePoint("dense-d256", None, 100, 0.5, 20.0)]
    codecs = {"jpeg": [explore.RatePoint("jpeg", 50, 500, 1.0, 31.0)]}
    fig = figures.rd_figure(points, {"conv-c16": "conv", "dense-d256": "dense"}, codecs, KODAK, current="conv-c16")
    names = [t.name for t in fig.data]
    assert "JPEG (this image)" in names and "conv models (this image)" in names
    assert "JPEG (Kodak, 24 images)" in names and "block-PCA (Kodak, 24 images)" in names
    conv = next(t for t in fig.data if t.name == "conv models (this image)")
    assert list(conv.marker.size) == [16]  # the slider's model stands out
    assert len(figures.rd_figure(points, {"conv-c16": "conv", "dense-d256": "dense"}, codecs, None).data) == 3


# ---------------------------------------------------------------------------------------
# Bad input the app relies on data.decode_image to refuse (the messages the user sees)

