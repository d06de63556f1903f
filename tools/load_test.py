"""`python -m tools.load_test` (from the repository root): a room of visitors in Chromium against `streamlit run app.py`.

Starts the app on a free port. First the presenter opens the page, which starts the gallery ×
every model computing ahead, and the command waits for the server log to say it is done
(--no-warm: the visitors come at once). Then N Chromium sessions (Debian's /usr/bin/chromium
through Playwright) act one action after another for the given time, in one of two mixes:

  room     (issue 21) 80 % gallery taps and slider moves on gallery photos, 20 % uploads of a
           new photo (each followed by a gallery tap, so every slider move is on a gallery photo)
  uploads  (issue 15) upload a new photo, move the slider twice on it, and again: every
           interaction is a model run on a photo nobody has seen

Meanwhile it samples every half second the server's resident memory and the CPU time of the
server, of the browsers (with their Playwright driver) and of the whole machine, and then checks
the targets: no errors; server RSS ≤ TARGET_RSS_MB and flat (the last quarter's peak at most
FLAT × the second quarter's); for the room mix, gallery and slider p95 ≤ 1 s and upload p95 ≤ 10 s.

Latency is from the action in the browser to the end of the script run it caused as the browser
sees it (Streamlit's script_finished message on the websocket), then drawn (the running
indicator gone, two animation frames): it includes the network and the browser; each figure
also says when the browser received the run's end (the rest is drawing). The browsers
share the server's cores here (in a talk they are the visitors' phones): the CPU figures say how.
They run at nice +10 (--browser-nice), the priority of the app's model runs: they compete with
those, not with the server's script runs, as phones would not; 0 gives the harshest figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from autoencoder.data import GALLERY
from autoencoder.hardware import cpu_name
from explorer.state import GALLERY_READY
from tools import bench_app

APP = Path(__file__).resolve().parent.parent / "app.py"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MIXES = {  # each session runs its mix in a loop, session i from step 2·i
    "room": ("slider", "gallery", "slider", "upload", "gallery", "slider", "slider", "upload", "gallery", "slider"),
    "uploads": ("upload", "slider", "slider"),
}
TARGETS_P95_S = {"room": {"gallery": 1.0, "slider": 1.0, "upload": 10.0}, "uploads": {}}
TARGET_RSS_MB = bench_app.TARGET_RSS_MB
FLAT = 1.10  # RSS is flat when the last quarter's peak is at most this × the second quarter's
UPLOAD_SIDES = (320, 480, 640, 800)  # the photos each session uploads in turn
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process (Streamlit is one process; its threads included)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state first), or None if it has gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process, all its threads (None if it has gone)."""
    fields = _stat(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy, all cores (/proc/stat: all but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / CLOCK_TICKS


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
        self.log = open(log, "wb")  # noqa: SIM115 (closed by stop())
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
        raise RuntimeError(f"streamlit did not start: {self.log_text()[-2000:]}")

    def log_text(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


# In the page, before Streamlit connects: count the ForwardMsgs that end a script run
# (script_finished, but not FINISHED_EARLY_FOR_RERUN) and note when each arrived. Read in the
# page, not through Playwright's websocket events, which would ship every frame (a picture is
# ~1 MB of base64) to this process and stamp it late by a quarter of a second.
FINISHED_WATCH = """(() => {
  const FIELD = %d, EARLY = %d;
  window.__runsEnded = 0; window.__runEndedAt = 0;
  const varint = (b, i) => {
    let v = 0, s = 0, x;
    do { x = b[i++]; v += (x & 127) * 2 ** s; s += 7; } while (x & 128);
    return [v, i];
  };
  const endsRun = (b) => {  // a ForwardMsg's top-level fields; the big ones are skipped by length
    for (let i = 0; i < b.length;) {
      let key, n; [key, i] = varint(b, i);
      const field = Math.floor(key / 8), type = key & 7;
      if (type === 0) { [n, i] = varint(b, i); if (field === FIELD) return n !== EARLY; }
      else if (type === 2) { [n, i] = varint(b, i); i += n; }
      else if (type === 1) i += 8; else if (type === 5) i += 4; else return false;
    }
    return false;
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        if (e.data instanceof ArrayBuffer && endsRun(new Uint8Array(e.data))) {
          window.__runsEnded += 1; window.__runEndedAt = performance.timeOrigin + performance.now();
        }
      });
    }
  };
})();"""


class Visitor:
    """One browser page on the app, timing each action to the end of the script run it caused."""

    def __init__(self, browser, timeout_s: float):
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.set_default_timeout(timeout_s * 1000)
        self.page.add_init_script(FINISHED_WATCH % (ForwardMsg.DESCRIPTOR.fields_by_name["script_finished"].number,
                                                    ForwardMsg.FINISHED_EARLY_FOR_RERUN))

    def act(self, action) -> tuple[float, float]:
        """Seconds from `action()` to its script run's end: as the browser received it, and drawn."""
        page = self.page
        # epoch milliseconds from the page's clock: comparable across a navigation (the first page)
        before, at = page.evaluate("() => [window.__runsEnded || 0, performance.timeOrigin + performance.now()]")
        start = time.perf_counter()
        action()
        page.wait_for_function("n => window.__runsEnded > n", arg=before)
        received = (page.evaluate("() => window.__runEndedAt") - at) / 1000
        page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
        page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        return received, time.perf_counter() - start


def session(url: str, chromium: Path, index: int, mix: str, seconds: float, think_s: float, timeout_s: float,
            records: list, errors: list, folder: Path) -> None:
    """One visitor: load the page, then follow the mix until time is up."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        visitor = Visitor(browser, timeout_s)
        page = visitor.page
        page.on("pageerror", lambda e: errors.append(f"session {index}: page error {e}"))
        slider = page.locator("[data-testid=stSlider]").filter(has_text="Bottleneck").locator("input[type=range]")
        state = {"direction": "ArrowRight", "photo": index % len(GALLERY), "uploads": 0}

        def upload() -> None:
            path = folder / f"session{index}-{state['uploads']}.png"
            path.write_bytes(visitor_photo(UPLOAD_SIDES[state["uploads"] % len(UPLOAD_SIDES)],
                                           seed=index * 1000 + state["uploads"]))
            state["uploads"] += 1
            page.locator("section[data-testid=stSidebar] [data-testid=stFileUploaderDropzoneInput]"
                         ).set_input_files(str(path))

        def tap_gallery() -> None:
            state["photo"] = (state["photo"] + 1) % len(GALLERY)
            name = GALLERY[state["photo"]].name  # the button has a help tooltip: its name picks the button
            page.locator(f".st-key-gallery_{state['photo']}").get_by_role("button", name=name, exact=True).click()

        def move_slider() -> None:
            before = slider.get_attribute("aria-valuetext")
            slider.focus()
            page.keyboard.press(state["direction"])
            if slider.get_attribute("aria-valuetext") == before:  # at an end: turn round
                state["direction"] = "ArrowLeft" if state["direction"] == "ArrowRight" else "ArrowRight"
                page.keyboard.press(state["direction"])

        try:
            records.append(("first page", *visitor.act(lambda: page.goto(url))))
            steps = MIXES[mix]
            step, end = 2 * index, time.monotonic() + seconds
            while time.monotonic() < end:
                kind = steps[step % len(steps)]
                action = {"upload": upload, "gallery": tap_gallery, "slider": move_slider}[kind]
                records.append((kind, *visitor.act(action)))
                failures = page.locator("[data-testid=stException]")
                if failures.count():
                    errors.append(f"session {index}: {failures.first.inner_text()[:300]}")
                    break
                step += 1
                if think_s:
                    page.wait_for_timeout(think_s * 1000)
        except Exception as e:  # noqa: BLE001 (any failure of a session is a finding, reported with the rest)
            errors.append(f"session {index}: {type(e).__name__}: {str(e)[:300]}")
        finally:
            browser.close()


def niced_chromium(folder: Path, nice: int) -> Path:
    """Chromium, or a script that starts it at `nice` (its processes inherit it)."""
    if not nice:
        return CHROMIUM
    script = folder / f"chromium-nice{nice}"
    script.write_text(f'#!/bin/sh\nexec nice -n {nice} {CHROMIUM} "$@"\n')
    script.chmod(0o755)
    return script


def warm_up(server: Server, chromium: Path, timeout_s: float) -> dict:
    """The presenter opens the page (the app starts computing the gallery ahead); wait until
    the server log says the gallery is done. Its figures as the log gives them."""
    from playwright.sync_api import sync_playwright

    start = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            presenter = Visitor(browser, timeout_s)
            presenter.act(lambda: presenter.page.goto(server.url))
        finally:
            browser.close()
    while time.monotonic() - start < timeout_s:
        line = next((line for line in server.log_text().splitlines() if line.startswith(GALLERY_READY)), None)
        if line:
            numbers = [float(n) for n in re.findall(r"(\d+(?:\.\d+)?) (?:results|MB|s$)", line)]
            return {"line": line, "waited_s": round(time.monotonic() - start, 1),
                    **dict(zip(("results", "mb", "seconds"), numbers))}
        time.sleep(0.5)
    raise SystemExit(f"the gallery was not computed within {timeout_s:g} s (--warm-timeout); server log:\n"
                     f"{server.log_text()[-2000:]}")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


class Sampler:
    """Every half second: the server's RSS; CPU seconds of the server, of this process's other
    descendants (the browsers and their Playwright driver) and of the whole machine."""

    def __init__(self, server_pid: int):
        self.server_pid, self.start = server_pid, time.monotonic()
        self.memory: list[tuple[float, float]] = []
        self.browsers: dict[int, float] = {}  # pid → the most CPU seconds seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def cpu_now(self) -> dict:
        self._sample()
        return {"server": cpu_s(self.server_pid) or 0.0, "browsers": sum(self.browsers.values()),
                "harness": cpu_s(os.getpid()) or 0.0, "machine": machine_busy_s(), "at": time.monotonic()}

    def _sample(self) -> None:
        for pid in descendants(os.getpid()) - {self.server_pid} - descendants(self.server_pid):
            seconds = cpu_s(pid)
            if seconds is not None:
                self.browsers[pid] = max(seconds, self.browsers.get(pid, 0.0))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.memory.append((time.monotonic() - self.start, rss_mb(self.server_pid)))
            self._sample()
            self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def cpu_shares(before: dict, after: dict, sessions: int, interactions: int) -> dict:
    wall, cores = after["at"] - before["at"], len(os.sched_getaffinity(0))
    used = {k: after[k] - before[k] for k in ("server", "browsers", "harness", "machine")}
    capacity = wall * cores
    others = used["machine"] - used["server"] - used["browsers"] - used["harness"]
    return {"cores": cores, "wall_s": round(wall, 1), **{f"{k}_s": round(v, 1) for k, v in used.items()},
            "share": {"server": round(used["server"] / capacity, 3), "browsers": round(used["browsers"] / capacity, 3),
                      "harness": round(used["harness"] / capacity, 3),
                      "others": round(others / capacity, 3),
                      "idle": round(1 - used["machine"] / capacity, 3)},
            "server_cores_per_session": round(used["server"] / wall / sessions, 3),
            "server_cpu_s_per_interaction": round(used["server"] / max(interactions, 1), 3)}


def check(result: dict, mix: str) -> list[str]:
    failures = [f"{len(result['errors'])} errors"] if result["errors"] else []
    for kind, target in TARGETS_P95_S[mix].items():
        p95 = result["latency_s"][kind]["p95"]
        if not p95 <= target:
            failures.append(f"{kind} p95 {p95} s > {target:g} s")
    r = result["rss_mb"]
    if r["max"] is not None and r["max"] > TARGET_RSS_MB:
        failures.append(f"server RSS {r['max']} MB > {TARGET_RSS_MB} MB")
    quarters = r["max_by_quarter"]
    if len(quarters) == 4 and quarters[3] > FLAT * quarters[1]:
        failures.append(f"server RSS not flat: {quarters[3]} MB in the last quarter > {FLAT:g} × {quarters[1]} MB")
    return failures


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m tools.load_test", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sessions", type=int, default=8)
    p.add_argument("--seconds", type=float, default=120, help="how long each session keeps interacting")
    p.add_argument("--mix", choices=sorted(MIXES), default="room")
    p.add_argument("--think", type=float, default=0, help="seconds a visitor looks before the next action")
    p.add_argument("--browser-nice", type=int, default=10, help="nice value the browsers run at (0: the server's)")
    p.add_argument("--no-warm", dest="warm", action="store_false",
                   help="visitors come at once, while the gallery is still being computed")
    p.add_argument("--warm-timeout", type=float, default=900, help="seconds the gallery may take to compute")
    p.add_argument("--timeout", type=float, default=120,
                   help="seconds one interaction may take before it counts as an error")
    p.add_argument("--work", type=Path, default=Path("load-test"), help="folder for the photos and the server log")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = p.parse_args(argv)
    if not CHROMIUM.exists():
        raise SystemExit(f"load-test needs Chromium at {CHROMIUM} (apt-get install -y chromium)")
    args.work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    server = Server(args.work / "streamlit.log")
    try:
        try:
            server.wait_healthy()
        except RuntimeError as e:
            raise SystemExit(str(e)) from None
        browser = niced_chromium(args.work, args.browser_nice)
        gallery = warm_up(server, browser, args.warm_timeout) if args.warm else None
        sampler = Sampler(server.process.pid)
        cpu_before = sampler.cpu_now()
        records: list[tuple[str, float, float]] = []  # (kind, run's end received, drawn) in seconds
        errors: list[str] = []
        threads = [threading.Thread(target=session, args=(server.url, browser, i, args.mix, args.seconds, args.think,
                                                          args.timeout, records, errors, args.work))
                   for i in range(args.sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        cpu_after = sampler.cpu_now()
        sessions_done = time.monotonic() - sampler.start
        time.sleep(5)  # sessions closed: what memory does the server keep?
        rss_after = rss_mb(server.process.pid)
        sampler.stop()
    finally:
        server.stop()

    kinds = ("first page", "gallery", "slider", "upload")
    drawn = {kind: [d for k, _, d in records if k == kind] for kind in kinds}
    received = {kind: [f for k, f, _ in records if k == kind] for kind in kinds}
    during = [m for t, m in sampler.memory if t <= sessions_done]
    result = {
        "cpu": cpu_name(), "mix": args.mix, "sessions": args.sessions, "seconds": args.seconds, "think_s": args.think,
        "browser_nice": args.browser_nice,
        "load_average_before": [round(v, 2) for v in load_before], "gallery_ahead": gallery,
        "interactions": len(records), "errors": errors,
        # drawn (the targets), and until the browser received the run's end (the rest is drawing)
        "latency_s": {k: {"n": len(v), "p50": round(percentile(v, 50), 3), "p95": round(percentile(v, 95), 3),
                          "received_p50": round(percentile(received[k], 50), 3),
                          "received_p95": round(percentile(received[k], 95), 3)} for k, v in drawn.items()},
        "rss_mb": {"start": round(during[0]) if during else None, "max": round(max(during)) if during else None,
                   "end_of_sessions": round(during[-1]) if during else None, "after_close": round(rss_after),
                   # the largest in each quarter of the run: flat when the stores are bounded
                   "max_by_quarter": [round(max(q)) for q in np.array_split(np.array(during), 4) if q.size]},
        "cpu_time": cpu_shares(cpu_before, cpu_after, args.sessions, len(records)),
    }
    print(f"{result['cpu']}, load average {load_before[0]:.2f} before: {args.sessions} Chromium sessions at nice "
          f"+{args.browser_nice}, mix "
          f"'{args.mix}', {args.seconds:g} s, {len(records)} interactions, {len(errors)} errors")
    if gallery:
        print(f"  gallery computed ahead: {gallery['line'].split(': ', 1)[1]} (waited {gallery['waited_s']} s)")
    for kind, figures in result["latency_s"].items():
        print(f"  {kind:10} n={figures['n']:4}  p50 {figures['p50']:.2f} s  p95 {figures['p95']:.2f} s  (run's end "
              f"received: p50 {figures['received_p50']:.2f} s, p95 {figures['received_p95']:.2f} s)")
    r, c = result["rss_mb"], result["cpu_time"]
    print(f"  server RSS: {r['start']} MB at start, {r['max']} MB at most, {r['end_of_sessions']} MB when the sessions "
          f"ended, {r['after_close']} MB 5 s after they closed; largest in each quarter of the run: "
          f"{', '.join(str(m) for m in r['max_by_quarter'])} MB")
    share = c["share"]
    print(f"  CPU of {c['cores']} cores over {c['wall_s']} s: server {share['server']:.0%}, "
          f"browsers {share['browsers']:.0%}, "
          f"this harness {share['harness']:.0%}, other processes {share['others']:.0%}, idle {share['idle']:.0%}; "
          f"server {c['server_cores_per_session']:.3f} cores per session, "
          f"{c['server_cpu_s_per_interaction']:.2f} CPU s "
          "per interaction")
    for e in errors:
        print("  ERROR", e)
    result["failures"] = check(result, args.mix)
    for f in result["failures"]:
        print("MISSED TARGET:", f)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.check and result["failures"]:
        raise SystemExit(1)
    return result


if __name__ == "__main__":
    main()
