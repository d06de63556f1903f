"""The load test command (`python -m tools.load_test`) in its short CI form: the presenter's
page and the gallery computed ahead, then two real Chromium sessions for 20 s of the room mix
(gallery taps, slider moves, uploads) against `streamlit run app.py` on tiny weights. Its
latency and memory targets are checked by the command itself (--check), not here: a loaded CI
machine would make a timed test flaky. Here: it runs, every kind of interaction happens and
completes, nothing errs, and the figures it reports are there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_two_sessions_of_the_room_mix_for_twenty_seconds_complete_every_interaction(app_weights, tmp_path,
                                                                                    monkeypatch):
    from tools import load_test

    if not load_test.CHROMIUM.exists():
        pytest.skip(f"no Chromium at {load_test.CHROMIUM}: install it with `apt-get install -y chromium`")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    monkeypatch.setenv("AUTOENCODER_WEIGHTS", str(app_weights))  # conftest's tiny models
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    result = load_test.main(["--sessions", "2", "--seconds", "20", "--work", str(tmp_path / "load"),
                             "--json", str(tmp_path / "load.json")])
    assert result["errors"] == []
    assert result["gallery_ahead"]["results"] > 0 and result["gallery_ahead"]["mb"] > 0
    latency = result["latency_s"]
    assert latency["first page"]["n"] == 2
    # session 0 starts at the mix's first step, session 1 at its third: an upload comes within two actions
    assert latency["gallery"]["n"] >= 2 and latency["slider"]["n"] >= 2 and latency["upload"]["n"] >= 1
    assert all(0 < figures["p50"] <= figures["p95"] and 0 < figures["received_p50"] <= figures["p50"]
               for figures in latency.values())
    memory, cpu = result["rss_mb"], result["cpu_time"]
    assert 0 < memory["start"] <= memory["max"] and memory["after_close"] > 0
    assert cpu["server_s"] > 0 and cpu["browsers_s"] > 0 and 0 < cpu["share"]["server"] < 1
    assert json.loads(Path(tmp_path / "load.json").read_text())["interactions"] == result["interactions"]
