"""The app's caches (explorer.state): one spelling of a model's identity in every key, and the
gallery × every model computed ahead, in the order a room asks, so that gallery and slider
moves run no model."""

from __future__ import annotations

import ast
import gc
from pathlib import Path

import pytest
import torch
from conftest import REPO, photo
from streamlit.testing.v1 import AppTest

from autoencoder import aez, codec
from autoencoder.data import to_uint8
from explorer import report, state
from explorer.results import Background

APP = str(REPO / "app.py")


@pytest.fixture
def weights(app_weights, monkeypatch) -> Path:  # app_weights: conftest's
    monkeypatch.setenv("AUTOENCODER_WEIGHTS", str(app_weights))
    return app_weights


def card(model_id: str) -> report.ModelCard:
    return next(c for c in report.model_cards() if c.id == model_id)


def test_a_model_ref_names_the_folder_the_id_and_the_whole_sha256(weights, tmp_path):
    conv = card("conv-c4")
    ref = state.ModelRef.of(conv)
    assert (ref.folder, ref.id, ref.sha256) == (str(weights), "conv-c4", conv.sha256) and len(ref.sha256) == 64
    assert str(ref) == f"{weights}/conv-c4@{conv.sha256}"
    assert state.ModelRef.of(conv, tmp_path) != ref  # the same file elsewhere is checked and loaded anew
    assert state.analysis_key(conv, "k") == f"{ref}/k"
    model = state.load_model(conv)
    assert state.MODELS.get(str(ref), lambda: None) is model


def attribute_uses(tree: ast.AST, name: str) -> list[int]:
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == name]


def test_no_module_of_the_app_spells_a_model_identity_itself():
    """Keys name a model through ModelRef alone: nobody else reads a card's sha256 (the old
    spellings were `card.id@sha256[:16]`, `(model_id, sha256)` and model_key). The card gets it
    from its manifest entry in report.model_card."""
    allowed = {"state.py": (ast.ClassDef, "ModelRef"), "report.py": (ast.FunctionDef, "model_card")}
    for path in (REPO / "explorer").rglob("*.py"):
        tree = ast.parse(path.read_text())
        if path.name in allowed:
            kind, name = allowed[path.name]
            owner = next(n for n in tree.body if isinstance(n, kind) and n.name == name)
            outside = set(attribute_uses(tree, "sha256")) - set(attribute_uses(owner, "sha256"))
            assert not outside, f"{path.name} reads sha256 outside {name} at lines {sorted(outside)}"
        else:
            assert not attribute_uses(tree, "sha256"), f"{path.relative_to(REPO)} reads a sha256: use ModelRef"
        assert "model_key" not in path.read_text(), path


def test_the_gallery_is_computed_in_the_order_a_room_asks(weights):
    cards = report.model_cards()
    coffee = [i for i in state.gallery_inputs() if i.photo == "Coffee"]
    photo, centre = sorted(coffee, key=lambda i: not i.any_size)
    assert photo.image.shape == (400, 600, 3) and centre.image.shape == (64, 64, 3)
    keys = [key for _, key, _ in state.gallery_tasks(cards, tuple(coffee))]
    ref = {c.id: str(state.ModelRef.of(c)) for c in cards}
    assert keys == [f"{photo.key}/original png512", f"{centre.key}/original png512",
                    f"{ref['conv-c16']}/{photo.key}",  # the slider's default first, then outwards
                    f"{ref['conv-c4']}/{photo.key}",
                    f"{ref['dense-d64']}/{centre.key}",  # families as the page lists them
                    f"{ref['codec-c4-hp']}/{photo.key}",
                    f"{ref['conv-c16']}/{centre.key}",  # last, the notebook view
                    f"{ref['conv-c4']}/{centre.key}",
                    f"{ref['codec-c4-hp']}/{centre.key}"]


def test_a_gallery_photo_computed_ahead_is_shown_without_running_a_model(weights, monkeypatch):
    cards = report.model_cards()
    coffee = tuple(i for i in state.gallery_inputs() if i.photo == "Coffee")
    work = Background(state.gallery_tasks(cards, coffee)).start()
    assert work.finished.wait(120) and work.done == 9 and work.failed == 0

    def no_model_run(*args, **kwargs):
        raise AssertionError("a model ran for a photo computed ahead")

    monkeypatch.setattr(state.pipeline, "analyse", no_model_run)
    for c in cards:
        for i in coffee:
            if c.any_size or not i.any_size:  # a dense model sees only the centre
                shown = state.shown_analysis(c, i.key, i.image)
                assert shown.analysis.model_id == c.id and shown.analysis.original is i.image
                assert state.GALLERY.ready(state.analysis_key(c, i.key))
    assert state.analyses_for(coffee[0].key) is state.GALLERY
    assert state.analyses_for("an upload") is state.ANALYSES


@pytest.mark.slow
def test_after_the_first_page_gallery_picks_and_slider_moves_run_no_model(weights, monkeypatch):
    state.start_gallery(report.model_cards()).stop()  # as when another folder was used in between (test_app)
    at = AppTest.from_file(APP, default_timeout=90).run()
    assert not at.exception
    work = state.start_gallery(report.model_cards())  # the one the first page started again
    assert work.finished.wait(300) and work.failed == 0 and not work.full
    assert gc.get_freeze_count() > 0  # the long-lived heap is out of the per-run collection's way
    runs, analyse = [], state.pipeline.analyse

    def recorded(model, model_id, image, **kwargs):  # recorded, not raised: the script thread would swallow it
        runs.append((model_id, image.shape))
        return analyse(model, model_id, image, **kwargs)

    monkeypatch.setattr(state.pipeline, "analyse", recorded)
    for i in range(len(state.GALLERY_PHOTOS)):
        at.button(key=f"gallery_{i}").click().run()
        assert not at.exception, [e.value for e in at.exception]
        at.select_slider(key="model_conv").set_value("conv-c4").run()
        at.select_slider(key="model_conv").set_value("conv-c16").run()
        assert not at.exception, [e.value for e in at.exception]
    at.toggle(key="notebook").set_value(True).run()
    at.radio(key="family").set_value("dense").run()
    assert not at.exception, [e.value for e in at.exception]
    assert runs == []


def test_the_rate_control_keeps_its_file_under_its_step_and_changes_no_model(weights, monkeypatch):
    codec_card, image = card("codec-c4-hp"), photo(96, 128)
    key = report.image_key(image)
    trained = state.shown_analysis(codec_card, key, image)
    model = state.load_model(codec_card)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    rungs = report.rate_ladder(report.model_cards())
    assert [c.id for c in rungs] == ["codec-c4-hp"]  # the codec models that code at any step only
    target = report.rate_target("size", 0.8 * trained.analysis.num_bytes / 1000, 96, 128)
    shown = state.rate_file(rungs, key, target, image)
    # The shared model is read, never changed: the same weights and buffers after the search.
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())
    assert 0.97 * target.num_bytes <= shown.analysis.num_bytes <= target.num_bytes and shown.note is None
    assert shown.step > 1 and shown.name == f"codec-c4-hp Δ{shown.step:.4g}"
    assert shown.key == state.result_key(state.ModelRef.of(codec_card), key, shown.step) != trained.key
    assert trained.key == state.analysis_key(codec_card, key) == state.result_key(state.ModelRef.of(codec_card), key)
    # What the page shows and offers is the file: it decodes to the picture, at its step.
    file = shown.analysis.file
    assert aez.unpack(file).step == aez.step_code(shown.step)
    assert (to_uint8(codec.decompress(file).image) == shown.analysis.reconstruction).all()
    assert state.download_bytes(shown) != state.download_bytes(trained)
    assert state.ready(codec_card, key, rungs, target)

    def no_search(*args, **kwargs):
        raise AssertionError("the rate search ran again for a file kept")

    monkeypatch.setattr(state.rate, "compress_to", no_search)
    assert state.rate_file(rungs, key, target, image) is shown
