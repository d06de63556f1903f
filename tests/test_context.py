"""The checkerboard context prior: a hyperprior whose non-anchor symbols are coded with tables
corrected from the decoded anchors, by integer networks. On a tiny hyperprior codec and a
checkerboard model fine-tuned from it by the real `train` command, transform frozen (no
../shared, no shipped weights needed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO
from safetensors.torch import load_file
from test_codec import DECODE_ELSEWHERE, _restream, picture, symbols_digest

from autoencoder import aez, codec, models, train
from autoencoder.models import pad_to_multiple


@pytest.fixture(scope="module")
def context_weights(tiny_weights, image_folder, tmp_path_factory) -> Path:
    """tiny_weights plus a hyperprior codec (3 steps from conv-c4) and a checkerboard model
    fine-tuned from it (5 steps, transform frozen, a large learning rate so that the context's
    corrections, which start at zero, are far from zero)."""
    out = tmp_path_factory.mktemp("context-weights")
    for f in tiny_weights.iterdir():
        shutil.copy(f, out / f.name)
    common = ["--lmbda", "0.01", "--data", str(image_folder), "--batch-size", "2", "--crop", "64",
              "--val-every", "4", "--out", str(out), "--no-progress", "--threads", "1"]
    train.main(["--id", "codec-hp", "--family", "codec", "--init-from", "conv-c4", "--model", "prior=hyperprior",
                "--model", "hyper_channels=4", "--model", "hyper_width=8", "--steps", "3",
                "--checkpoint", str(out / "hp.pt"), *common])
    config = out / "codec-cb.json"
    config.write_text(json.dumps({"freeze_transform": True, "warmup_steps": 1}))
    train.main(["--config", str(config), "--id", "codec-cb", "--family", "codec", "--init-from", "codec-hp",
                "--model", "prior=checkerboard", "--steps", "5", "--lr", "0.01",
                "--checkpoint", str(out / "cb.pt"), *common])
    return out


@pytest.fixture
def context_codecs(context_weights, monkeypatch) -> Path:
    monkeypatch.setenv("AUTOENCODER_WEIGHTS", str(context_weights))
    return context_weights


def test_fine_tuning_with_the_transform_frozen_keeps_the_transform_and_gains(context_codecs):
    hp = load_file(context_codecs / "codec-hp.safetensors")
    cb = load_file(context_codecs / "codec-cb.safetensors")
    kept = [k for k in hp if k.startswith("transform.") or k == "log_gain"]
    assert kept and all(torch.equal(hp[k], cb[k]) for k in kept)
    assert any(not torch.equal(hp[k], cb[k]) for k in hp if k.startswith("hyper_"))  # the entropy model learned
    entry = json.loads((context_codecs / "manifest.json").read_text())
    assert next(e for e in entry["models"] if e["id"] == "codec-cb")["prior"] == "checkerboard"


def test_the_model_a_fine_tune_refines_leaves_the_ladder_and_the_slider_but_not_the_manifest(context_codecs):
    from autoencoder import manifest, rate
    from explorer import report

    entries = manifest.model_entries()
    assert manifest.model_info("codec-cb").refines == "codec-hp" and manifest.model_info("codec-hp").refines is None
    assert manifest.superseded(entries) == {"codec-hp": "codec-cb"}
    assert rate.ladder() == ["codec-cb"]
    assert rate.ladder(["codec-hp"]) == ["codec-hp"]  # without the model that refines it, it is the ladder
    cards = report.model_cards()
    assert [c.id for c in report.family_cards(cards, "codec")] == ["codec-cb"]
    assert next(c for c in cards if c.id == "codec-hp").superseded_by == "codec-cb"  # the side pickers still offer it
    codec.load_codec("codec-hp")  # and its files still decode


def test_an_untrained_context_codes_exactly_the_hyperpriors_symbols(context_codecs):
    hp, _ = codec.load_codec("codec-hp")
    cb = hp.with_prior("checkerboard")
    cb.prepare_for_coding()
    for step in (1.0, 1.25):
        a, b = codec.symbols_of(hp, picture(), step), codec.symbols_of(cb, picture(), step)
        assert torch.equal(a.y, b.y) and torch.equal(a.scale_index, b.scale_index) and torch.equal(a.mean, b.mean)


def test_the_context_corrects_non_anchors_only(context_codecs):
    model, _ = codec.load_codec("codec-cb")
    u = model.encode(pad_to_multiple(picture(), 8)).float()[0]
    side = model.side_information(u)
    s = model.symbols(u, side, aez.STEP_ONE)
    anchor = models.anchors(*u.shape[-2:])
    hyper_index = model.gaussian.scale_index(side.scale, aez.STEP_ONE)
    assert torch.equal(s.mean[:, anchor], side.mean[:, anchor]) and torch.equal(s.scale_index[:, anchor], hyper_index[:, anchor])
    assert (s.mean[:, ~anchor] != side.mean[:, ~anchor]).float().mean() > 0.5
    assert (s.scale_index[:, ~anchor] != hyper_index[:, ~anchor]).any()


@pytest.mark.parametrize("step", [1.0, 0.75, 1.25])  # exact at aez's step precision
def test_a_fresh_process_with_other_threads_decodes_the_encoders_symbols(context_codecs, tmp_path, step):
    torch.set_num_threads(1)
    model, sha = codec.load_codec("codec-cb")
    result = codec.compress(model, picture(), "codec-cb", sha, step=step)
    file = tmp_path / "x.aez"
    file.write_bytes(result.data)
    assert aez.step_value(aez.unpack(result.data).step) == step and len(result.stream_bytes) == 3
    env = {"AUTOENCODER_WEIGHTS": str(context_codecs), "PYTHONPATH": f"{REPO}:{REPO / 'tests'}", "PATH": "/usr/bin:/bin"}
    decoded = subprocess.run([sys.executable, "-c", "import torch; torch.set_num_threads(2)\n" + DECODE_ELSEWHERE,
                              str(file)], check=True, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert decoded.stdout.strip() == symbols_digest(codec.symbols_of(model, picture(), step))
    assert torch.equal(codec.decompress(result.data).image, result.image)


def test_a_coarser_step_costs_fewer_bytes(context_codecs):
    model, sha = codec.load_codec("codec-cb")
    sizes = [len(codec.compress(model, picture(), "codec-cb", sha, step=step).data) for step in (0.75, 1.0, 1.25)]
    assert sizes[0] > sizes[1] > sizes[2]


def test_damage_to_either_latent_stream_is_refused_by_name(context_codecs):
    model, sha = codec.load_codec("codec-cb")
    f = aez.unpack(codec.compress(model, picture(), "codec-cb", sha).data)
    z, anchors, others = f.streams
    cases = [([z, anchors + b"\0\0\0\0", others], "appended bytes"),
             ([z, anchors[:4] + bytes([anchors[4] ^ 1]) + anchors[5:], others], "latent anchors stream"),
             ([z, anchors, others[:-4]], "latent non-anchors stream"),
             ([z, anchors, others[:4] + bytes([others[4] ^ 1]) + others[5:]], "latent non-anchors stream")]
    for streams, words in cases:
        with pytest.raises(aez.AezError, match=words):
            codec.decompress(_restream(f, streams))


def test_bits_map_accounts_for_the_coded_bits(context_codecs):
    """As for the other priors: the map sums to the table bits, which the range coder spends to
    within 2 % plus a few 32-bit words per stream (sides multiples of 32: no symbol in padding)."""
    model, sha = codec.load_codec("codec-cb")
    for step in (1.0, 1.25):
        result = codec.compress(model, picture(64, 96), "codec-cb", sha, step=step)
        mapped, coded = float(result.bits_map.sum()), 8 * sum(result.stream_bytes)
        assert abs(coded - mapped) <= 0.02 * mapped + 64 * len(result.stream_bytes)


def test_context_in_tiles_gives_exactly_the_whole_images_integers(context_codecs, monkeypatch):
    model, _ = codec.load_codec("codec-cb")
    u = model.encode(pad_to_multiple(picture(), 8)).float()[0]
    side = model.side_information(u)
    y = model.symbols(u, side, aez.STEP_ONE).y
    whole = model.context_parameters(y, side, 5000)
    for tile in (1, 2, 3):
        tiled = model.context_parameters(y, side, 5000, tile=tile)
        assert torch.equal(tiled[0], whole[0]) and torch.equal(tiled[1], whole[1]), tile
    monkeypatch.setattr(models, "CONTEXT_MARGIN", models.CONTEXT_MARGIN - 1)  # no wider than it must be
    assert not torch.equal(model.context_parameters(y, side, 5000, tile=1)[0], whole[0])


def test_a_prior_without_a_place_for_a_models_modules_is_refused(context_codecs):
    model, _ = codec.load_codec("codec-cb")
    with pytest.raises(ValueError, match="no place for"):
        model.with_prior("hyperprior")


def test_freezing_the_transform_is_refused_for_a_model_without_an_entropy_model(tiny_weights, image_folder, tmp_path):
    config = tmp_path / "conv.json"
    config.write_text(json.dumps({"freeze_transform": True}))
    with pytest.raises(SystemExit, match="entropy model only"):
        train.main(["--config", str(config), "--id", "conv-x", "--init-from", "conv-c4", "--data", str(image_folder),
                    "--steps", "1", "--crop", "32", "--out", str(tiny_weights), "--no-progress", "--threads", "1",
                    "--checkpoint", str(tmp_path / "x.pt")])


def test_the_search_loss_counts_the_bits_under_the_context(context_codecs, monkeypatch):
    """rounded_bits (what --effort max minimises) and latent_bits (the estimate beside every file)
    agree on a checkerboard model: the search sees the context's tables, not the hyperprior's."""
    model, _ = codec.load_codec("codec-cb")
    u = model.encode(pad_to_multiple(picture(), 8)).float()
    with torch.no_grad():
        for step in (1.0, 1.25):
            searched, latent = model.rounded_bits(u, step, torch.round)
            rounded, estimated = model.latent_bits(u, noisy=False, step=step)
            assert float(searched) == pytest.approx(float(estimated), rel=1e-5) and torch.allclose(latent, rounded)
    monkeypatch.setattr(models.CheckerboardCodec, "conditional_parameters", models.HyperpriorCodec.conditional_parameters)
    with torch.no_grad():
        hyper_only = model.rounded_bits(u, 1.25, torch.round)[0]
    assert abs(float(hyper_only) - float(searched)) > 1.0  # the context changes the bits (step 1.25, as the last above)
