"""Encoder-side latent search (search.py, `--effort max`): it finds a latent that codes better for
the fixed decoder, its files decode with the unchanged decoder in another process, and the same
input gives the same bytes."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from conftest import REPO, photo
from PIL import Image
from test_codec import DECODE_ELSEWHERE, codec_weights, codecs, symbols_digest  # noqa: F401 (fixtures: tiny codecs)

from autoencoder import codec, metrics, rate, search
from autoencoder.__main__ import main as cli
from autoencoder.data import GALLERY, load_gallery_image, to_tensor, to_uint8
from autoencoder.manifest import model_info
from autoencoder.pretrained import load_pretrained

FEW = search.Schedule(steps=30)  # the max schedule's shape, fewer steps: a test of seconds


@pytest.fixture(scope="module")
def crop() -> torch.Tensor:
    """A 64×64 crop of the gallery's first photo (not Kodak), RGB (1, 3, 64, 64) in [0, 1]."""
    image = load_gallery_image(GALLERY[0].name)
    h, w = image.shape[:2]
    return to_tensor(image[h // 2 - 32 : h // 2 + 32, w // 2 - 32 : w // 2 + 32])


def test_the_search_lowers_the_real_loss_of_a_shipped_codec(crop):
    """Real bytes and the decoded file's MSE, in train.py's loss: the searched latent's file
    costs less than the encoder's, and its hard-rounded estimate is lower too."""
    model_id = "codec-c8-hp"
    model, info = load_pretrained(model_id), model_info(model_id)
    lmbda = info.lmbda

    def real_loss(enc: codec.Encoding) -> float:
        result = enc.compressed()
        mse = float(metrics.mse(to_tensor(to_uint8(result.image)), crop))
        return lmbda * 255**2 * mse + 8 * len(result.data) / crop[0, 0].numel()

    plain = codec.Encoding(model, crop, model_id, info.sha256)
    u = search.search_latent(model, crop, lmbda, schedule=FEW)
    searched = codec.Encoding(model, crop, model_id, info.sha256, latent=u)
    with torch.no_grad():
        before = float(search.rd_loss(model, crop, plain.u[None], lmbda))
        after = float(search.rd_loss(model, crop, u[None], lmbda))
    assert after < 0.99 * before
    assert real_loss(searched) < real_loss(plain)


def test_a_searched_file_decodes_in_a_fresh_process_to_the_symbols_written(codecs, tmp_path, capsys):  # noqa: F811
    """The CLI at --effort max writes the library's bytes (deterministic: the same input, the same
    file), other integers than the default effort, and another process decodes exactly them."""
    image = photo(40, 56)
    Image.fromarray(image).save(tmp_path / "a.png")
    model, sha = codec.load_codec("codec-hp")
    x = to_tensor(image)
    enc = search.encoding(model, x, "codec-hp", sha, model_info("codec-hp").lmbda, effort="max")
    assert cli(["compress", str(tmp_path / "a.png"), "-m", "codec-hp", "--effort", "max", "-o", str(tmp_path / "a.aez")]) == 0
    data = (tmp_path / "a.aez").read_bytes()
    assert data == enc.file()
    assert data != codec.compress(model, x, "codec-hp", sha).data
    env = {"AUTOENCODER_WEIGHTS": str(codecs), "PYTHONPATH": f"{REPO}:{REPO / 'tests'}", "PATH": "/usr/bin:/bin"}
    decoded = subprocess.run([sys.executable, "-c", "import torch; torch.set_num_threads(2)\n" + DECODE_ELSEWHERE,
                              str(tmp_path / "a.aez")], check=True, env=env, capture_output=True, text=True).stdout
    assert decoded.strip() == symbols_digest(enc.symbols())
    assert torch.equal(codec.decompress(data).image, enc.compressed().image)


def test_a_size_target_at_max_effort_is_met_and_decodes_no_worse(codecs):  # noqa: F811
    image = photo(48, 64, seed=1)
    x = to_tensor(image)
    target = len(rate.compress_to(image, quality=50).data)
    plain = rate.compress_to(image, target_bytes=target)
    best = rate.compress_to(image, target_bytes=target, effort="max")
    assert len(best.data) <= target
    assert metrics.psnr(to_tensor(to_uint8(best.image)), x) >= metrics.psnr(to_tensor(to_uint8(plain.image)), x)
    assert codec.decompress(best.data).image.shape == x.shape


def test_an_unknown_effort_is_a_usage_error(tmp_path, capsys):
    Image.fromarray(photo(32, 48)).save(tmp_path / "a.png")
    with pytest.raises(SystemExit) as stop:
        cli(["compress", str(tmp_path / "a.png"), "-m", "codec-c8-hp", "-o", str(tmp_path / "out"), "--effort", "huge"])
    assert stop.value.code == 2 and "invalid choice: 'huge'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="effort must be one of default, max"):
        rate.compress_to(photo(32, 48), quality=50, effort="huge")
