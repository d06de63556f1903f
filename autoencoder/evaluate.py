"""`python -m autoencoder eval --data DIR`: every model and every baseline on one folder.

    python -m autoencoder eval --data ../shared/data/kodak --json weights/kodak-eval.json \\
        --markdown weights/kodak-results.md --readme docs/results.md --summary README.md --chart docs/kodak-rd.png --update-manifest

Per image, at full resolution: conv models run on the whole image; dense models (64×64
only) run on every 64×64 tile and the tiles are put back together, so both families are
scored on the same pixels (a border that is not a whole tile is cropped off for everyone).
Reconstructions are rounded to 8 bits, as a saved PNG would be, before scoring. Scores are
means over images of per-image PSNR, SSIM and MS-SSIM. Bytes are real: the 8-bit latent
with its side information for the models, the whole .aez file for the codec models (decoded
from those bytes, as `decompress` does), the classical codecs' files (JPEG, WebP, AVIF, JPEG XL) at the
settings `baselines.CODECS` states, each decoded back through the same plugin. A codec whose
plugin is missing is named and left out. `--models --pca none` runs the codecs alone.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import baselines, metrics, search
from .baselines import ALL_CODECS, describe, pillow_roundtrip
from .codec import decompress
from .data import decode_image, list_images, split_train_val, to_tensor, to_uint8
from .manifest import ModelEntry, checked_entries, dataset_problem, list_models, model_info, update_entry, weights_dir
from .models import family_of, prior_words, values_ratio
from .pca import PCA_FILE, BlockPCA
from .pipeline import TILE, analyse, crop_to_tiles, score
from .pretrained import load_pretrained
from .rate import ladder_entries

PCA_CHANNELS = (4, 8, 16, 32, 64)


def mean_scores(rows: list[dict]) -> dict:
    out = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if any(v is None for v in values):
            out[key] = None
        else:
            out[key] = round(float(np.mean(values)), 5)
    return out


def per_image(rows: list[dict], key: str = "psnr") -> list[float]:
    """Each image's `key` (PSNR of the float latent by default), in `image_names` order: where a mean hides a split."""
    return [round(float(r[key]), 3) for r in rows]


def codec_row(model, model_id: str, sha256: str, image: np.ndarray, lmbda: float, effort: str = "default") -> dict:
    """Compress to an .aez file at `effort` (search.EFFORTS; lmbda: the model's own) and decode
    that file as a receiver would: scores of the decoded image, bpp of the file, the likelihood
    estimate, seconds each way."""
    started = time.perf_counter()
    result = search.encoding(model, to_tensor(image), model_id, sha256, lmbda, effort=effort).compressed()
    encoded = time.perf_counter()
    decoded = to_uint8(decompress(result.data, load=lambda _: (model, sha256)).image)
    decode_s = time.perf_counter() - encoded
    pixels = image.shape[0] * image.shape[1]
    return {**score(image, decoded), "bpp": 8 * len(result.data) / pixels, "bpp_estimated": result.estimated_bits / pixels,
            "encode_s": encoded - started, "decode_s": decode_s}


def model_row(model, model_id: str, image: np.ndarray, refine_steps: int = 0) -> dict:
    """A conv or dense model's scores: PSNR of the float latent, the 8-bit latent's scores and bpp."""
    a = analyse(model, model_id, image, float_latent=True, refine_steps=refine_steps)
    return {
        "psnr": score(image, a.float_reconstruction, full=False)["psnr"],
        "psnr_8bit": a.scores["psnr"], "ssim_8bit": a.scores["ssim"], "ms_ssim_8bit": a.scores["ms_ssim"],
        "bpp_8bit": a.bits_per_pixel,
        **({"psnr_refined": score(image, a.refined_reconstruction, full=False)["psnr"]} if refine_steps else {}),
    }


def baseline_ladders(codecs=None, qualities=None) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """The quality ladder of each codec to run, and why the others asked for cannot run here.

    `codecs`: default every codec of the table; `qualities` replaces every codec's own ladder
    (empty: no codecs). A codec whose plugin is missing is named on stderr and left out."""
    codecs = list(ALL_CODECS) if codecs is None else codecs
    unknown = [c for c in codecs if c not in ALL_CODECS]
    if unknown:
        raise SystemExit(f"unknown codec {', '.join(unknown)}; known: {', '.join(ALL_CODECS)}")
    if qualities is not None and not len(qualities):
        return {}, {}
    missing = {c: baselines.UNAVAILABLE[c] for c in codecs if c in baselines.UNAVAILABLE}
    for reason in missing.values():
        print(f"{reason}; left out", file=sys.stderr)
    return {c: tuple(baselines.CODECS[c].qualities if qualities is None else qualities) for c in codecs if c in baselines.CODECS}, missing


def evaluate(data: str, model_ids: list[str], pca: BlockPCA | None, max_images: int | None = None,
             qualities=None, progress: bool = True, refine_steps: int = 0, held_out: int = 0,
             pillow_codecs=None, effort: str = "default") -> dict:
    """Score every model and baseline on the images of `data`; with `held_out` = N, only on
    the images `train --val-every N` holds out of that folder (a training folder's validation
    images: the models' own kind of photo, never trained on). `pillow_codecs` (default: all) run at
    their own quality ladders, or all at `qualities` where given (empty: no codecs). Codec
    models encode at `effort` (search.EFFORTS)."""
    files = list_images(data)
    if held_out:
        files = split_train_val(files, held_out)[1]
    files = files[: max_images or None]
    images = [crop_to_tiles(decode_image(f)) for f in files]
    if any(min(im.shape[:2]) == 0 for im in images):
        raise SystemExit(f"every image in {data} must be at least {TILE}×{TILE}")
    codec_ids = [i for i in model_ids if model_info(i).kind.entropy_coded]
    model_ids = [i for i in model_ids if i not in codec_ids]
    models = {i: load_pretrained(i) for i in model_ids}
    codecs = {i: load_pretrained(i) for i in codec_ids}
    codec_info = {i: model_info(i) for i in codec_ids}  # read once, not per image
    rungs = {e.id for e in ladder_entries(codec_info.values())}  # what rate control picks from: the ladder
    per_model = {i: [] for i in model_ids}
    per_codec_model = {i: [] for i in codec_ids}
    per_pca = {c: [] for c in PCA_CHANNELS} if pca else {}
    ladders, missing = baseline_ladders(pillow_codecs, qualities)
    per_codec = {(c, q): [] for c, ladder in ladders.items() for q in ladder}
    started = time.perf_counter()
    for image in tqdm(images, desc="eval", unit="img", disable=not progress):
        pixels = image.shape[0] * image.shape[1]
        for model_id, model in models.items():
            per_model[model_id].append(model_row(model, model_id, image, refine_steps))
        for model_id, model in codecs.items():
            per_codec_model[model_id].append(codec_row(model, model_id, codec_info[model_id].sha256, image,
                                                         codec_info[model_id].lmbda, effort))
        for channels in per_pca:
            a = analyse(pca.as_model(channels), f"block-pca-{channels}", image, full_scores=False, float_latent=True)
            per_pca[channels].append({**score(image, a.float_reconstruction), "psnr_8bit": a.scores["psnr"],
                                      "bpp_8bit": a.bits_per_pixel})
        for (codec, quality), rows in per_codec.items():
            encoded = pillow_roundtrip(image, codec, quality)
            rows.append({**score(image, encoded.decoded), "bpp": 8 * encoded.num_bytes / pixels,
                         "encode_s": encoded.encode_s, "decode_s": encoded.decode_s})
    return {
        "data": str(data),
        "held_out": held_out,  # 0: every image of data
        "images": len(images),
        "image_names": [f.name for f in files],
        "protocol": __doc__.split("\n\n", 2)[2].strip(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch_version": torch.__version__,
        "seconds": round(time.perf_counter() - started, 1),
        "refine_steps": refine_steps,
        "effort": effort,  # the codec models' encoding effort (search.EFFORTS)
        "models": [
            {"id": i, "family": models[i].family, "ratio": values_ratio(models[i]), **mean_scores(rows),
             "psnr_per_image": per_image(rows),
             **({"psnr_refined_per_image": per_image(rows, "psnr_refined")} if refine_steps else {})}
            for i, rows in per_model.items()
        ],
        "codecs": sorted(
            [{"id": i, "prior": codec_info[i].prior, "lmbda": codec_info[i].lmbda, "ladder": i in rungs,
              "latent_channels": codec_info[i].bottleneck, **mean_scores(rows),
              "psnr_per_image": per_image(rows), "bpp_per_image": per_image(rows, "bpp")}
             for i, rows in per_codec_model.items()], key=lambda row: row["bpp"]),
        "block_pca": [{"channels": c, "ratio": 192 / c, **mean_scores(rows), "psnr_per_image": per_image(rows)}
                      for c, rows in per_pca.items()],
        "baselines": {codec: describe(codec) for codec in ladders},  # the settings each codec ran at
        "baselines_unavailable": missing,
        **{codec: [{"quality": q, **mean_scores(per_codec[(codec, q)])} for q in ladder]
           for codec, ladder in ladders.items()},
    }


def baseline_names(results: dict) -> list[str]:
    """The codecs with rows in `results`, in the table's order."""
    return [c for c in ALL_CODECS if results.get(c)]


def baseline_settings(results: dict, codec: str) -> str:
    """The settings the run recorded for `codec` (runs before they were recorded: the table's now)."""
    return results.get("baselines", {}).get(codec) or describe(codec)


def _fmt(value, digits=2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(results: dict) -> str:
    pca = {round(row["ratio"], 6): row for row in results["block_pca"]}

    def pca_row(model_row: dict) -> dict:
        """Block-PCA's scores at the model's ratio in values ({} without the baseline): C of 192
        values per 8×8 block for conv, D of 12288 per 64×64 tile for dense, the same count."""
        return pca.get(round(model_row["ratio"], 6), {})

    def gain(psnr: float | None, base: dict) -> str:
        return "–" if psnr is None or base.get("psnr") is None else f"{psnr - base['psnr']:+.2f}"

    def images_below(model_row: dict, base: dict) -> str:
        """On how many images the model scores under block-PCA, and the worst difference: a mean
        gain can hide images the model does worse on than the linear code."""
        per_image = base.get("psnr_per_image")
        if not per_image:
            return "–"
        gains = [m - b for m, b in zip(model_row["psnr_per_image"], per_image)]
        below = sum(g < 0 for g in gains)
        return f"{below} of {len(gains)}" + (f" (worst {min(gains):+.2f})" if below else "")

    lines = [
        f"Mean over the {results['images']} images of `{results['data']}`"
        + (f" that `train --val-every {results['held_out']}` holds out" if results.get("held_out") else "")
        + " at full resolution "
        "(`python -m autoencoder eval`). PSNR in dB; bpp and the 8-bit columns use the latent rounded "
        "to 8 bits (real bytes, side information included, no entropy coding).",
        "",
        "| model | ratio (values) | bpp (8-bit) | PSNR | PSNR (8-bit) | SSIM (8-bit) | MS-SSIM (8-bit) | block-PCA PSNR, same C | gain "
        "| images below block-PCA |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    bases = {row["id"]: pca_row(row) for row in results["models"]}
    for row in results["models"]:
        base = bases[row["id"]]
        lines.append(
            f"| {row['id']} | {row['ratio']:.0f}× | {_fmt(row['bpp_8bit'], 3)} | {_fmt(row['psnr'])} | "
            f"{_fmt(row['psnr_8bit'])} | {_fmt(row['ssim_8bit'], 4)} | {_fmt(row['ms_ssim_8bit'], 4)} | "
            f"{_fmt(base.get('psnr'))} | {gain(row['psnr'], base)} | {images_below(row, base)} |"
        )
    if results["block_pca"]:
        lines += ["", "Block-PCA (the optimal linear 8×8-block transform, fitted on every block of the training photos at full resolution):", "",
                  "| C | ratio | PSNR | SSIM | MS-SSIM |", "|---|---|---|---|---|"]
        for row in results["block_pca"]:
            lines.append(f"| {row['channels']} | {row['ratio']:.0f}× | {_fmt(row['psnr'])} | "
                         f"{_fmt(row['ssim'], 4)} | {_fmt(row['ms_ssim'], 4)} |")
    if results.get("refine_steps"):
        lines += ["", f"Latent refinement ({results['refine_steps']} Adam steps on the float latent, decoder fixed; "
                  "same number of values):", "",
                  "| model | PSNR | PSNR, refined latent | block-PCA PSNR, same C | gain, refined |", "|---|---|---|---|---|"]
        for row in results["models"]:
            base = bases[row["id"]]
            lines.append(f"| {row['id']} | {_fmt(row['psnr'])} | {_fmt(row['psnr_refined'])} | "
                         f"{_fmt(base.get('psnr'))} | {gain(row['psnr_refined'], base)} |")
    if results.get("codecs"):
        lines += ["", *codec_tables(results)]
    lines += [line for reason in results.get("baselines_unavailable", {}).values()
              for line in ("", f"*{reason}: left out of this run.*")]
    names = baseline_names(results)
    if not names:
        return "\n".join(lines) + "\n"
    lines += ["", "Classical codecs (real file bytes, decoded back by the same library; seconds per image):", "",
              *[f"* {baseline_settings(results, c)}" for c in names], "",
              "| codec | quality | bpp | PSNR | MS-SSIM | encode s | decode s |", "|---|---|---|---|---|---|---|"]
    for c in names:
        for row in results[c]:
            lines.append(f"| {ALL_CODECS[c].label} | {row['quality']} | {_fmt(row['bpp'], 3)} | {_fmt(row['psnr'])} | "
                         f"{_fmt(row['ms_ssim'], 4)} | {_fmt(row.get('encode_s'), 3)} | {_fmt(row.get('decode_s'), 3)} |")
    return "\n".join(lines) + "\n"


GAIN_RANGE = (0.25, 1.0)  # bpp: where the codec ladder is held to beat JPEG by 1 dB


def _curve(rows: list[dict]) -> list[tuple[float, float]]:
    return [(row["bpp"], row["psnr"]) for row in rows]


def ladder_curve(results: dict) -> list[tuple[float, float]]:
    """The (bpp, PSNR) points of the codec models rate control picks from (rate.ladder): the shipped ladder."""
    return _curve([row for row in results["codecs"] if row["ladder"]])


def gain_over(results: dict, codec: str) -> tuple[float, float] | None:
    """The ladder's smallest and mean PSNR gain over `codec` ("jpeg", "avif", …) at equal bpp, on
    GAIN_RANGE in 0.05 bpp steps (where both curves reach)."""
    ours, theirs = ladder_curve(results), _curve(results[codec])
    gains = [a - b for bpp in np.arange(GAIN_RANGE[0], GAIN_RANGE[1] + 1e-9, 0.05)
             if (a := metrics.psnr_at_rate(ours, bpp)) is not None and (b := metrics.psnr_at_rate(theirs, bpp)) is not None]
    return (min(gains), float(np.mean(gains))) if gains else None


def published_curves() -> list[dict]:
    """Published Kodak results (CompressAI's records), shipped as reference data with their sources."""
    return json.loads((Path(__file__).parent / "published_kodak.json").read_text())["curves"]


def codec_tables(results: dict) -> list[str]:
    """The codec ladder against each classical codec of the same run, and BD-rates."""
    names = baseline_names(results)
    curves = {c: _curve(results[c]) for c in names}
    labels = {c: ALL_CODECS[c].label for c in names}
    lines = ["Codec models (real `.aez` file bytes, header and CRC included, decoded from the file; the "
             "likelihood estimate of the same bits beside them). In bold, the ladder: the models rate control "
             "picks from and the BD-rates below measure; the others code at one step only, or another model "
             "refines their entropy model:", "",
             "| model | prior | λ | bpp (file) | bpp (estimated) | gap | PSNR | MS-SSIM | "
             + "".join(f"{labels[c]} PSNR, same bpp | " for c in names) + "decode s |",
             "|---|---|---|---|---|---|---|---|" + "---|" * len(names) + "---|"]

    def versus(curve, row):
        other = metrics.psnr_at_rate(curve, row["bpp"])
        return "–" if other is None else f"{other:.2f} ({row['psnr'] - other:+.2f})"

    for row in results["codecs"]:
        gap = (row["bpp"] / row["bpp_estimated"] - 1) * 100
        name = f"**{row['id']}**" if row["ladder"] else row["id"]
        lines.append(f"| {name} | {row['prior']} | {row['lmbda']} | {row['bpp']:.3f} | {row['bpp_estimated']:.3f} | "
                     f"{gap:+.1f} % | {row['psnr']:.2f} | {_fmt(row['ms_ssim'], 4)} | "
                     + "".join(f"{versus(curves[c], row)} | " for c in names) + f"{row['decode_s']:.2f} |")
    bd = bd_rate_table(results)
    if not bd:
        return lines
    lines += ["", "BD-rate (bits needed for the same PSNR, over the PSNR range both curves cover; negative: fewer) "
              "against this run's classical codecs:", "", *bd]
    lines += ["", f"The codec ladder's smallest / mean PSNR gain at equal bpp on {GAIN_RANGE[0]}–{GAIN_RANGE[1]} bpp:", "",
              "| against | gain, min / mean |", "|---|---|"]
    for c in names:
        g = gain_over(results, c)
        lines.append(f"| {labels[c]} | {'–' if g is None else f'{g[0]:+.2f} / {g[1]:+.2f} dB'} |")
    return lines


def bd_rate_table(results: dict) -> list[str]:
    """The codec ladder, the published curves and each measured codec against every measured
    codec, as BD-rates (Markdown rows; none without a ladder of two models and a codec)."""
    names = baseline_names(results)
    curves = {c: _curve(results[c]) for c in names}
    ladder = ladder_curve(results)
    if len(ladder) < 2 or not names:
        return []

    def bd_rates(points, skip=None):
        cells = ("–" if c == skip or (v := metrics.bd_rate(points, curves[c])) is None else f"{v:+.1f} %"
                 for c in names)
        return "".join(f" {cell} |" for cell in cells)

    lines = ["| curve |" + "".join(f" BD-rate vs {ALL_CODECS[c].label} |" for c in names), "|---|" + "---|" * len(names),
             f"| codec ladder (this repo) |{bd_rates(ladder)}"]
    lines += [f"| {curve['name']}, published |{bd_rates(list(zip(curve['bpp'], curve['psnr'])))}"
              for curve in published_curves()]
    return lines + [f"| {ALL_CODECS[c].label}, measured |{bd_rates(curves[c], skip=c)}" for c in names]


PUBLISHED_COLOURS = ("#8c564b", "#e377c2", "#bcbd22", "#9467bd", "#7f7f7f")  # none of the codecs' colours
OFF_LADDER_COLOURS = ("crimson", "#5a5a5a", "teal", "darkorange")  # codec models off the ladder, by prior


def write_rd_chart(results: dict, path: Path) -> None:
    """PNG rate–distortion chart: the codec ladder, raw 8-bit latents, the classical codecs (each its
    own marker shape, their settings printed under the chart), published curves."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = baseline_names(results)
    fig, ax = plt.subplots(figsize=(10.5, 6.2), dpi=110)
    for codec in names:
        c = ALL_CODECS[codec]
        rows = [r for r in results[codec] if r["bpp"] <= 2.0]
        ax.plot([r["bpp"] for r in rows], [r["psnr"] for r in rows], "-", marker=c.marker, ms=5, color=c.colour,
                label=f"{c.label} (measured)")
    for curve, colour in zip(published_curves(), PUBLISHED_COLOURS):
        pts = [(b, p) for b, p in zip(curve["bpp"], curve["psnr"]) if b <= 2.0]
        ax.plot(*zip(*pts), "--", lw=1, alpha=0.7, color=colour, label=f"{curve['name']} (published)")
    raw = [(r["bpp_8bit"], r["psnr_8bit"]) for r in results["models"] if family_of(r).image_to_image and r["bpp_8bit"] <= 2.0]
    if raw:
        ax.plot(*zip(*raw), "x", color="grey", label="conv models, raw 8-bit latents")
    ladder = sorted(ladder_curve(results))
    ax.plot(*zip(*ladder), "o-", color="black", lw=2.2, label="codec ladder, real .aez bytes")
    others = [row for row in results["codecs"] if not row["ladder"]]  # one step only, or refined since
    for prior, colour in zip(dict.fromkeys(row["prior"] for row in others), itertools.cycle(OFF_LADDER_COLOURS)):
        rows = sorted((row for row in others if row["prior"] == prior), key=lambda row: row["bpp"])
        name = rows[0]["id"] if len(rows) == 1 else f"{len(rows)} models"
        ax.plot([r["bpp"] for r in rows], [r["psnr"] for r in rows], "D:", ms=4, color=colour,
                label=f"{name} ({prior_words(prior)}), off the ladder")
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("PSNR (dB, RGB)")
    ax.set_xlim(0, 2.0)
    ax.set_title(f"Rate–distortion on the {results['images']} Kodak images")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the curves, not over them
    settings = "\n".join(baseline_settings(results, c) for c in names)
    fig.text(0.01, 0.01, settings, fontsize=7, va="bottom", ha="left", color="#333333")
    fig.tight_layout(rect=(0, 0.025 * (len(names) + 1), 1, 1))
    fig.savefig(path)
    plt.close(fig)


def training_table(entries: list[ModelEntry]) -> str:
    """How each shipped model was made, from its manifest record."""
    lines = ["| model | parameters | file | steps | images seen | wall time | device | validation PSNR, start → end |",
             "|---|---|---|---|---|---|---|---|"]
    total = 0.0
    for e in entries:
        t = e.training
        total += t.wall_time_s
        history = t.validation_psnr
        val = f"{history[0][1]:.2f} → {history[-1][1]:.2f} dB" if history else "–"
        lines.append(f"| {e.id} | {e.parameters:,} | {e.file_bytes / 1e6:.1f} MB ({e.storage_dtype}) | "
                     f"{t.steps:,} | {t.images_seen:,} | {t.wall_time_s / 60:.1f} min | {t.device} | {val} |")
    lines.append(f"\nTotal training time: {total / 60:.0f} min, the sum of the wall times above "
                 "(from `weights/manifest.json`); models trained side by side finish sooner than that.")
    return "\n".join(lines) + "\n"


def splice_readme(readme: Path, section: str, content: str) -> None:
    """Replace what stands between <!-- section:start --> and <!-- section:end -->."""
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    text = readme.read_text()
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{readme} has no {start} … {end} section to fill")
    readme.write_text(pattern.sub(lambda _: f"{start}\n{content}{end}", text))


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(prog="python -m autoencoder eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder of evaluation images")
    p.add_argument("--models", nargs="*", help="model ids (default: every model in the manifest)")
    p.add_argument("--pca", type=Path, help=f"block-PCA file (default: weights/{PCA_FILE}; 'none' to skip)")
    p.add_argument("--held-out", type=int, default=0, metavar="N", dest="held_out",
                   help="only the images `train --val-every N` holds out of DATA (the training photos' validation images)")
    p.add_argument("--max-images", type=int, help="only the first N images (quick checks)")
    p.add_argument("--refine-steps", type=int, default=0,
                   help="also score each model's latent after N steps of latent refinement (slow: N decode+backward passes)")
    p.add_argument("--codecs", nargs="*", choices=list(ALL_CODECS), metavar="CODEC",
                   help=f"classical codecs to run ({', '.join(ALL_CODECS)}; default: all that are installed)")
    p.add_argument("--qualities", type=int, nargs="*",
                   help="one quality ladder for every codec (default: each codec's own; none: skip the codecs)")
    p.add_argument("--json", type=Path, help="write the results here (the app plots them)")
    p.add_argument("--markdown", type=Path, help="write the Markdown tables here")
    p.add_argument("--chart", type=Path, help="write the rate–distortion chart (PNG) here (needs codec models)")
    p.add_argument("--readme", type=Path, help="replace the results and training sections of this Markdown page")
    p.add_argument("--summary", type=Path, help="replace the summary section (the BD-rate table) of this README")
    p.add_argument("--update-manifest", action="store_true", help="store each model's scores in the manifest")
    p.add_argument("--threads", type=int)
    p.add_argument("--effort", choices=list(search.EFFORTS), default="default",
                   help="the codec models' encoding effort (max: a latent search, minutes per image)")
    args = p.parse_args(argv)
    dataset = Path(args.data).name + ("_held_out" if args.held_out else "")  # what --update-manifest stores scores under
    if args.update_manifest and (problem := dataset_problem(dataset)):
        p.error(problem)  # before the folder is scored, not after
    if args.effort != "default" and args.update_manifest:
        p.error("--update-manifest stores the default effort's scores; run it without --effort")
    if args.threads:
        torch.set_num_threads(args.threads)
    pca_path = args.pca or weights_dir() / PCA_FILE
    pca = None if str(pca_path) == "none" or not pca_path.exists() else BlockPCA.load(pca_path)
    results = evaluate(args.data, args.models if args.models is not None else list_models(), pca, args.max_images,
                       qualities=args.qualities, refine_steps=args.refine_steps, held_out=args.held_out,
                       pillow_codecs=args.codecs, effort=args.effort)
    table = markdown(results)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(table)
    if args.chart and len(ladder_curve(results)) >= 2 and baseline_names(results):
        write_rd_chart(results, args.chart)
    if args.readme:
        splice_readme(args.readme, "results", table)
        scored = {r["id"] for r in results["models"] + results["codecs"]}
        trained = [e for e in checked_entries()[0] if e.id in scored]
        splice_readme(args.readme, "training", training_table(trained))
    if args.summary and bd_rate_table(results):
        splice_readme(args.summary, "summary", "\n".join(bd_rate_table(results)) + "\n")
    if args.update_manifest:
        for row in results["models"] + results["codecs"]:
            update_entry(row["id"], functools.partial(scored_entry, dataset=dataset, row=row, images=results["images"]))
    return results


# A results row's fields that say what the model is, or where it stands among the models of the
# run (the ladder), not how it scored: the manifest stores only the scores.
ROW_DESCRIPTION = ("id", "family", "ratio", "prior", "lmbda", "latent_channels", "ladder")


def scored_entry(entry: ModelEntry, dataset: str, row: dict, images: int) -> ModelEntry:
    """`entry` with a results row's mean scores on `dataset` (and a codec's mean file bpp: its rate there)."""
    scores = {k: v for k, v in row.items() if k not in ROW_DESCRIPTION and not k.endswith("_per_image")}
    return entry.scored(dataset, metrics={"images": images, **scores}, rate=row.get("bpp"))
