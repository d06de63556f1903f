"""The browser-side drawing helpers (autoencoder.views): swipe payloads and colour bars."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from autoencoder import explore, views
from autoencoder.data import decode_image
from test_explore import photo


def test_swipe_payload_carries_both_pictures_losslessly_with_their_size_and_words():
    left, right = photo(30, 40, seed=1), photo(30, 40, seed=2)
    data = views.swipe_payload(explore.png_bytes(left), explore.png_bytes(right), "Original", "conv-c16",
                               left_alt="the original", right_alt="the reconstruction", max_height="50vh")
    for key, image in (("left", left), ("right", right)):
        prefix, encoded = data[key].split(",", 1)
        assert prefix == "data:image/png;base64"
        np.testing.assert_array_equal(decode_image(base64.b64decode(encoded)), image)
    assert (data["width"], data["height"]) == (40, 30)
    assert data["left_alt"] == "the original" and data["max_height"] == "50vh"


def test_swipe_refuses_pictures_of_different_sizes():
    with pytest.raises(ValueError, match="one size"):
        views.swipe_payload(explore.png_bytes(photo(30, 40)), explore.png_bytes(photo(40, 30)), "a", "b",
                            left_alt="a", right_alt="b")


def test_colour_bar_runs_from_the_scale_s_darkest_to_brightest_colour_with_every_tick():
    bar = views.colour_bar_html(explore.ERROR_COLORSCALE, ["0", "0.125", "≥ 0.25"], "error")
    table = explore.colour_table(explore.ERROR_COLORSCALE)
    stops = re.findall(r"rgb\((\d+),(\d+),(\d+)\) ([\d.]+)%", bar)
    assert len(stops) == views.COLOUR_BAR_STOPS
    assert tuple(map(int, stops[0][:3])) == tuple(table[0]) and stops[0][3] == "0"
    assert tuple(map(int, stops[-1][:3])) == tuple(table[255]) and stops[-1][3] == "100"
    assert all(f"<span>{t}</span>" in bar for t in ["0", "0.125", "≥ 0.25"])
    assert 'aria-label="error: 0 … 0.125 … ≥ 0.25"' in bar
