"""The load test command (`python -m tools.load_test`) in its short CI form: two real
Chromium sessions for 20 s against `streamlit run app.py` on tiny weights. Its latency and
memory targets are checked by the command itself (--check), not here: a loaded CI machine
would make a timed test flaky. Here: it runs, every interaction completes, nothing errs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app_models import make_app_weights

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_two_sessions_for_twenty_seconds_complete_every_interaction_without_errors(tmp_path, monkeypatch):
    from tools import load_test

    if not load_test.CHROMIUM.exists():
        pytest.skip(f"no Chromium at {load_test.CHROMIUM}: install it with `apt-get install -y chromium`")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    monkeypatch.setenv("AUTOENCODER_WEIGHTS", str(make_app_weights(tmp_path)))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    result = load_test.main(["--sessions", "2", "--seconds", "20", "--work", str(tmp_path / "load"),
                             "--json", str(tmp_path / "load.json")])
    assert result["errors"] == []
    latency = result["latency_s"]
    assert latency["first page"]["n"] == 2
    assert latency["upload"]["n"] >= 2 and latency["slider"]["n"] >= 2  # each session uploaded and slid
    memory = result["rss_mb"]
    assert 0 < memory["start"] <= memory["max"] and memory["after_close"] > 0
    assert json.loads(Path(tmp_path / "load.json").read_text())["interactions"] == result["interactions"]
