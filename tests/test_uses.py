"""Denoising, anomaly scores and latent interpolation (autoencoder.uses), checked against
expectations that do not come from the code under test: noise statistics, an autoencoder that
is exactly the identity (every block-PCA component kept), hand-computed AUCs, and linear
algebra (a linear autoencoder's latent blend is the pixel cross-fade)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import autoencoder as ae
from autoencoder import pretrained, train, uses
from autoencoder.data import to_tensor, to_uint8
from autoencoder.models import build_model
from autoencoder.pca import BlockPCA
from conftest import numpy_psnr, photo


def orthonormal_pca(seed: int = 0) -> BlockPCA:
    q, _ = torch.linalg.qr(torch.randn(192, 192, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return BlockPCA(torch.full((192,), 0.5), q.float(), torch.linspace(2, 1, 192))


@pytest.fixture(scope="module")
def identity():
    """A conv model that keeps all 192 coefficients of an orthonormal block transform: lossless."""
    return orthonormal_pca().as_model(192)


@pytest.fixture(scope="module")
def lossy():
    """Block-PCA with 4 of 192 coefficients (from a real fit): keeps smooth content, loses detail."""
    from autoencoder.pca import fit_full_resolution

    return fit_full_resolution([photo(128, 128, seed) for seed in range(4)]).as_model(4)


def test_noise_has_the_asked_standard_deviation_and_is_seeded():
    x = torch.full((1, 3, 200, 200), 0.5)  # mid-grey: σ = 0.05 is clipped nowhere
    noisy = uses.add_noise(x, 0.05, torch.Generator().manual_seed(3))
    assert float((noisy - x).std()) == pytest.approx(0.05, rel=0.02)
    assert torch.equal(noisy, uses.add_noise(x, 0.05, torch.Generator().manual_seed(3)))
    per_image = uses.add_noise(torch.full((2, 3, 100, 100), 0.5), torch.tensor([0.0, 0.1]).view(2, 1, 1, 1))
    assert float(per_image[0].std()) == 0 and float(per_image[1].std()) == pytest.approx(0.1, rel=0.05)
    assert float(uses.add_noise(torch.ones(1, 3, 8, 8), 0.5).max()) <= 1  # clipped like a stored photo


def test_denoise_scores_three_pictures_against_the_clean_image(identity):
    image = np.full((96, 96, 3), 128, np.uint8)
    result = uses.denoise(identity, image, sigma=0.1)
    # σ = 0.1 on mid-grey: PSNR = 20·log10(1/σ) = 20 dB, up to 8-bit rounding of the noisy file
    assert result.psnr["noisy"] == pytest.approx(20.0, abs=0.1)
    assert result.psnr["noisy"] == pytest.approx(numpy_psnr(image, result.noisy), abs=1e-4)
    np.testing.assert_array_equal(result.denoised, result.noisy)  # the identity removes nothing
    assert result.psnr["classical"] > result.psnr["noisy"] + 5  # wavelets flatten a flat image's noise


def test_the_wavelet_baseline_denoises_a_photo():
    image = photo(128, 128)
    noisy = to_uint8(uses.add_noise(to_tensor(image), 0.1, torch.Generator().manual_seed(0)))
    assert numpy_psnr(image, uses.wavelet_denoise(noisy)) > numpy_psnr(image, noisy) + 3


def test_an_exact_model_finds_nothing_and_a_lossy_one_finds_the_defect(identity, lossy):
    image = photo(128, 128)
    assert uses.anomaly(identity, image).score < 1e-9
    clean = uses.anomaly(lossy, image)
    broken_image = uses.add_defect(image, "noise patch", seed=4)
    changed = np.argwhere((broken_image != image).any(axis=2))
    (top, left), (bottom, right) = changed.min(0), changed.max(0)
    broken = uses.anomaly(lossy, broken_image)
    assert broken.score > 3 * clean.score
    peak = np.unravel_index(np.argmax(broken.window_error), broken.window_error.shape)
    assert top - 8 <= peak[0] <= bottom + 8 and left - 8 <= peak[1] <= right + 8  # the map lights up there


@pytest.mark.parametrize("kind", uses.DEFECTS)
def test_defects_are_local_seeded_and_leave_the_input_alone(kind):
    image = photo(128, 160)
    before = image.copy()
    out = uses.add_defect(image, kind, seed=2)
    np.testing.assert_array_equal(image, before)
    np.testing.assert_array_equal(out, uses.add_defect(image, kind, seed=2))
    changed = (out != image).any(axis=2)
    assert 0 < changed.mean() < 0.1  # a defect, not a new picture
    with pytest.raises(ValueError, match="unknown defect"):
        uses.add_defect(image, "smudge")


def test_roc_auc_on_hand_computed_cases():
    assert uses.roc_auc([1, 2, 3], [4, 5]) == 1.0
    assert uses.roc_auc([4, 5], [1, 2, 3]) == 0.0
    assert uses.roc_auc([1, 1], [1, 1]) == 0.5
    # anomalous 2 beats 1, ties 2, loses to 3; anomalous 4 beats all three: (1 + 0.5 + 3) / 6
    assert uses.roc_auc([1, 2, 3], [2, 4]) == pytest.approx(0.75)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=8), st.lists(st.integers(0, 5), min_size=1, max_size=8))
def test_roc_auc_is_symmetric(normal, anomalous):
    assert uses.roc_auc(normal, anomalous) + uses.roc_auc(anomalous, normal) == pytest.approx(1.0)


def test_benchmark_separates_noise_patches_from_photos(lossy):
    normal, defective = uses.benchmark_set(6, seed=5, side=64)
    assert len(normal) == len(defective) == 6 and normal[0].shape == (64, 64, 3)
    assert [k for k, _ in defective] == list(uses.DEFECTS) * 2
    result = uses.anomaly_benchmark(lossy, count=12, seed=5, side=128)
    assert result["auc_by_defect"]["noise patch"] >= 0.9  # four coefficients per block cannot draw noise
    assert 0.5 <= result["balanced_accuracy"] <= 1 and result["threshold"] > 0


def test_a_linear_autoencoders_latent_blend_is_the_cross_fade(identity):
    a, b = uses.same_size(photo(100, 140, 1), photo(90, 90, 2), 64)
    assert a.shape == b.shape == (64, 64, 3)
    result = uses.interpolate(identity, a, b, steps=5)
    assert result.t == [0.0, 0.25, 0.5, 0.75, 1.0]
    np.testing.assert_array_equal(result.latent_path[0], a)
    np.testing.assert_array_equal(result.latent_path[-1], b)
    for path, fade in zip(result.latent_path, result.cross_fade):
        assert np.abs(path.astype(int) - fade.astype(int)).max() <= 1  # equal up to rounding
    assert min(result.psnr_to_linear) > 45  # a linear decoder: the blend of codes is the blend of pictures
    with pytest.raises(ValueError, match="two images of one size"):
        uses.interpolate(identity, a, b[:32], steps=3)


def test_a_dense_models_blend_at_init_is_the_blend_of_its_reconstructions():
    # PCA-initialised, a dense model is affine (one value per patch here, so lossy): decoding the
    # mean code gives the mean of the two reconstructions.
    pca = orthonormal_pca()
    dense = build_model("dense", {"latent_dim": 64, "width": 8, "depth": 1}).eval()
    dense.init_from_pca(pca.mean, pca.basis, pca.variances)
    a, b = uses.same_size(photo(80, 80, 1), photo(80, 80, 2), 64)
    result = uses.interpolate(dense, a, b, steps=3)
    ends = (result.latent_path[0].astype(float) + result.latent_path[2].astype(float)) / 2
    inside = (ends > 1) & (ends < 254)  # where neither end was clipped to 0…255
    assert np.abs(result.latent_path[1].astype(float) - ends)[inside].max() <= 1.01
    trained_like = build_model("dense", {"latent_dim": 64, "width": 8, "depth": 1}).eval()
    trained_like.init_from_pca(pca.mean, pca.basis, pca.variances)
    torch.nn.init.normal_(trained_like.decoder_branch[-1].weight, std=0.5)  # a nonlinear decoder
    bent = uses.interpolate(trained_like, a, b, steps=3)
    assert bent.psnr_to_linear[1] < min(result.psnr_to_linear[1], 60) and bent.psnr_to_linear[0] == float("inf")


def test_training_a_denoiser_records_its_use_and_stays_off_the_slider(image_folder, tmp_path):
    common = ["--data", str(image_folder), "--crop", "32", "--batch-size", "2", "--steps", "2", "--val-every", "4",
              "--out", str(tmp_path), "--no-progress", "--threads", "1"]
    train.main(["--id", "conv-c4", "--model", "latent_channels=4", "--model", "width=8", "--model", "depth=1",
                "--checkpoint", str(tmp_path / "a.pt"), *common])
    entry = train.main(["--id", "denoise-c4", "--init-from", "conv-c4", "--noise-sigma", "0.2",
                        "--checkpoint", str(tmp_path / "b.pt"), *common])
    assert entry["use"] == "denoising" and entry["noise_sigma"] == 0.2
    base = pretrained.model_info("conv-c4", tmp_path)["training"]["validation_psnr"][-1][1]
    assert entry["training"]["validation_psnr"][0][1] < base  # validated on noisy inputs: harder
    assert pretrained.list_models(tmp_path) == ["conv-c4"]
    assert pretrained.list_models(tmp_path, use="denoising") == ["denoise-c4"]
    with pytest.raises(SystemExit, match="conv denoiser"):
        train.main(["--id", "d", "--family", "dense", "--noise-sigma", "0.1", "--checkpoint", str(tmp_path / "c.pt"),
                    *common])


@pytest.mark.parametrize("change, problem", [
    ({"use": "painting"}, "its use must be one of"),
    ({"use": "denoising"}, "a denoiser must be a conv model with a noise_sigma"),
    ({"use": "denoising", "noise_sigma": 2}, "a denoiser must be a conv model with a noise_sigma"),
])
def test_the_manifest_schema_checks_uses(change, problem):
    entry = {"id": "m", "family": "conv", "config": {"latent_channels": 4, "width": 8, "depth": 1}, "file": "m.safetensors",
             "sha256": "0" * 64, "ratio": 48.0, **change}
    with pytest.raises(pretrained.WeightsError, match=problem):
        pretrained.check_entry(entry)


def test_cli_runs_each_use(tiny_weights, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("AUTOENCODER_WEIGHTS", str(shutil.copytree(tiny_weights, tmp_path / "weights")))  # it writes
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(photo(80, 100, 1)).save(a)
    Image.fromarray(photo(70, 90, 2)).save(b)
    psnr = uses.main(["denoise", str(a), "--sigma", "20", "--model", "conv-c4", "--out", str(tmp_path / "d")])
    assert set(psnr) == {"noisy", "denoised", "classical"} and psnr["noisy"] < 30
    assert (tmp_path / "d" / "a_classical.png").exists()
    folder = tmp_path / "clean"
    folder.mkdir()
    Image.fromarray(photo(64, 64, 3)).save(folder / "one.png")
    Image.fromarray(photo(64, 64, 4)).save(folder / "two.png")
    means = uses.main(["denoise-eval", "--data", str(folder), "--sigma", "20", "--model", "conv-c4", "--update-manifest"])
    each = [uses.denoise(ae.load_pretrained("conv-c4"), photo(64, 64, s), 20 / 255, seed=i).psnr for i, s in enumerate((3, 4))]
    assert means["images"] == 2 and means["psnr_noisy"] == pytest.approx(np.mean([e["noisy"] for e in each]), abs=1e-3)
    assert pretrained.model_info("conv-c4")["denoising_clean_sigma20"]["psnr_classical"] == means["psnr_classical"]
    uses.main(["anomaly", str(a), "--defect", "text", "--model", "conv-c4", "--out", str(tmp_path / "x")])
    assert Image.open(tmp_path / "x" / "a_error.png").size == (100, 80)
    uses.main(["interpolate", str(a), str(b), "--steps", "4", "--side", "48", "--model", "conv-c4",
               "--out", str(tmp_path / "strip.png")])
    assert Image.open(tmp_path / "strip.png").size == (4 * 48, 2 * 48)  # latent path above the cross-fade
    result = uses.main(["anomaly-benchmark", "--count", "3", "--model", "conv-c4", "--json", str(tmp_path / "b.json")])
    assert json.loads((tmp_path / "b.json").read_text()) == result and result["model"] == "conv-c4"
