"""The app's test models: two tiny conv models (so the bottleneck slider has somewhere to
move), a tiny dense one, a tiny codec and a tiny denoiser fine-tuned from conv-c4, made by the real `train`
command in a temporary folder, so the app's tests depend neither on the shipped weights nor
on ../shared."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import write_images

# id → train flags; small widths keep each run well under a second on one CPU thread.
APP_MODELS = {
    "conv-c4": ["--model", "latent_channels=4", "--model", "width=8", "--model", "depth=1", "--crop", "32"],
    "conv-c16": ["--model", "latent_channels=16", "--model", "width=8", "--model", "depth=1", "--crop", "32"],
    "dense-d64": ["--family", "dense", "--model", "latent_dim=64", "--model", "width=8", "--model", "depth=1", "--crop", "64"],
    "codec-c4-hp": ["--family", "codec", "--init-from", "conv-c4", "--lmbda", "0.01", "--model", "hyper_channels=4",
                    "--model", "hyper_width=8", "--crop", "64"],
    "denoise-c4": ["--init-from", "conv-c4", "--noise-sigma", "0.2", "--crop", "32"],
}


def make_app_weights(folder: Path) -> Path:
    """Train every APP_MODELS entry for 3 steps into folder/weights; returns that folder."""
    from autoencoder import train

    photos, out = write_images(folder / "photos", 3), folder / "weights"
    # No block-PCA start (it samples thousands of crops) and no validation split: speed only.
    config = folder / "tiny.json"
    config.write_text(json.dumps({"pca_init": False, "val_every": 0, "scales": [1.0], "warmup_steps": 1}))
    for model_id, flags in APP_MODELS.items():
        train.main(["--config", str(config), "--id", model_id, "--data", str(photos), "--steps", "3",
                    "--batch-size", "2", "--out", str(out), "--checkpoint", str(folder / f"{model_id}.pt"),
                    "--threads", "1", "--no-progress", *flags])
    return out
