"""The app's caches, in one place: everything the page shows that costs time to make lives in a
`Results` store that every session shares (explorer.results: bounded, one computation per key,
a computation in flight joined), keyed by the model's `ModelRef` and the hash of the exact
pixels it sees. Model runs take turns on one `Lane`: the visitors waiting, round robin across
sessions, then guesses at the next move, then background work. The gallery × every model is
such background work, computed once per server from the first page on.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

import autoencoder
from autoencoder import aez, baselines, pipeline, rate, uses
from autoencoder.data import GALLERY as GALLERY_PHOTOS
from autoencoder.data import center_square, load_gallery_image
from autoencoder.manifest import weights_dir
from autoencoder.models import MODEL_FAMILIES
from explorer import report, views
from explorer.results import Background, Lane, Results, nbytes

MB = 1 << 20
TTL_S = 3600  # results of an image nobody looks at any more are dropped after an hour
THUMBNAIL_SIDE = 120
GALLERY_READY = "explorer: the gallery is computed ahead"  # the server log's line (tools.load_test waits for it)

# The stores. Byte bounds as results.nbytes counts them (arrays, PNGs, files); measured for
# the shipped weights: a model on a gallery photo holds 0.03–9 MB (the 1000×872 Hubble photo
# through a codec model the most), the whole gallery × 14 models about 230 MB.
# Every model run, of every session: one at a time, visitors in turns, at nice +10 so that
# script runs go first (measured: a script run's work while a model runs, 142 → 91 ms).
LANE = Lane(nice=10)
MODELS = Results(64)  # loaded models (16 ship, ~150 MB: all stay loaded)
GALLERY = Results(4096, max_bytes=320 * MB, lane=LANE)  # the gallery photos, thumbnails, and every model on them
ANALYSES = Results(24, ttl_s=TTL_S, max_bytes=384 * MB, lane=LANE)  # a model on an upload: up to ~15 MB at 1 MP
RUNS = Results(96, ttl_s=TTL_S, max_bytes=256 * MB, lane=LANE)  # All models, denoise, defects, blends, .aez files
PICTURES = Results(256, ttl_s=TTL_S, max_bytes=128 * MB)  # PNGs the page shows, downloads
INPUTS = Results(64, ttl_s=TTL_S, max_bytes=160 * MB)  # uploads decoded, JPEG/WebP at equal bytes, codec ladders


@dataclass(frozen=True)
class ModelRef:
    """A model, as every key names it (`str(ref)`): the weights folder (the same id and sha256
    elsewhere is checked and loaded anew), the id, and the weights' sha256 (a retrained file is
    another model)."""
    folder: str
    id: str
    sha256: str

    @classmethod
    def of(cls, card: report.ModelCard, folder: Path | str | None = None) -> ModelRef:
        return cls(str(folder or weights_dir()), card.id, card.sha256)

    def __str__(self) -> str:
        return f"{self.folder}/{self.id}@{self.sha256}"


def load(ref: ModelRef):
    return MODELS.get(str(ref), lambda: autoencoder.load_pretrained(ref.id, Path(ref.folder)))


def load_model(card: report.ModelCard):
    return load(ModelRef.of(card))


def analysis_key(card: report.ModelCard, input_key: str) -> str:
    """Where the slider's result of `card` on this input is kept (result_key at step 1)."""
    return result_key(ModelRef.of(card), input_key)


# ---------------------------------------------------------------------------------------
# Waiting: here, or in this visitor's turn on the lane

def _session() -> str | None:
    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else None


def queue_words(ahead: int) -> str:
    return (f"{ahead} picture{'s' if ahead != 1 else ''} ahead of yours: the server runs one model at a time, "
            "and visitors take turns.")


def in_turn(store: Results, key: str, compute: Callable[[], Any], spinner: str | None = None) -> Any:
    """A model run on the lane, in this visitor's turn: at once if kept (or joined when another
    visitor's run of it is in progress); otherwise under a spinner, with the visitor's place
    ("2 pictures ahead of yours") shown here while others' runs go first. Streamlit stops a
    script run whose visitor has moved on at its next yield point; the wait has one every
    tick, so a picture nobody waits for any more leaves the queue."""
    session = _session()
    if store.ready(key):
        return store.get(key, compute, lane=True, session=session)
    place, said = st.empty(), [0]

    def on_wait(ahead: int) -> None:  # in this script thread, every results.WAIT_TICK_S
        if ahead == said[0]:
            _ = "_" in st.session_state  # a yield point that sends nothing
            return
        said[0] = ahead
        if ahead:
            place.info(queue_words(ahead), icon=":material/hourglass_top:")
        else:
            place.empty()

    with st.spinner(spinner) if spinner else contextlib.nullcontext():
        value = store.get(key, compute, lane=True, session=session, on_wait=on_wait)
    place.empty()
    return value


def _here(store: Results, key: str, compute: Callable[[], Any], spinner: str | None = None) -> Any:
    """Computed in this script run (not a model run), under a spinner unless kept."""
    if spinner is None or store.ready(key):
        return store.get(key, compute)
    with st.spinner(spinner):
        return store.get(key, compute)


# ---------------------------------------------------------------------------------------
# One model on one image: what the slider shows

@dataclass(frozen=True)
class Shown:
    """One model on one image and the PNG of its reconstruction: what a slider move needs,
    computed together (ahead of time for the gallery and the slider's neighbours); or the codec
    file the rate control chose, at its quantization step."""
    analysis: pipeline.Analysis
    reconstruction_png: bytes
    key: str  # names this result in every store (its pictures, downloads, equal-bytes files): result_key
    step: float = 1.0  # a codec file's quantization step Δ (1: as the model was trained)
    asked: report.RateTarget | None = None  # the rate control's target, for a file it chose
    note: str | None = None  # why that file is not at the target (rate.Choice.note)

    @property
    def name(self) -> str:
        """What labels call it: the model, and the step of a file at another step ('codec-c16-hp Δ1.223')."""
        return self.analysis.model_id if self.step == 1 else f"{self.analysis.model_id} Δ{self.step:.4g}"

    @property
    def slug(self) -> str:
        """Its part of a download's file name: 'codec-c16-hp', 'codec-c16-hp_step1.223'."""
        return self.analysis.model_id if self.step == 1 else f"{self.analysis.model_id}_step{self.step:.4g}"

    @property
    def nbytes(self) -> int:
        """What it adds to memory: all but its input image, which the upload or photo holds."""
        return nbytes({k: v for k, v in vars(self.analysis).items() if k != "original"}) + len(self.reconstruction_png)


def result_key(ref: ModelRef, input_key: str, step: float = 1.0) -> str:
    """A model's file (or 8-bit latent) of one input: at step 1 the slider's result; at another
    quantization step a file of its own."""
    key = f"{ref}/{input_key}"
    return key if step == 1 else f"{key}/step {aez.step_code(step)}"


def _shown(ref: ModelRef, input_key: str, image: np.ndarray) -> Shown:
    analysis = pipeline.analyse(load(ref), ref.id, image)
    return Shown(analysis, views.display_png(analysis.reconstruction), result_key(ref, input_key))


def analyses_for(input_key: str) -> Results:
    """Where a model's result on this input lives: the gallery's store (computed ahead, kept),
    or the uploads' (least recently used dropped)."""
    return GALLERY if input_key in gallery_keys() else ANALYSES


def shown_analysis(card: report.ModelCard, input_key: str, image: np.ndarray) -> Shown:
    """One model on one image, shared by every session."""
    ref = ModelRef.of(card)
    return in_turn(analyses_for(input_key), analysis_key(card, input_key), lambda: _shown(ref, input_key, image),
                   f"Running {card.id}…")


def rate_key(rungs: list[report.ModelCard], input_key: str, target: report.RateTarget) -> str:
    asked = f"{target.num_bytes} B" if target.num_bytes is not None else f"quality {target.quality}"
    return f"rate/{'+'.join(str(ModelRef.of(c)) for c in rungs)}/{input_key}/{asked}"


def _rate_file(refs: list[ModelRef], input_key: str, target: report.RateTarget, image: np.ndarray) -> Shown:
    by_id = {r.id: r for r in refs}

    def loaded(model_id: str):  # the app's loaded model, shared and never changed: an encoder pass reads it
        model = load(by_id[model_id])
        return model, model.weights_sha256

    choice = rate.compress_to(image, target_bytes=target.num_bytes, quality=target.quality, models=list(by_id),
                              load=loaded)
    analysis = pipeline.file_analysis(choice.model_id, image, choice.compressed)
    return Shown(analysis, views.display_png(analysis.reconstruction),
                 result_key(by_id[choice.model_id], input_key, choice.step), choice.step, target, choice.note)


def rate_file(rungs: list[report.ModelCard], input_key: str, target: report.RateTarget, image: np.ndarray) -> Shown:
    """The codec file of `image` the rate control makes for `target` (rate.compress_to over the
    models `rungs`: one encoder pass per model tried), shared by every session. ValueError from
    compress_to (a bad target or image) is raised, not kept."""
    refs = [ModelRef.of(c) for c in rungs]
    return in_turn(ANALYSES, rate_key(rungs, input_key, target), lambda: _rate_file(refs, input_key, target, image),
                   f"Finding the file for {target.asked}…")


def ready(card: report.ModelCard, input_key: str, rungs: list[report.ModelCard],
          target: report.RateTarget | None) -> bool:
    """Whether what the page is about to show is kept (nothing runs for it): the rate control's
    file for `target`, else `card` on this input."""
    if target is not None:
        return ANALYSES.ready(rate_key(rungs, input_key, target))
    return analyses_for(input_key).ready(analysis_key(card, input_key))


def prefetch_neighbours(cards: list[report.ModelCard], card: report.ModelCard, input_key: str,
                        image: np.ndarray) -> None:
    """Queue what the next move most likely shows: the models next to `card` on its slider, then
    the first model of each other family that sees the same input (a family switch); they run
    once no script run is busy, the neighbours first. The first page also starts the gallery."""
    start_gallery(cards)
    store = analyses_for(input_key)
    options = report.family_cards(cards, card.family)
    here = options.index(card)
    others = [report.default_card(report.family_cards(cards, f)) for f in sorted({c.family for c in cards})
              if f != card.family]
    guesses = [c for c in others if c.any_size == card.any_size]
    guesses += [c for c in reversed(options[max(0, here - 1) : here + 2]) if c is not card]
    for guess in guesses:  # the last queued runs first
        ref = ModelRef.of(guess)
        store.prefetch(result_key(ref, input_key), lambda r=ref: _shown(r, input_key, image))


# ---------------------------------------------------------------------------------------
# Pictures

def _png(store: Results, key: str, picture: Callable[[], np.ndarray], min_side: int = views.DISPLAY_MIN_SIDE) -> bytes:
    return store.get(f"{key} png{min_side}", lambda: views.display_png(picture(), min_side))


def shown_png(key: str, picture: Callable[[], np.ndarray], min_side: int = views.DISPLAY_MIN_SIDE) -> bytes:
    """views.display_png of the picture `picture()` makes, which `key` names uniquely: made
    and encoded once, not on every rerun."""
    return _png(PICTURES, key, picture, min_side)


def pictures_of(input_key: str, shown: Shown) -> dict[str, Callable[[], bytes]]:
    """The PNGs the page may show of one analysis, each made (and kept) when first drawn."""
    a, key = shown.analysis, shown.key
    originals = GALLERY if input_key in gallery_keys() else PICTURES
    pictures = {
        "original": lambda: _png(originals, f"{input_key}/original", lambda: a.original),
        "reconstruction": lambda: shown.reconstruction_png,
        "error": lambda: shown_png(f"{key}/error", lambda: views.error_map(a.original, a.reconstruction)),
    }
    if a.bits_map is not None:
        pictures["bits"] = lambda: shown_png(f"{key}/bits", lambda: views.bits_image(a.bits_map))
    return pictures


# ---------------------------------------------------------------------------------------
# The gallery, computed ahead

@dataclass(frozen=True)
class GalleryInput:
    photo: str  # its gallery name
    any_size: bool  # True: the photo as conv and codec models see it; False: its 64×64 centre (dense, notebook)
    image: np.ndarray
    key: str  # report.image_key(image): the key the page computes for the same pixels


def gallery_image(name: str) -> np.ndarray:
    return GALLERY.get(f"photo/{name}", lambda: load_gallery_image(name))


def gallery_thumbnail(name: str) -> bytes:
    return GALLERY.get(f"thumbnail/{name}", lambda: report.png_bytes(center_square(gallery_image(name),
                                                                                   THUMBNAIL_SIDE)))


def _gallery_inputs() -> tuple[GalleryInput, ...]:
    inputs = []
    for photo in GALLERY_PHOTOS:
        for any_size in (True, False):
            image = report.model_input(gallery_image(photo.name), any_size, notebook=False).image
            inputs.append(GalleryInput(photo.name, any_size, image, report.image_key(image)))
    return tuple(inputs)


def gallery_inputs() -> tuple[GalleryInput, ...]:
    """What a model sees of each gallery photo (with the notebook view off, and on), with its key."""
    return GALLERY.get("inputs", _gallery_inputs)


def gallery_keys() -> set[str]:
    return {i.key for i in gallery_inputs()}


def gallery_tasks(cards: list[report.ModelCard], inputs: tuple[GalleryInput, ...],
                  folder: Path | str | None = None) -> Iterator[tuple[Results, str, Callable[[], Any]]]:
    """What start_gallery computes, in the order a room asks for it: each photo's picture; then
    family by family (as the page lists them), from the slider's default model outwards, each
    model on every photo; last, conv and codec models on the 64×64 centres (the notebook view)."""
    for i in inputs:
        yield GALLERY, f"{i.key}/original png{views.DISPLAY_MIN_SIDE}", lambda i=i: views.display_png(i.image)
    families = [f for f in MODEL_FAMILIES if any(c.family == f for c in cards)]
    ranked = []
    for rank, family in enumerate(families):
        options = report.family_cards(cards, family)
        middle = options.index(report.default_card(options))
        ranked += [((rank, abs(n - middle), n), card) for n, card in enumerate(options)]
    ordered = [card for _, card in sorted(ranked, key=lambda r: r[0])]
    for notebook in (False, True):
        for card in ordered:
            if notebook and not card.any_size:
                continue  # a dense model sees the centre either way: done in the first pass
            ref = ModelRef.of(card, folder)
            for i in inputs:
                if i.any_size == (card.any_size and not notebook):
                    yield GALLERY, result_key(ref, i.key), lambda r=ref, i=i: _shown(r, i.key, i.image)


_gallery_work: dict[str, Background] = {}  # weights folder → its gallery work
_gallery_lock = threading.Lock()


def start_gallery(cards: list[report.ModelCard]) -> Background:
    """Compute the gallery × every model of `cards` ahead, in the background, once per weights
    folder (another folder, as in the tests, stops the work for the one before; coming back
    starts it again, and what was kept is not computed twice). The server log says when it is
    done (GALLERY_READY)."""
    folder = str(weights_dir())
    with _gallery_lock:
        work = _gallery_work.get(folder)
        if work is None or work.stopped:
            for other in _gallery_work.values():
                other.stop(timeout=0)
            freeze_heap()
            work = _gallery_work[folder] = Background(gallery_tasks(cards, gallery_inputs(), folder),
                                                      name="gallery-ahead", on_done=_say_ready).start()
    return work


def freeze_heap() -> None:
    """Take what is alive now out of the garbage collector's sight (gc.freeze). Streamlit runs
    a full collection after every script run (runner.postScriptGC), holding the GIL while it
    walks every object: 0.19 s with torch, Streamlit and the models loaded, during which no
    session's run goes on and no message goes out (a precomputed slider move waited for it,
    not for its 0.02 s run). What is alive at the first page and when the gallery is done
    (modules, models, the gallery) lives as long as the server; after the freeze a collection
    walks only what runs made since (~1 ms). Garbage is collected first, so none is kept."""
    gc.collect()
    gc.freeze()


def _say_ready(work: Background) -> None:
    if work.stopped:
        return
    freeze_heap()
    bound = ", stopped at the store's byte bound" if work.full else ""
    print(f"{GALLERY_READY}: {work.done} results{bound}, {work.failed} failed; {GALLERY.nbytes / MB:.0f} MB kept; "
          f"{work.seconds:.1f} s", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# What the tabs compute

def uploaded_image(file_id: str, data: bytes) -> report.Upload:
    # ImageError is raised (so not kept) and shown to the user
    return _here(INPUTS, f"upload/{file_id}", lambda: report.decode_upload(data), "Reading the image…")


def equal_bytes_of(input_key: str, budget: int, codec: str, image: np.ndarray) -> report.EqualBytes:
    return _here(INPUTS, f"{input_key}/{codec} within {budget} B", lambda: report.equal_bytes(image, budget, codec),
                 "Encoding the same bytes as each classical codec…")


def codec_at_quality(input_key: str, codec: str, quality: int, image: np.ndarray) -> baselines.Encoded:
    """One codec file of the image at one quality (a swipe side's quality slider)."""
    return _here(INPUTS, f"{input_key}/{codec} at quality {quality}",
                 lambda: baselines.pillow_roundtrip(image, codec, quality), "Encoding…")


def codec_curve(input_key: str, codec: str, image: np.ndarray) -> list[report.RatePoint]:
    return _here(INPUTS, f"{input_key}/{codec} ladder", lambda: report.codec_points(image, codec))


def compared_model(card: report.ModelCard, input_key: str, image: np.ndarray) -> report.RatePoint:
    ref = ModelRef.of(card)
    return in_turn(RUNS, f"{ref}/{input_key}/compared",
                   lambda: report.rate_point(pipeline.analyse(load(ref), ref.id, image, full_scores=False)))


def download_bytes(shown: Shown) -> tuple[bytes, bytes]:
    """The reconstruction as PNG and the latent as .npy, for the Files tab's downloads."""
    a = shown.analysis
    return PICTURES.get(f"{shown.key}/downloads", lambda: (report.png_bytes(a.reconstruction), report.npy_bytes(a.latent)))


def decoded_file(file_id: str, data: bytes) -> report.DecodedFile:
    # AezError / CodecError are raised, not kept, and shown
    return in_turn(RUNS, f"aez/{file_id}", lambda: report.decode_aez(data), "Decoding the .aez file…")


def denoised_of(key: str, sigma: float, card: report.ModelCard, image: np.ndarray) -> uses.Denoised:
    ref = ModelRef.of(card)
    return in_turn(RUNS, f"{key}/denoised at {sigma}", lambda: uses.denoise(load(ref), image, sigma),
                   "Adding noise and denoising…")


def anomaly_of(key: str, defect: str | None, card: report.ModelCard, image: np.ndarray,
               calibration: uses.Calibration | None) -> tuple[np.ndarray, uses.Anomaly, uses.Verdict | None]:
    """(the image scored, its anomaly score and map, the calibrated verdict or None without a calibration)."""
    ref = ModelRef.of(card)

    def score() -> tuple[np.ndarray, uses.Anomaly, uses.Verdict | None]:
        if calibration is not None:
            verdict = uses.judge(load(ref), image, calibration, defect)
            return verdict.image, verdict.anomaly, verdict
        scored = uses.app_view(image)
        scored = uses.add_defect(scored, defect) if defect else scored
        return scored, uses.anomaly(load(ref), scored), None

    return in_turn(RUNS, f"{key}/anomaly with {defect}", score, "Scoring the image…")


def interpolation_of(key: str, steps: int, card: report.ModelCard, a: np.ndarray,
                     b: np.ndarray) -> uses.Interpolation:
    ref = ModelRef.of(card)
    return in_turn(RUNS, f"{key}/blend in {steps}", lambda: uses.interpolate(load(ref), a, b, steps),
                   "Blending the latents…")
