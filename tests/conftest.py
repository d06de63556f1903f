"""Shared fixtures: tiny image folders and tiny trained models, so tests need no ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

# CI (.ci/run sets CI=true) runs the same hypothesis examples every time and keeps no example
# database: a red run is reproducible, and a green one does not depend on an earlier run's finds.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


def write_images(folder: Path, count: int, size=(96, 80), seed: int = 0) -> Path:
    """Smooth random colour images (gradients plus noise): structured enough to train on."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    for i in range(count):
        a = rng.uniform(0, 1, (3, 3))
        img = np.stack([a[c, 0] * xx + a[c, 1] * yy + a[c, 2] * np.sin(6 * xx * (i + 1)) for c in range(3)], -1)
        img = np.clip((img - img.min()) / (np.ptp(img) + 1e-9) * 200 + rng.normal(0, 8, img.shape), 0, 255)
        Image.fromarray(img.astype(np.uint8)).save(folder / f"{i:03d}.png")
    return folder


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    return write_images(tmp_path_factory.mktemp("images"), 4)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, image_folder) -> Path:
    """A weights folder with a tiny conv model, a tiny dense model and a block-PCA, made by
    the real training and fit-pca commands (two steps each)."""
    from autoencoder import pca, train

    out = tmp_path_factory.mktemp("weights")
    common = ["--data", str(image_folder), "--steps", "2", "--batch-size", "2", "--val-every", "4",
              "--out", str(out), "--no-progress", "--threads", "1"]
    train.main(["--id", "conv-c4", "--model", "latent_channels=4", "--model", "width=8", "--model", "depth=1",
                "--crop", "32", "--checkpoint", str(out / "ck1.pt"), *common])
    train.main(["--id", "dense-d64", "--family", "dense", "--model", "latent_dim=64", "--model", "width=8", "--model", "depth=1",
                "--crop", "64", "--checkpoint", str(out / "ck2.pt"), *common])
    pca.main(["--data", str(image_folder), "--out", str(out), "--val-every", "4"])
    return out


@pytest.fixture(scope="session")
def app_weights(tmp_path_factory) -> Path:
    """The app's test models (app_models.APP_MODELS), trained once for the session."""
    from app_models import make_app_weights

    return make_app_weights(tmp_path_factory.mktemp("app"))


@pytest.fixture
def use_weights(tiny_weights, monkeypatch) -> Path:
    monkeypatch.setenv("AUTOENCODER_WEIGHTS", str(tiny_weights))
    return tiny_weights


needs_shared = pytest.mark.skipif(not (SHARED_DATA / "kodak").is_dir(),
                                  reason="needs ../shared/data (the Kodak and training photos), absent in this checkout")


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB image (compresses like a photo, not like noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([np.sin(xx / rng.uniform(5, 20) + c) * np.cos(yy / rng.uniform(5, 20)) for c in range(3)], -1)
    return np.clip(base * 100 + 128 + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


def numpy_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of two uint8 images in plain numpy: an expectation independent of autoencoder.metrics."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2) / 255.0**2
    return float(10 * np.log10(1 / mse))
