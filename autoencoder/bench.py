"""`python -m autoencoder bench`: speed and memory of every shipped model on this machine.

Speed targets live here, not in unit tests (a loaded CI machine would make timed tests
flaky). With --check the command exits 1 when a target is missed:
  * a conv model reconstructs a 1024×1024 image (8-bit latent) within TARGET_1024_S;
  * a dense model reconstructs a 64×64 image within TARGET_64_S;
  * the whole process stays under TARGET_RSS_MB of resident memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import torch

from .pipeline import roundtrip
from .pretrained import list_models, load_pretrained, model_info

TARGET_1024_S = 1.5  # seconds, 2 CPU cores
TARGET_64_S = 0.05
TARGET_RSS_MB = 2048


def timed(fn, repeats: int) -> float:
    """Median wall time of `repeats` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kB


def bench_model(model_id: str, repeats: int) -> dict:
    start = time.perf_counter()
    model = load_pretrained(model_id)
    row = {"id": model_id, "load_s": round(time.perf_counter() - start, 3),
           "parameters": model_info(model_id)["parameters"]}
    sizes = (64, 512, 1024) if model.any_size else (64,)
    for side in sizes:
        x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0))
        row[f"roundtrip_{side}_s"] = round(timed(lambda: roundtrip(model, x, bits=8), repeats), 4)
    return row


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(prog="python -m autoencoder bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", help="model ids (default: all)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--json", type=Path, help="also write the rows here")
    p.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [bench_model(m, args.repeats) for m in (args.models or list_models())]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.repeats} runs, 8-bit latent")
    print(f"{'model':14} {'params':>9} {'load s':>7} {'64² s':>8} {'512² s':>8} {'1024² s':>8}")
    failures = []
    for r in rows:
        print(f"{r['id']:14} {r['parameters']:>9,} {r['load_s']:>7.3f} {r['roundtrip_64_s']:>8.4f} "
              f"{r.get('roundtrip_512_s', float('nan')):>8.4f} {r.get('roundtrip_1024_s', float('nan')):>8.4f}")
        if r.get("roundtrip_1024_s", 0) > TARGET_1024_S:
            failures.append(f"{r['id']}: 1024² in {r['roundtrip_1024_s']:.2f} s > {TARGET_1024_S} s")
        if "roundtrip_1024_s" not in r and r["roundtrip_64_s"] > TARGET_64_S:
            failures.append(f"{r['id']}: 64² in {r['roundtrip_64_s']:.3f} s > {TARGET_64_S} s")
    rss = peak_rss_mb()
    print(f"peak resident memory: {rss:.0f} MB")
    if rss > TARGET_RSS_MB:
        failures.append(f"peak memory {rss:.0f} MB > {TARGET_RSS_MB} MB")
    for f in failures:
        print("MISSED TARGET:", f)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "peak_rss_mb": round(rss), "failures": failures}, indent=2))
    if args.check and failures:
        raise SystemExit(1)
    return rows
