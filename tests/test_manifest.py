"""The manifest entry (autoencoder/manifest.py): read and written in one place, typed, the shipped
manifest unchanged byte for byte by a rewrite, config ranges declared on the config fields, and
scores kept under their dataset's name."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from autoencoder import evaluate, manifest, models
from autoencoder.manifest import REFERENCE_DATASET, DatasetScores, ModelEntry
from conftest import REPO


@pytest.fixture
def entry(tiny_weights) -> dict:
    """A valid entry as the manifest holds it (the tiny conv model's)."""
    return manifest.model_info("conv-c4", tiny_weights).to_json()


def test_every_shipped_entry_rewritten_by_the_writer_leaves_the_manifest_byte_identical(tmp_path):
    shipped = REPO / "weights" / manifest.MANIFEST_NAME
    shutil.copy(shipped, tmp_path / manifest.MANIFEST_NAME)
    entries, refused = manifest.checked_entries(tmp_path)
    assert refused == [] and len(entries) == len(manifest.read_manifest(tmp_path)["models"])
    for read in entries:  # each through the writer (lock, read, order, atomic replace)
        assert manifest.update_entry(read.id, lambda e: e, tmp_path) == read
    assert (tmp_path / manifest.MANIFEST_NAME).read_bytes() == shipped.read_bytes()


def test_every_config_field_declares_what_a_manifest_may_set_it_to():
    """A field added without models.ranged / models.one_of fails here, not as a refusal at load."""
    for family in models.MODEL_FAMILIES.values():
        fields = {f.name for f in dataclasses.fields(family.config)}
        assert set(manifest.config_bounds(family.config)) == fields, family.name


def test_a_config_field_without_a_range_refuses_the_entry_in_one_line(entry, monkeypatch):
    @dataclasses.dataclass
    class Unranged(models.ConvConfig):
        colour: int = 0  # no range: the family's models cannot be checked

    toy = models.Family("conv", models.ConvAutoencoder, Unranged, "conv", "#000000", "circle", "latent_channels")
    monkeypatch.setitem(models.MODEL_FAMILIES, "conv", toy)
    with pytest.raises(manifest.WeightsError, match="'conv-c4': config colour has no range"):
        ModelEntry.from_json({**entry, "config": {**entry["config"], "colour": 3}})


def test_an_entry_reads_and_writes_back_with_fields_this_version_does_not_know(entry):
    entry = {**entry, "note": "kept", "training": {**entry["training"], "gpu": "none"}}
    read = ModelEntry.from_json(entry)
    assert read.other == {"note": "kept"} and read.training.other == {"gpu": "none"}
    assert read.to_json() == entry and list(read.to_json()) == list(entry)


@pytest.mark.parametrize("change, words", [
    ({"training": {"steps": 2}}, "its training record has no 'command'"),
    ({"parameters": "many"}, "its parameters must be an integer, got 'many'"),
    ({"kodak_metrics": 3}, "its kodak_metrics must be a JSON object, got int"),
    ({"bpp_kodak": -1}, "its bpp_kodak must be a number ≥ 0, got -1"),
    ({"denoising_kodak_sigma15": []}, "its denoising_kodak_sigma15 must be a JSON object, got list"),
])
def test_a_malformed_record_or_score_refuses_the_entry_in_one_line(entry, change, words):
    with pytest.raises(manifest.WeightsError) as refused:
        ModelEntry.from_json({**entry, **change})
    assert str(refused.value) == f"manifest entry 'conv-c4': {words}"


def test_scores_are_stored_under_any_dataset_s_name_and_read_back_there(entry):
    read = ModelEntry.from_json(entry)
    scored = read.scored("holiday snaps", metrics={"images": 3, "psnr": 30.0}, rate=0.5)
    scored = scored.scored("holiday snaps", denoising={"15": {"images": 3}}).scored(REFERENCE_DATASET, rate=0.25)
    written = scored.to_json()
    assert written["holiday snaps_metrics"] == {"images": 3, "psnr": 30.0} and written["bpp_holiday snaps"] == 0.5
    assert written["denoising_holiday snaps_sigma15"] == {"images": 3}
    again = ModelEntry.from_json(written)
    assert again == scored and again.scores_on("holiday snaps") == DatasetScores({"images": 3, "psnr": 30.0}, 0.5,
                                                                                 {"15": {"images": 3}})
    assert again.reference_rate == 0.25 and again.scores_on("elsewhere") == DatasetScores()


def test_a_folder_whose_score_keys_would_read_as_another_s_is_refused_before_eval_runs(use_weights, tmp_path, capsys):
    assert manifest.dataset_problem("kodak") is None and manifest.dataset_problem("kodak_held_out") is None
    assert "'bpp_x_metrics' would read as another dataset's" in manifest.dataset_problem("x_metrics")
    (tmp_path / "x_metrics").mkdir()
    with pytest.raises(SystemExit) as stopped:
        evaluate.main(["--data", str(tmp_path / "x_metrics"), "--update-manifest"])
    assert stopped.value.code == 2 and "would read as another dataset's" in capsys.readouterr().err
    with pytest.raises(ValueError, match="would read as another dataset's"):
        manifest.model_info("conv-c4").scored("x_metrics", rate=1.0)
