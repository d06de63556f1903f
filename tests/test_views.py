"""The browser-side drawing helpers (explorer.views): swipe payloads and colour bars."""

from __future__ import annotations

import base64
import math
import re

import numpy as np
import pytest

from explorer import figures, report, views
from autoencoder.data import decode_image
from conftest import photo


def test_swipe_payload_carries_both_pictures_losslessly_with_their_size_and_words():
    left, right = photo(30, 40, seed=1), photo(30, 40, seed=2)
    data = views.swipe_payload(report.png_bytes(left), report.png_bytes(right), "Original", "conv-c16",
                               left_alt="the original", right_alt="the reconstruction", max_height="50vh")
    for key, image in (("left", left), ("right", right)):
        prefix, encoded = data[key].split(",", 1)
        assert prefix == "data:image/png;base64"
        np.testing.assert_array_equal(decode_image(base64.b64decode(encoded)), image)
    assert (data["width"], data["height"]) == (40, 30)
    assert data["left_alt"] == "the original" and data["max_height"] == "50vh"


def test_swipe_refuses_pictures_of_different_sizes():
    with pytest.raises(ValueError, match="one size"):
        views.swipe_payload(report.png_bytes(photo(30, 40)), report.png_bytes(photo(40, 30)), "a", "b",
                            left_alt="a", right_alt="b")


def test_colour_bar_runs_from_the_scale_s_darkest_to_brightest_colour_with_every_tick():
    bar = views.colour_bar_html(views.ERROR_COLORSCALE, ["0", "0.125", "≥ 0.25"], "error")
    table = views.colour_table(views.ERROR_COLORSCALE)
    stops = re.findall(r"rgb\((\d+),(\d+),(\d+)\) ([\d.]+)%", bar)
    assert len(stops) == views.COLOUR_BAR_STOPS
    assert tuple(map(int, stops[0][:3])) == tuple(table[0]) and stops[0][3] == "0"
    assert tuple(map(int, stops[-1][:3])) == tuple(table[255]) and stops[-1][3] == "100"
    assert all(f">{t}</span>" in bar for t in ["0", "0.125", "≥ 0.25"])
    assert 'aria-label="error: 0 … 0.125 … ≥ 0.25"' in bar
    # Labels never run into each other in a narrow column: each stays whole, and they wrap with a gap.
    assert bar.count('<span style="white-space:nowrap">') == 3 and "flex-wrap:wrap" in bar and "column-gap" in bar
    assert "opacity" not in bar  # full-contrast text


def test_error_bar_states_the_image_s_own_scale():
    bar = views.error_bar_html(0.0625)
    assert "≥ 0.062 (16/255)" in bar and "0.031" in bar and "99th percentile" in bar


# ---------------------------------------------------------------------------------------
# Pictures, heatmaps, zoom, latent grids, metric tiles (moved with the code from explore.py)

NUMBERS = {"mse": 0.002, "psnr": 27.0, "ssim": 0.9, "ms_ssim": None, "ratio": 12.0, "bytes": 4160, "bpp": 2.03}


def test_error_map_colours_follow_the_absolute_error():
    table = views.colour_table(views.ERROR_COLORSCALE)
    original = np.full((4, 4, 3), 100, np.uint8)
    assert (views.error_map(original, original) == table[0]).all()
    far = original.copy()
    far[0, 0] = 200  # beyond vmax: saturates
    far[1, 1] = 110  # a small error: a dim colour
    heat = views.error_map(original, far, vmax=50 / 255)
    assert (heat[0, 0] == table[255]).all()
    assert table[0].sum() < heat[1, 1].sum() < table[255].sum()
    with pytest.raises(ValueError):
        views.error_map(original, far[:2])


def test_error_maps_are_scaled_to_the_image_s_own_99th_percentile():
    rng = np.random.default_rng(0)
    original = rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)
    # A good reconstruction: errors of 0…4 levels everywhere, and 1 % of wild pixels.
    noise = rng.integers(0, 5, (100, 100, 1), dtype=np.int16).repeat(3, axis=2)
    wild = rng.random((100, 100)) < 0.005
    noise[wild] = 120
    reconstruction = np.clip(original.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    error = np.abs(original.astype(np.int16) - reconstruction.astype(np.int16)).mean(axis=2) / 255
    top = views.error_top(original, reconstruction)
    assert top == pytest.approx(np.percentile(error, 99))
    assert top < 0.25  # the old fixed scale drew this map nearly black (4/255 of 0.25 is 6 % bright)
    heat = views.error_map(original, reconstruction)
    np.testing.assert_array_equal(heat, views.heatmap(error, top, views.ERROR_COLORSCALE))
    table = views.colour_table(views.ERROR_COLORSCALE)
    assert (heat[wild] == table[255]).all()  # the wild pixels saturate…
    typical = heat[error == 4 / 255][0]
    assert typical.sum() > table[128].sum() * 0.5  # …and a typical error is clearly visible
    # An exact copy stays black: the scale never drops below one 8-bit level.
    assert views.error_top(original, original) == views.ERROR_TOP_MIN


def test_enlarge_repeats_pixels_by_whole_factors():
    image = photo(64, 48)
    big = views.enlarge(image, 512)
    assert big.shape == (64 * 11, 48 * 11, 3)  # ⌈512 / 48⌉ = 11
    np.testing.assert_array_equal(big[::11, ::11], image)
    assert (big[:11, :11] == image[0, 0]).all()
    large = photo(600, 700)
    assert views.enlarge(large, 512) is large


# ---------------------------------------------------------------------------------------
# Zoom

def test_zoom_box_is_centred_and_kept_inside_the_image():
    assert views.zoom_box(400, 800, 0.5, 0.5, 4) == views.Box(150, 300, 100, 200)
    assert views.zoom_box(400, 800, 0.0, 1.0, 4) == views.Box(300, 0, 100, 200)
    assert views.zoom_box(400, 800, 1.0, 0.0, 2) == views.Box(0, 400, 200, 400)
    assert views.zoom_box(10, 10, 0.3, 0.7, 1) == views.Box(0, 0, 10, 10)
    assert views.zoom_box(5, 5, 0.5, 0.5, 16).height == 1
    with pytest.raises(ValueError):
        views.zoom_box(10, 10, 0.5, 0.5, 0.5)


def test_crop_and_outline():
    image = photo(100, 100)
    box = views.Box(10, 20, 30, 40)
    assert views.crop(image, box).shape == (30, 40, 3)
    framed = views.outline(image, box, colour=(1, 2, 3))
    assert (framed[10, 20:60] == (1, 2, 3)).all() and (framed[39, 20:60] == (1, 2, 3)).all()
    assert (framed[10:40, 20] == (1, 2, 3)).all() and (framed[10:40, 59] == (1, 2, 3)).all()
    np.testing.assert_array_equal(framed[15:35, 25:55], image[15:35, 25:55])  # inside untouched
    assert not (image[10, 20:60] == (1, 2, 3)).all()  # the input is not drawn on


# ---------------------------------------------------------------------------------------
# Latent grid

def test_conv_latent_grid_tiles_channels_with_gaps_and_hover_positions():
    latent = np.arange(4 * 3 * 5, dtype=np.float32).reshape(4, 3, 5)
    grid = views.latent_grid(latent)
    assert grid.values.shape == (2 * 4 - 1, 2 * 6 - 1)  # 2 × 2 tiles of 3 × 5, one-cell gaps
    assert np.isnan(grid.values[3]).all() and np.isnan(grid.values[:, 5]).all()
    np.testing.assert_array_equal(grid.values[4:7, 6:11], latent[3])
    assert tuple(grid.hover[5, 8]) == (3, 1, 2)  # channel 3, latent row 1, column 2
    assert tuple(grid.hover[3, 0]) == (-1, -1, -1)
    assert grid.pool == 1 and grid.channels == 4 and grid.cell_pixels == 8
    np.testing.assert_array_equal(grid.colours, grid.values)  # one scale for all: colours are values


def test_per_channel_colours_scale_each_channel_but_keep_values():
    latent = np.stack([np.full((2, 2), 10.0), np.full((2, 2), -0.5)]).astype(np.float32)
    grid = views.latent_grid(latent, per_channel=True)
    assert grid.per_channel
    assert np.nanmax(np.abs(grid.colours[:2, :2])) == 1 and np.nanmin(grid.colours[:2, 3:]) == -1
    assert grid.values[0, 0] == 10 and grid.values[0, 3] == -0.5


def test_large_latents_are_average_pooled_under_the_cell_budget():
    latent = np.random.default_rng(0).normal(size=(16, 40, 40)).astype(np.float32)
    grid = views.latent_grid(latent, max_cells=16 * 10 * 10)
    assert grid.pool == 4 and grid.cell_pixels == 32
    np.testing.assert_allclose(grid.values[0, 0], latent[0, :4, :4].mean(), rtol=1e-5)
    assert np.isfinite(grid.values).sum() == 16 * 10 * 10


def test_energy_order_puts_the_strongest_channel_first_and_keeps_channel_numbers():
    signs = np.where(np.indices((4, 4)).sum(axis=0) % 2, 1.0, -1.0)  # a checkerboard of ±1: mean square 1
    scales = np.array([0.1, 3.0, 0.0, 1.0, 2.0])  # channel 2 is all zeros
    latent = (signs[None] * scales[:, None, None]).astype(np.float32)
    by_number, by_energy = views.latent_grid(latent), views.latent_grid(latent, by_energy=True)
    assert [c for c, _, _ in by_number.tiles] == [0, 1, 2, 3, 4]
    assert [c for c, _, _ in by_energy.tiles] == [1, 4, 3, 0, 2]
    np.testing.assert_allclose(by_energy.energy, (latent.astype(np.float64) ** 2).mean(axis=(1, 2)))
    channel, top, left = by_energy.tiles[0]  # the first tile holds channel 1's values, and says so on hover
    np.testing.assert_array_equal(by_energy.values[top : top + 4, left : left + 4], latent[1])
    assert (by_energy.hover[top : top + 4, left : left + 4, 0] == 1).all()
    annotations = figures.latent_figure(by_energy).layout.annotations
    assert [a.text for a in annotations] == ["1", "4", "3", "0", "2"]


def test_display_png_is_lossless_and_thumbnails_only_shrink():
    image = photo(40, 30)
    shown = decode_image(views.display_png(image, 120))
    np.testing.assert_array_equal(shown[::4, ::4], image)  # enlarged ×4, every pixel kept
    assert views.thumbnail(photo(800, 400), 384).shape == (384, 192, 3)
    assert views.thumbnail(image, 384) is image


@pytest.mark.parametrize("dim, shape", [(256, (16, 16)), (2048, (32, 64)), (7, (1, 7))])
def test_dense_codes_are_reshaped_to_the_most_square_2d(dim, shape):
    grid = views.latent_grid(np.arange(dim, dtype=np.float32))
    assert grid.values.shape == shape and not grid.maps
    assert tuple(grid.hover[-1, -1]) == (dim - 1, shape[0] - 1, shape[1] - 1)


def test_metric_tiles_without_a_previous_model_have_no_deltas():
    tiles = views.metric_tiles(views.tile_numbers(NUMBERS, 32, 65), None)
    assert [t.label for t in tiles if t.group == "headline"] == ["PSNR", "SSIM", "Smaller", "Size"]
    assert [t.label for t in tiles if t.group == "detail"] == ["MSE", "MS-SSIM", "Bytes", "Bits per pixel",
                                                               "Raw pixels", "Values ratio"]
    assert all(t.delta is None for t in tiles)
    shown = {t.label: t.value for t in tiles}
    assert shown["PSNR"] == "27.00 dB" and shown["MS-SSIM"] == "–" and shown["Bytes"] == "4,160 B"
    assert shown["Size"] == "4.16 KB" and shown["Raw pixels"] == "6,240 B" and shown["Smaller"] == "1.5×"


def test_metric_deltas_against_the_previous_model():
    before = {**NUMBERS, "psnr": 25.5, "bytes": 1040, "ms_ssim": 0.8}
    tiles = {t.label: t for t in views.metric_tiles(views.tile_numbers(NUMBERS, 100, 100),
                                                    views.tile_numbers(before, 100, 100))}
    assert tiles["PSNR"].delta == "+1.50 dB" and tiles["PSNR"].delta_color == "normal"
    assert tiles["Bytes"].delta == "+3,120 B" and tiles["Bytes"].delta_color == "inverse"
    assert tiles["Size"].delta == "+3.12 KB" and tiles["Size"].delta_color == "inverse"
    assert tiles["MSE"].delta == "+0.00000"
    assert tiles["MS-SSIM"].delta is None  # not defined now: no delta
    assert tiles["Smaller"].delta is None  # the size's change says it
    smaller = views.metric_tiles(views.tile_numbers(before, 100, 100), views.tile_numbers(NUMBERS, 100, 100))
    assert {t.label: t.delta for t in smaller}["Size"] == "-3.12 KB"  # ASCII minus: st.metric reads it


def test_lossless_psnr_is_infinity_without_a_delta():
    tiles = {t.label: t for t in views.metric_tiles({**NUMBERS, "psnr": math.inf}, NUMBERS)}
    assert tiles["PSNR"].value == "∞" and tiles["PSNR"].delta is None


def test_numbers_table_lists_every_tile_with_its_change_and_meaning():
    tiles = views.metric_tiles(views.tile_numbers(NUMBERS, 100, 100), None)
    table = views.numbers_table(tiles).splitlines()
    assert table[0] == "| | value | change | what it is |" and len(table) == 2 + len(tiles)
    assert "| Bytes | 4,160 B |  | the exact size |" in table


def test_running_style_fades_the_result_and_names_it_safely():
    css = views.running_css('Showing conv-c16 on a"</style><img src=x>.png · conv-c8 is running…')
    assert ".st-key-stage" in css and "opacity: 0.4" in css
    assert css.count("<") == 4 and css.count('"') == 4  # the span, the style and the string's own quotes
    assert views.css_string('a"b') == '"a\\000022b"'


def test_previous_numbers_remembers_the_model_shown_before_on_the_same_input():
    history: dict = {}
    a, b, c = {"psnr": 20.0}, {"psnr": 25.0}, {"psnr": 30.0}
    assert views.previous_numbers(history, "img1", "m1", a) is None
    assert views.previous_numbers(history, "img1", "m1", a) is None  # a rerun, same model
    assert views.previous_numbers(history, "img1", "m2", b) == a
    assert views.previous_numbers(history, "img1", "m2", b) == a  # zoom moved: still against m1
    assert views.previous_numbers(history, "img1", "m3", c) == b
    assert views.previous_numbers(history, "img2", "m3", c) is None  # new image: nothing to compare


def test_latent_figure_colours_the_grid_and_hovers_the_values():
    latent = np.random.default_rng(0).normal(size=(4, 3, 3)).astype(np.float32)
    grid = views.latent_grid(latent, per_channel=True)
    heatmap = figures.latent_figure(grid).data[0]
    np.testing.assert_array_equal(np.asarray(heatmap.z, dtype=float), grid.colours)
    assert heatmap.zmin == -heatmap.zmax == -1.0  # per-channel colours span −1…1
    assert np.asarray(heatmap.customdata)[0, 0, 3] == pytest.approx(latent[0, 0, 0])
    assert "customdata[3]" in heatmap.hovertemplate and "channel" in heatmap.hovertemplate
