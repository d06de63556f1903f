"""A family owns its behaviour (autoencoder.models.MODEL_FAMILIES): a new one is a model class, a
config and one registry entry, and training, the manifest, loading, the pipeline and the app's
cards take it without a change anywhere else."""

from __future__ import annotations

import json

from autoencoder import manifest, models, pipeline, pretrained, train
from autoencoder.models import ConvAutoencoder, ConvConfig, Family
from conftest import photo
from explorer import report


class ToyAutoencoder(ConvAutoencoder):
    """A family the code has never heard of (it computes as conv does)."""
    family = "toy"


TOY = Family("toy", ToyAutoencoder, ConvConfig, "toy (a test's)", "#123456", "square", "latent_channels",
             image_to_image=True)


def test_a_new_family_needs_only_its_registry_entry(tmp_path, monkeypatch, image_folder):
    monkeypatch.setitem(models.MODEL_FAMILIES, "toy", TOY)
    out = tmp_path / "weights"
    train.main(["--id", "toy-c4", "--family", "toy", "--model", "latent_channels=4", "--model", "width=8",
                "--model", "depth=1", "--crop", "32", "--steps", "2", "--batch-size", "2", "--val-every", "4",
                "--data", str(image_folder), "--out", str(out), "--checkpoint", str(tmp_path / "ck.pt"),
                "--no-progress", "--threads", "1"])
    entry = manifest.model_info("toy-c4", out)
    assert entry.family == "toy" and entry.size == 4 and entry.ratio == 48
    model = pretrained.load_pretrained("toy-c4", out)
    assert isinstance(model, ToyAutoencoder)
    analysis = pipeline.analyse(model, "toy-c4", photo(48, 64))
    assert analysis.reconstruction.shape == (48, 64, 3) and analysis.file is None
    assert analysis.num_bytes == analysis.quantized.num_bytes  # bytes of the 8-bit latent, not of a file
    card = report.model_card(entry)
    assert card.kind is TOY and card.any_size and card.latent_text == "8×8×4 latent per 64×64 px"
    assert card.slider_label() == "toy-c4 · 48×" and report.family_cards([card], "toy") == [card]
    listed = json.loads((out / manifest.MANIFEST_NAME).read_text())["models"]
    assert [e["id"] for e in listed] == ["toy-c4"]
    assert "lmbda" not in listed[0] and "prior" not in listed[0]  # a codec's fields are the codec family's


def test_every_family_describes_its_shipped_models_as_before():
    """The registry's words for each shipped model (the slider's labels) from the manifest alone."""
    words = {e.id: report.model_card(e).latent_text for e in manifest.model_entries()}
    assert words["conv-c16"] == "8×8×16 latent per 64×64 px"
    assert words["dense-d256"] == "256-value code per 64×64 px"
    assert words["codec-c16-hp"].startswith("8×8×16 latent per 64×64 px, entropy-coded (mean–scale hyperprior, λ = ")
    codec = manifest.model_info("codec-c16-hp")
    assert report.model_card(codec).nominal_bpp == codec.reference_rate == \
        codec.scores_on(manifest.REFERENCE_DATASET).rate > 0
