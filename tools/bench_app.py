"""`python -m tools.bench_app` (from the repository root): how fast the app answers, measured on the server.

Streamlit's AppTest runs app.py in this process exactly as `streamlit run` does for a browser
session (same script, same caches), without the network and the browser's drawing. Each time
is one script run from a widget change to the last element sent, on a 1-megapixel photo (the
gallery's astronaut enlarged to 1024×1024). The visit: upload the photo; jump to the far end of
the slider (a model nobody has run on it: computed while the visitor waits); step back along
the slider one model at a time, pausing as a presenter does (the app computes the neighbours
in that pause); open All models; move the zoom and the slider with it open. Beside the visit,
each model's cold cost (pipeline.analyse alone, nothing cached). Targets (issue 15):
  * upload to complete page ≤ TARGET_UPLOAD_S;
  * slider to a model already used, or computed ahead, ≤ TARGET_CACHED_S;
  * a model used for the first time ≤ TARGET_FIRST_S;
  * with All models open, zoom and slider moves run no model: ≤ TARGET_CACHED_S × 4;
  * the process (app, all models, all caches) stays under TARGET_RSS_MB resident;
  * an autoencoder round trip ≤ TARGET_JPEG_RATIO × a JPEG round trip (Pillow, quality 75) of the
    same Kodak-sized photo, in the same run.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from autoencoder.baselines import pillow_roundtrip
from autoencoder.bench import kodak_sized_photo, peak_rss_mb, timed
from autoencoder.data import GALLERY, load_gallery_image, to_tensor, to_uint8
from autoencoder.hardware import cpu_name
from autoencoder.pipeline import analyse, roundtrip
from autoencoder.pretrained import load_pretrained
from explorer.report import family_cards, model_cards
from explorer.state import LANE

APP = Path(__file__).resolve().parent.parent / "app.py"
PHOTO_SIDE = 1024  # 1 megapixel
TARGET_UPLOAD_S = 2.0
TARGET_CACHED_S = 0.25
TARGET_FIRST_S = 1.5
TARGET_JPEG_RATIO = 3.0
TARGET_RSS_MB = 2500  # the app's server, every model loaded and compared (load_test checks the same)
GALLERY_WAIT_S = 900  # the gallery computed ahead takes ~1.5 min on 2 quiet cores
ROUNDTRIP_MODEL = "conv-c16"  # the slider's default: what a visitor sees first


def photo_png() -> bytes:
    image = Image.fromarray(load_gallery_image(GALLERY[0].name)).resize((PHOTO_SIDE, PHOTO_SIDE), Image.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _timed_run(at, change=None) -> float:
    if change is not None:
        change()
    start = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(f"the app failed: {at.exception[0].value}")
    return seconds


def bench_app(families: tuple[str, ...] = ("conv", "codec"), pause_s: float = 120) -> list[dict]:
    """Rows {action, model, seconds, target} of one scripted visit, in order. pause_s: the
    longest a presenter's pause waits for the app's prefetching to finish."""
    from streamlit.testing.v1 import (
        AppTest,  # Streamlit's test harness: only this command needs it
    )

    if not APP.exists():
        raise SystemExit(f"tools.bench_app needs the repository's app.py (not found at {APP})")
    rows = []

    def row(action: str, model: str, seconds: float, target: float | None) -> None:
        rows.append({"action": action, "model": model, "seconds": round(seconds, 3), "target": target})

    def move(family: str, model_id: str) -> float:
        return _timed_run(at, lambda: at.select_slider(key=f"model_{family}").set_value(model_id))

    at = AppTest.from_file(str(APP), default_timeout=600)
    row("first page (imports, gallery photo)", "", _timed_run(at), None)
    LANE.wait_idle(GALLERY_WAIT_S)  # the first page starts the gallery × every model: the visit begins after it
    at.file_uploader(key="upload").upload("photo-1mp.png", photo_png(), "image/png")
    row("upload a 1024×1024 PNG → complete page", at.select_slider(key="model_conv").value,
        _timed_run(at), TARGET_UPLOAD_S)
    cards = model_cards()
    for family in families:
        if family != families[0]:
            row("switch family (its middle model runs)", family,
                _timed_run(at, lambda: at.radio(key="family").set_value(family)), TARGET_FIRST_S)
        ids = [c.id for c in family_cards(cards, family)]
        LANE.wait_idle(pause_s)
        row("slider jump to the far end (not computed ahead)", ids[-1], move(family, ids[-1]), TARGET_FIRST_S)
        for model_id in reversed(ids[:-1]):
            LANE.wait_idle(pause_s)  # the presenter talks; the app runs the neighbours
            row("slider one step after a pause (computed ahead)", model_id, move(family, model_id), TARGET_CACHED_S)
        row("slider back to a model already used", ids[-1], move(family, ids[-1]), TARGET_CACHED_S)
    at.session_state["view"] = "All models"
    row("All models tab, first time (every model and codec ladder)", "", _timed_run(at), None)
    at.session_state["zoom_x"] = 30
    row("zoom moved with All models open", "", _timed_run(at), TARGET_CACHED_S * 4)
    slider_family = families[-1]
    first = family_cards(cards, slider_family)[0].id
    row("slider moved with All models open", first, move(slider_family, first), TARGET_CACHED_S * 4)
    return rows


def cold_costs(families: tuple[str, ...] = ("conv", "codec")) -> list[dict]:
    """Each model's first run on the 1-megapixel photo with nothing cached: load + pipeline.analyse
    (the model, its .aez file for codecs, every score), what a visitor waits for when the app
    could not compute it ahead."""
    photo = np.asarray(Image.open(io.BytesIO(photo_png())).convert("RGB"))
    rows = []
    for card in (c for c in model_cards() if c.family in families):
        start = time.perf_counter()
        analyse(load_pretrained(card.id), card.id, photo)
        seconds = time.perf_counter() - start
        rows.append({"action": "first use, nothing computed ahead", "model": card.id, "seconds": round(seconds, 3),
                     "target": TARGET_FIRST_S})
    return rows


def jpeg_ratio(photo: np.ndarray, repeats: int, timed) -> dict:
    """The slider's default model's 8-bit round trip against Pillow's JPEG round trip (q75) of
    the same photo, both timed here (median of `repeats`)."""
    model = load_pretrained(ROUNDTRIP_MODEL)
    x = to_tensor(photo)
    ae = timed(lambda: roundtrip(model, x, bits=8), repeats)
    jpeg = timed(lambda: pillow_roundtrip(photo, "jpeg", 75), repeats)
    return {"model": ROUNDTRIP_MODEL, "size": f"{photo.shape[1]}×{photo.shape[0]}", "autoencoder_s": round(ae, 4),
            "jpeg_s": round(jpeg, 4), "ratio": round(ae / jpeg, 1), "target": TARGET_JPEG_RATIO}


def report(rows: list[dict], ratio: dict) -> list[str]:
    failures = []
    print(f"{'what the visitor did':58} {'model':16} {'seconds':>8} {'target':>7}")
    for r in rows:
        target = f"≤ {r['target']:g}" if r["target"] else ""
        print(f"{r['action']:58} {r['model']:16} {r['seconds']:>8.3f} {target:>7}")
        if r["target"] and r["seconds"] > r["target"]:
            failures.append(f"{r['action']} {r['model']}: {r['seconds']:.2f} s > {r['target']:g} s")
    print(f"{ratio['model']} round trip of a {ratio['size']} photo {ratio['autoencoder_s']:.4f} s, Pillow JPEG q75 "
          f"{ratio['jpeg_s']:.4f} s: {ratio['ratio']:g}× (target ≤ {ratio['target']:g}×)")
    if ratio["ratio"] > ratio["target"]:
        failures.append(f"autoencoder round trip {ratio['ratio']:g}× JPEG > {ratio['target']:g}×")
    return failures


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(prog="python -m tools.bench_app", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5, help="runs of the JPEG comparison (median)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--json", type=Path, help="also write the rows here")
    p.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = bench_app() + cold_costs()
    ratio = jpeg_ratio(to_uint8(kodak_sized_photo()), args.repeats, timed)
    print(f"{cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads; server time per script run")
    failures = report(rows, ratio)
    rss = peak_rss_mb()
    print(f"peak resident memory: {rss:.0f} MB")
    if rss > TARGET_RSS_MB:
        failures.append(f"peak memory {rss:.0f} MB > {TARGET_RSS_MB} MB (the app's server)")
    for f in failures:
        print("MISSED TARGET:", f)
    rows.append(ratio)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "peak_rss_mb": round(rss), "failures": failures}, indent=2))
    if args.check and failures:
        raise SystemExit(1)
    return rows


if __name__ == "__main__":
    main()
