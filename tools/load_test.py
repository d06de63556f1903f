"""`python -m tools.load_test` (from the repository root): real browser sessions against `streamlit run app.py`.

Starts the app on a free port, opens N Chromium sessions (Debian's /usr/bin/chromium through
Playwright) that each, for the given time, upload a photo and move the bottleneck slider in
turns, and samples the server's resident memory every half second, including after every
session has closed. Prints the figures and checks the targets (issue 15): no errors, p95
slider latency ≤ TARGET_SLIDER_P95_S, server RSS ≤ TARGET_RSS_MB.

Latency is from the action in the browser to the end of the script run it caused
(Streamlit's "running" indicator gone), so it includes the network and the browser.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from autoencoder.hardware import cpu_name
from tools import bench_app

APP = Path(__file__).resolve().parent.parent / "app.py"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TARGET_SLIDER_P95_S = 2.0
TARGET_RSS_MB = bench_app.TARGET_RSS_MB
UPLOAD_SIDES = (320, 480, 640, 800)  # the photos each session uploads in turn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children's are not included: Streamlit is one process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def visitor_photo(side: int, seed: int) -> bytes:
    """A smooth random photo-like PNG (different for every upload, so nothing is a cache hit)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    base = np.stack([np.sin(xx / rng.uniform(8, 40) + c) * np.cos(yy / rng.uniform(8, 40)) for c in range(3)], -1)
    pixels = np.clip(base * 100 + 128 + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


class Server:
    """`streamlit run app.py` on a free port with `env` added to this process's environment;
    stop() ends it (the browser tests serve the app the same way)."""

    def __init__(self, log: Path, env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.log = open(log, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(self.port), "--server.address",
             "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=APP.parent, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

    def wait_healthy(self, timeout: float = 90) -> None:
        """Until /_stcore/health answers; RuntimeError with the log's end if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        self.log.flush()
        raise RuntimeError(f"streamlit did not start: {self.log_path.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def _finish(page, start: float, timeout_ms: int) -> float:
    """Wait for the script run an action started to end; seconds since `start`."""
    try:  # the indicator appears once the server has the rerun; a fast run may be gone already
        page.wait_for_selector("[data-testid=stStatusWidget]", timeout=1500)
    except Exception:  # noqa: BLE001 (Playwright's TimeoutError: the run was quicker than the poll)
        pass
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=timeout_ms)
    return time.perf_counter() - start


def session(url: str, index: int, seconds: float, timeout_ms: int, records: list, errors: list, folder: Path) -> None:
    """One visitor: load the page, then upload / slide / slide / … until time is up."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(timeout_ms)
        page.on("pageerror", lambda e: errors.append(f"session {index}: page error {e}"))
        try:
            start = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("[data-testid=stMetric]")
            records.append(("first page", _finish(page, start, timeout_ms)))
            slider = page.locator("[data-testid=stSlider]").filter(has_text="Bottleneck").locator("input[type=range]")
            end, step, direction = time.monotonic() + seconds, 0, "ArrowRight"
            while time.monotonic() < end:
                if step % 3 == 0:
                    photo = folder / f"session{index}-{step}.png"
                    side = UPLOAD_SIDES[(step // 3) % len(UPLOAD_SIDES)]
                    photo.write_bytes(visitor_photo(side, seed=index * 1000 + step))
                    start = time.perf_counter()
                    page.locator("section[data-testid=stSidebar] [data-testid=stFileUploaderDropzoneInput]"
                                 ).set_input_files(str(photo))
                    records.append(("upload", _finish(page, start, timeout_ms)))
                else:
                    before = slider.get_attribute("aria-valuetext")
                    slider.focus()
                    start = time.perf_counter()
                    page.keyboard.press(direction)
                    if slider.get_attribute("aria-valuetext") == before:  # at an end: turn round
                        direction = "ArrowLeft" if direction == "ArrowRight" else "ArrowRight"
                        page.keyboard.press(direction)
                    records.append(("slider", _finish(page, start, timeout_ms)))
                failures = page.locator("[data-testid=stException]")
                if failures.count():
                    errors.append(f"session {index}: {failures.first.inner_text()[:300]}")
                    break
                step += 1
        except Exception as e:  # noqa: BLE001 (any failure of a session is a finding, reported with the rest)
            errors.append(f"session {index}: {type(e).__name__}: {str(e)[:300]}")
        finally:
            browser.close()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m tools.load_test", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", type=int, default=6)
    p.add_argument("--seconds", type=float, default=120, help="how long each session keeps interacting")
    p.add_argument("--timeout", type=float, default=120,
                   help="seconds one interaction may take before it counts as an error")
    p.add_argument("--work", type=Path, default=Path("load-test"), help="folder for the photos and the server log")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = p.parse_args(argv)
    if not CHROMIUM.exists():
        raise SystemExit(f"load-test needs Chromium at {CHROMIUM} (apt-get install -y chromium)")
    args.work.mkdir(parents=True, exist_ok=True)
    server = Server(args.work / "streamlit.log")
    memory: list[tuple[float, float]] = []
    stop = threading.Event()
    try:
        try:
            server.wait_healthy()
        except RuntimeError as e:
            raise SystemExit(str(e)) from None
        start = time.monotonic()

        def sample() -> None:
            while not stop.is_set():
                memory.append((time.monotonic() - start, rss_mb(server.process.pid)))
                stop.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        records: list[tuple[str, float]] = []
        errors: list[str] = []
        threads = [threading.Thread(target=session, args=(server.url, i, args.seconds, int(args.timeout * 1000),
                                                          records, errors, args.work)) for i in range(args.sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sessions_done = time.monotonic() - start
        time.sleep(5)  # sessions closed: what memory does the server keep?
        rss_after = rss_mb(server.process.pid)
        stop.set()
        sampler.join()
    finally:
        server.stop()

    by_kind = {kind: [s for k, s in records if k == kind] for kind in ("first page", "upload", "slider")}
    during = [m for t, m in memory if t <= sessions_done]
    result = {
        "cpu": cpu_name(), "sessions": args.sessions, "seconds": args.seconds, "interactions": len(records),
        "errors": errors,
        "latency_s": {k: {"n": len(v), "p50": round(percentile(v, 50), 3), "p95": round(percentile(v, 95), 3)}
                      for k, v in by_kind.items()},
        "rss_mb": {"start": round(during[0]) if during else None, "max": round(max(during)) if during else None,
                   "end_of_sessions": round(during[-1]) if during else None, "after_close": round(rss_after),
                   # the largest in each quarter of the run: flat when the caches are bounded
                   "max_by_quarter": [round(max(q)) for q in np.array_split(np.array(during), 4) if q.size]},
    }
    print(f"{result['cpu']}: {args.sessions} Chromium sessions for {args.seconds:g} s, {len(records)} interactions, "
          f"{len(errors)} errors")
    for kind, figures in result["latency_s"].items():
        print(f"  {kind:10} n={figures['n']:4}  p50 {figures['p50']:.2f} s  p95 {figures['p95']:.2f} s")
    r = result["rss_mb"]
    print(f"  server RSS: {r['start']} MB at start, {r['max']} MB at most, {r['end_of_sessions']} MB when the sessions "
          f"ended, {r['after_close']} MB 5 s after they closed; largest in each quarter of the run: "
          f"{', '.join(str(m) for m in r['max_by_quarter'])} MB")
    for e in errors:
        print("  ERROR", e)
    failures = [f"{len(errors)} errors"] if errors else []
    slider_p95 = result["latency_s"]["slider"]["p95"]
    if not slider_p95 <= TARGET_SLIDER_P95_S:
        failures.append(f"slider p95 {slider_p95} s > {TARGET_SLIDER_P95_S} s")
    if r["max"] is not None and r["max"] > TARGET_RSS_MB:
        failures.append(f"server RSS {r['max']} MB > {TARGET_RSS_MB} MB")
    for f in failures:
        print("MISSED TARGET:", f)
    result["failures"] = failures
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.check and failures:
        raise SystemExit(1)
    return result


if __name__ == "__main__":
    main()
