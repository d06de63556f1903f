"""Pillow's codecs (baselines.CODECS): real files, decoded through the same plugin, quality
ladders that grow with quality, a missing plugin named and skipped, and the eval's tables and
chart for every codec."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from autoencoder import baselines, evaluate
from autoencoder.data import GALLERY, load_gallery_image
from conftest import numpy_psnr, photo, write_images

NEW = ("avif", "jxl")


@pytest.fixture(scope="module")
def gallery_photo() -> np.ndarray:
    return load_gallery_image(GALLERY[0].name)


def test_the_table_describes_every_codec_once_and_apart():
    codecs = baselines.ALL_CODECS.values()
    for what in ("label", "colour", "marker", "symbol"):
        values = [getattr(c, what) for c in codecs]
        assert len(set(values)) == len(values), f"two codecs share a {what}: charts could not tell them apart"
    assert baselines.ALL_CODECS["avif"].options == {"subsampling": "4:4:4", "speed": 6, "codec": "aom"}
    assert baselines.ALL_CODECS["jxl"].effort == 7
    assert "4:4:4" in baselines.describe("avif") and "speed 6" in baselines.describe("avif")
    assert "effort 7" in baselines.describe("jxl")
    # Installed from requirements.txt, so present here; a machine without them skips them (below).
    assert set(NEW) <= set(baselines.CODECS), baselines.UNAVAILABLE


def test_which_codecs_run_is_found_on_first_use_not_at_import():
    probe = "import autoencoder.baselines as b; from autoencoder import evaluate, bench; " \
            "print(b._probe.cache_info().currsize, len(b.CODECS), b._probe.cache_info().currsize)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", str(len(baselines.CODECS)), "1"]


@pytest.mark.parametrize("codec", NEW)
def test_a_file_round_trips_and_its_bytes_are_the_file(codec, tmp_path):
    image = photo(96, 128, seed=3)
    encoded = baselines.pillow_roundtrip(image, codec, 90)
    assert encoded.decoded.shape == image.shape and encoded.decoded.dtype == np.uint8
    assert numpy_psnr(image, encoded.decoded) > 30  # a near copy (a wrong decode scores ~10 dB)
    # The same file written to disk and read back from there: its size, its pixels, its kind.
    data = baselines.encode(image, codec, 90)
    path = tmp_path / f"photo{baselines.CODECS[codec].suffix}"
    path.write_bytes(data)
    assert encoded.num_bytes == len(data) == path.stat().st_size
    assert np.array_equal(baselines.decode(path.read_bytes(), codec), encoded.decoded)
    if codec == "avif":  # an ISO-BMFF file of brand avif, as any viewer opens it
        assert data[4:12] == b"ftypavif"
        with Image.open(path) as opened:
            assert opened.format == "AVIF"
    else:  # a bare JPEG XL codestream (FF 0A) or its ISO-BMFF container
        assert data[:2] == b"\xff\x0a" or data[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n"
    if codec == "avif":  # 4:4:4 as stated: a pure red/blue checkerboard keeps its colour edges
        board = np.zeros((64, 64, 3), np.uint8)
        board[::2, ::2, 0] = board[1::2, 1::2, 0] = board[::2, 1::2, 2] = board[1::2, ::2, 2] = 255
        sharp = baselines.pillow_roundtrip(board, codec, 95).decoded
        halved = np.array(Image.open(io.BytesIO(_save(board, "AVIF", quality=95, subsampling="4:2:0"))).convert("RGB"))
        assert numpy_psnr(board, sharp) > numpy_psnr(board, halved) + 3


def _save(image: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("codec", NEW)
def test_bytes_grow_with_quality_on_a_gallery_photo(codec, gallery_photo):
    ladder = baselines.codec_ladder(gallery_photo, codec)
    sizes = [e.num_bytes for e in ladder]
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes), list(zip(baselines.CODECS[codec].qualities, sizes))
    psnr = [numpy_psnr(gallery_photo, e.decoded) for e in ladder]
    assert psnr[-1] > psnr[0] + 10
    budget = ladder[len(ladder) // 2].num_bytes  # the equal-bytes search of the app finds a file within it
    best = baselines.best_within_bytes(gallery_photo, codec, budget)
    assert best is not None and best.num_bytes <= budget


def test_a_missing_plugin_is_named_and_its_codec_left_out(use_weights, tmp_path, monkeypatch, capsys):
    gone = dataclasses.replace(baselines.ALL_CODECS["jxl"], module="no_such_jxl_module")
    reason = baselines.unavailable_reason(gone)
    assert reason.startswith("JPEG XL unavailable: install imagecodecs")
    monkeypatch.setitem(baselines.UNAVAILABLE, "jxl", reason)
    monkeypatch.delitem(baselines.CODECS, "jxl")
    folder = write_images(tmp_path / "images", 1, size=(128, 128))
    results = evaluate.main(["--data", str(folder), "--models", "--pca", "none", "--codecs", "jpeg", "jxl",
                             "--qualities", "20", "80", "--markdown", str(tmp_path / "r.md")])
    assert "JPEG XL unavailable: install imagecodecs" in capsys.readouterr().err
    assert evaluate.baseline_names(results) == ["jpeg"] and "jxl" not in results
    assert results["baselines_unavailable"] == {"jxl": reason}
    assert f"*{reason}: left out of this run.*" in (tmp_path / "r.md").read_text()


def fake_results() -> dict:
    """An eval's results with a codec ladder and all four of Pillow's codecs (made-up curves)."""
    def ladder(offset):
        return [{"quality": q, "bpp": b, "psnr": 24 + offset + 6 * np.log2(b / 0.1), "ms_ssim": None,
                 "encode_s": 0.01, "decode_s": 0.001} for q, b in zip((10, 50, 90), (0.1, 0.5, 2.5))]

    codecs = [{"id": f"codec-{i}", "prior": "hyperprior", "lmbda": 0.01, "latent_channels": 8, "bpp": b,
               "bpp_estimated": b, "psnr": 26 + 6 * np.log2(b / 0.1), "ms_ssim": None, "decode_s": 0.1, "ladder": True}
              for i, b in enumerate((0.2, 0.4, 0.8, 1.6))]
    # A model another one refines: off the ladder, below it.
    codecs.append({**codecs[1], "id": "codec-old", "bpp": 0.5, "bpp_estimated": 0.5, "psnr": codecs[1]["psnr"] - 1,
                   "ladder": False})
    return {"images": 24, "data": "kodak", "models": [], "block_pca": [], "codecs": codecs,
            "baselines": {c: baselines.describe(c) for c in baselines.ALL_CODECS},
            **{c: ladder(i) for i, c in enumerate(baselines.ALL_CODECS)}}


def test_tables_compare_the_ladder_with_every_codec():
    table = evaluate.markdown(fake_results())
    for codec in baselines.ALL_CODECS.values():
        assert f"BD-rate vs {codec.label} |" in table and f"{codec.label} PSNR, same bpp" in table
        assert f"| {codec.label}, measured |" in table and f"* {codec.label}: {codec.settings}" in table
    # JPEG's curve is 0 dB above 24 + 6·log2(bpp/0.1), AVIF's 2 dB: AVIF needs 2/6 of a doubling fewer bits.
    assert f"| AVIF, measured | {(2 ** (-2 / 6) - 1) * 100:+.1f} % |" in table
    assert "| codec ladder (this repo) | " in table and "| AVIF | " in table
    # 2 dB above JPEG's curve, the model off the ladder left out of the curve and out of bold.
    assert f"| codec ladder (this repo) | {(2 ** (-2 / 6) - 1) * 100:+.1f} % |" in table
    assert "| **codec-1** |" in table and "| codec-old |" in table


def test_the_chart_marks_each_codec_with_its_shape_and_prints_the_settings(tmp_path, monkeypatch):
    import matplotlib.figure

    drawn = {}
    original = matplotlib.figure.Figure.savefig

    def keep(figure, *args, **kwargs):
        drawn["lines"] = {line.get_label(): line.get_marker() for line in figure.axes[0].get_lines()}
        drawn["text"] = " ".join(t.get_text() for t in figure.texts)
        return original(figure, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    evaluate.write_rd_chart(fake_results(), tmp_path / "rd.png")
    assert (tmp_path / "rd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for codec in baselines.ALL_CODECS.values():
        assert drawn["lines"][f"{codec.label} (measured)"] == codec.marker
        assert codec.settings in drawn["text"]


def test_the_readme_summary_is_the_results_page_s_bd_rate_table(tmp_path):
    results = fake_results()
    rows = evaluate.bd_rate_table(results)
    assert rows and all(row in evaluate.markdown(results).split("\n") for row in rows)
    assert len(rows) == 2 + 1 + len(evaluate.published_curves()) + len(baselines.ALL_CODECS)
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- summary:start -->\nold\n<!-- summary:end -->\nafter\n")
    evaluate.splice_readme(readme, "summary", "\n".join(rows) + "\n")
    assert readme.read_text() == "intro\n<!-- summary:start -->\n" + "\n".join(rows) + "\n<!-- summary:end -->\nafter\n"
