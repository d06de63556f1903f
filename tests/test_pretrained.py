"""The weights contract: manifest ↔ files ↔ registry, sha256 checks, no pickle."""

import dataclasses
import shutil

import pytest
import torch

import autoencoder as ae
from autoencoder import manifest, pretrained, train
from autoencoder.manifest import ModelEntry
from autoencoder.models import ConvAutoencoder
from conftest import REPO

SHIPPED = manifest.weights_dir()


def shipped_entries() -> list[ModelEntry]:
    """Every entry of the shipped manifest (a refused one fails here, naming why)."""
    if not (SHIPPED / "manifest.json").exists():
        return []
    entries, refused = manifest.checked_entries(SHIPPED)
    assert refused == []
    return entries


def test_api_on_tiny_weights(use_weights):
    assert ae.list_models() == ["conv-c4", "dense-d64"]  # conv first, then dense
    info = ae.model_info("conv-c4")
    assert info.family == "conv" and info.size == info.bottleneck == 4 and info.ratio == 48
    assert ae.model_info("dense-d64").size == 64
    model = ae.load_pretrained("conv-c4")
    assert isinstance(model, ConvAutoencoder) and not model.training
    assert not any(p.requires_grad for p in model.parameters())
    x = torch.rand(1, 3, 21, 34)
    assert ae.reconstruct(model, x).shape == x.shape
    with pytest.raises(KeyError, match="available"):
        ae.model_info("nope")


def test_training_record_is_complete(use_weights):
    record = ae.model_info("conv-c4").training
    assert record.steps == 2 and record.command.startswith("python -m autoencoder train") and record.other == {}
    assert record.validation_psnr[0][0] == 0 and record.wall_time_s >= 0 and record.torch_version == torch.__version__


def test_changed_file_is_refused(tiny_weights, tmp_path):
    folder = tmp_path / "w"
    shutil.copytree(tiny_weights, folder)
    path = folder / "conv-c4.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ae.WeightsError, match="does not match the manifest"):
        ae.load_pretrained("conv-c4", folder)


def test_corrupt_file_with_matching_hash_is_refused_cleanly(tiny_weights, tmp_path):
    folder = tmp_path / "w"
    shutil.copytree(tiny_weights, folder)
    (folder / "conv-c4.safetensors").write_bytes(b"\x00garbage")
    sha256 = pretrained.sha256_of(folder / "conv-c4.safetensors")
    manifest.update_entry("conv-c4", lambda e: dataclasses.replace(e, sha256=sha256), folder)
    with pytest.raises(ae.WeightsError, match="cannot read weights"):
        ae.load_pretrained("conv-c4", folder)


def test_missing_file_and_broken_manifest(tiny_weights, tmp_path):
    folder = tmp_path / "w"
    shutil.copytree(tiny_weights, folder)
    (folder / "dense-d64.safetensors").unlink()
    with pytest.raises(ae.WeightsError, match="missing"):
        ae.load_pretrained("dense-d64", folder)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(ae.WeightsError, match="not valid JSON"):
        ae.list_models(folder)


def test_loading_never_unpickles_and_a_pickle_file_is_refused(tiny_weights, tmp_path, monkeypatch):
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used to load weights")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    model = ae.load_pretrained("conv-c4", tiny_weights)  # works with every unpickler disabled
    assert model.config.latent_channels == 4
    monkeypatch.undo()
    folder = tmp_path / "w"
    shutil.copytree(tiny_weights, folder)
    path = folder / "conv-c4.safetensors"
    torch.save(model.state_dict(), path)  # a pickle (torch's zip format) under the right name and a matching sha256
    manifest.update_entry("conv-c4", lambda e: dataclasses.replace(e, sha256=pretrained.sha256_of(path)), folder)
    with pytest.raises(ae.WeightsError, match="cannot read weights"):
        ae.load_pretrained("conv-c4", folder)


@pytest.mark.skipif(not shipped_entries(), reason="no shipped weights/manifest.json in this checkout")
def test_shipped_manifest_integrity():
    entries = shipped_entries()  # ids are unique: a repeated one is refused
    for entry in entries:
        assert entry.parameters is not None and entry.training is not None, entry.id
        path = SHIPPED / entry.file
        assert path.exists() and pretrained.sha256_of(path) == entry.sha256, entry.id
        assert path.stat().st_size <= 25_000_000, f"{entry.id} is over the 25 MB budget"
        model = ae.load_pretrained(entry.id)
        assert sum(p.numel() for p in model.parameters()) == entry.parameters
        assert entry.ratio == pytest.approx(ae.models.values_ratio(model))
    pca = manifest.read_manifest(SHIPPED).get("block_pca")
    assert pca and pretrained.sha256_of(SHIPPED / pca["file"]) == pca["sha256"]


@pytest.mark.skipif(not shipped_entries(), reason="no shipped weights/manifest.json in this checkout")
def test_every_shipped_model_was_trained_by_its_config():
    """configs/<id>.json reproduces weights/<id>.safetensors: the manifest records those very options."""
    recorded = {e.id: e.training for e in shipped_entries()}
    configs = sorted((REPO / "configs").glob("*.json"))
    assert {c.stem for c in configs} == set(recorded)
    for path in configs:
        options = train.config_options(path)
        ran = dict(recorded[path.stem].options)
        assert f"--config configs/{path.name}" in recorded[path.stem].command
        for key in options.keys() - ran.keys():  # options added since, left at defaults that do what was done then
            assert options.pop(key) == train.DEFAULTS[key], (path.name, key)
        if options["precision"] == "auto":  # resolved per machine; the record says which it became
            assert ran.pop("precision") in ("bfloat16", "float32")
            options.pop("precision")
        assert ran == options, path.name


def _add_entries(folder, worker, count, start):
    start.wait()  # all workers begin together, so their read-change-write cycles overlap
    for i in range(count):
        manifest.write_entry(ModelEntry(f"m{worker}-{i}", "conv", {}, "m.safetensors", "0" * 64, 1.0), folder)


def test_side_by_side_trainings_never_lose_manifest_entries(tmp_path):
    """train_all.sh runs two trainings at once; each rewrites the manifest when it finishes."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    start = context.Barrier(3)
    workers = [context.Process(target=_add_entries, args=(tmp_path, w, 100, start)) for w in range(3)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
    assert [p.exitcode for p in workers] == [0, 0, 0]
    ids = manifest.list_models(tmp_path)
    assert len(ids) == len(set(ids)) == 300


def test_a_config_no_model_can_be_built_from_is_refused_not_raised(tiny_weights):
    """Each field in its range, the combination impossible (a dense side that is no whole number
    of patches): building the model raised ValueError past checked_entries, ending the page."""
    entry = manifest.model_info("dense-d64", tiny_weights).to_json()
    entry["config"]["image_size"] = 12
    with pytest.raises(ae.WeightsError, match="builds no model"):
        ModelEntry.from_json(entry)


def test_every_loaded_model_passes_the_finite_output_probe(tiny_weights):
    for model_id in manifest.list_models(tiny_weights):
        model = ae.load_pretrained(model_id, tiny_weights)
        assert pretrained.probe_is_finite(model)
        with torch.no_grad():
            next(p for p in model.parameters() if p.ndim > 1).fill_(3e38)
        assert not pretrained.probe_is_finite(model), model_id
