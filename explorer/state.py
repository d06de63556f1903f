"""The app's caches, in one place: models and results shared by every session (explorer.results),
and the PNGs, uploads, codec files and uses computed for the page, each keyed by model id +
weights sha256 (a retrained file is a different model) and the hash of the exact pixels a model sees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

import autoencoder
from autoencoder import baselines, pipeline, uses
from autoencoder.data import center_square, load_gallery_image
from autoencoder.pretrained import weights_dir
from explorer import report, views
from explorer.results import app_stores

RESULT_TTL = "1h"  # results of an image nobody looks at any more are dropped after an hour


THUMBNAIL_SIDE = 120


def model_key(card: report.ModelCard) -> str:
    """The folder is part of the key: the same id and sha256 elsewhere is checked (and loaded) anew."""
    return f"{weights_dir()}/{card.id}@{card.sha256}"


def load_model(card: report.ModelCard):
    models, _ = app_stores()
    return models.get(model_key(card), lambda: autoencoder.load_pretrained(card.id))


def analysis_key(card: report.ModelCard, input_key: str) -> str:
    return f"{model_key(card)}/{input_key}"


@dataclass(frozen=True)
class Shown:
    """One model on one image and the PNG of its reconstruction: what a slider move needs,
    computed together (ahead of time, for the slider's neighbours)."""
    analysis: pipeline.Analysis
    reconstruction_png: bytes


def _shown(card: report.ModelCard, image: np.ndarray) -> Shown:
    analysis = pipeline.analyse(load_model(card), card.id, image)
    return Shown(analysis, views.display_png(analysis.reconstruction))


def shown_analysis(card: report.ModelCard, input_key: str, image: np.ndarray) -> Shown:
    """One model on one image, shared by every session; a spinner while it is computed here."""
    _, analyses = app_stores()
    key = analysis_key(card, input_key)
    if analyses.ready(key):
        return analyses.get(key, lambda: _shown(card, image))
    with st.spinner(f"Running {card.id}…"):
        return analyses.get(key, lambda: _shown(card, image))


def prefetch_neighbours(cards: list[report.ModelCard], card: report.ModelCard, input_key: str,
                        image: np.ndarray) -> None:
    """Queue what the next move most likely shows: the models next to `card` on its slider, then
    the first model of each other family that sees the same input (a family switch); they run
    once no script run is busy (autoencoder.results), the neighbours first."""
    _, analyses = app_stores()
    options = report.family_cards(cards, card.family)
    here = options.index(card)
    others = [report.default_card(report.family_cards(cards, f)) for f in sorted({c.family for c in cards})
              if f != card.family]
    guesses = [c for c in others if c.any_size == card.any_size]
    guesses += [c for c in reversed(options[max(0, here - 1) : here + 2]) if c is not card]
    for guess in guesses:  # the last queued runs first
        analyses.prefetch(analysis_key(guess, input_key), lambda g=guess: _shown(g, image))


def pictures_of(card: report.ModelCard, input_key: str, shown: Shown) -> dict[str, Callable[[], bytes]]:
    """The PNGs the page may show of one analysis, each made (and kept) when first drawn."""
    a, key = shown.analysis, analysis_key(card, input_key)
    pictures = {
        "original": lambda: shown_png(f"{input_key}/original", lambda: a.original),
        "reconstruction": lambda: shown.reconstruction_png,
        "error": lambda: shown_png(f"{key}/error", lambda: views.error_map(a.original, a.reconstruction)),
    }
    if a.bits_map is not None:
        pictures["bits"] = lambda: shown_png(f"{key}/bits", lambda: views.bits_image(a.bits_map))
    return pictures


@st.cache_data(max_entries=64, ttl=RESULT_TTL, show_spinner=False)
def shown_png(key: str, _picture: Callable[[], np.ndarray], min_side: int = views.DISPLAY_MIN_SIDE) -> bytes:
    """views.display_png of the picture `_picture()` makes, which `key` names uniquely: made
    and encoded once, not on every rerun."""
    return views.display_png(_picture(), min_side)


@st.cache_data(max_entries=8, show_spinner=False)
def gallery_image(name: str) -> np.ndarray:
    return load_gallery_image(name)


@st.cache_data(max_entries=8, show_spinner=False)
def gallery_thumbnail(name: str) -> bytes:
    return report.png_bytes(center_square(gallery_image(name), THUMBNAIL_SIDE))


@st.cache_data(max_entries=4, ttl=RESULT_TTL, show_spinner="Reading the image…")
def uploaded_image(file_id: str, _data: bytes) -> report.Upload:
    return report.decode_upload(_data)  # ImageError is raised, so not cached, and shown to the user


@st.cache_data(max_entries=24, ttl=RESULT_TTL, show_spinner="Encoding the same bytes as each classical codec…")
def equal_bytes_of(input_key: str, budget: int, codec: str, _image: np.ndarray) -> report.EqualBytes:
    return report.equal_bytes(_image, budget, codec)


@st.cache_data(max_entries=24, ttl=RESULT_TTL, show_spinner="Encoding…")
def codec_at_quality(input_key: str, codec: str, quality: int, _image: np.ndarray) -> baselines.Encoded:
    """One codec file of the image at one quality (a swipe side's quality slider)."""
    return baselines.pillow_roundtrip(_image, codec, quality)


@st.cache_data(max_entries=64, ttl=RESULT_TTL, show_spinner=False)
def compared_model(model_id: str, sha256: str, input_key: str, _card: report.ModelCard,
                   _image: np.ndarray) -> report.RatePoint:
    return report.rate_point(pipeline.analyse(load_model(_card), model_id, _image, full_scores=False))


@st.cache_data(max_entries=8, ttl=RESULT_TTL, show_spinner=False)
def codec_curve(input_key: str, codec: str, _image: np.ndarray) -> list[report.RatePoint]:
    return report.codec_points(_image, codec)


@st.cache_data(max_entries=16, ttl=RESULT_TTL, show_spinner=False)
def download_bytes(input_key: str, model_id: str, _analysis: pipeline.Analysis) -> tuple[bytes, bytes]:
    return report.png_bytes(_analysis.reconstruction), report.npy_bytes(_analysis.latent)


@st.cache_data(max_entries=4, ttl=RESULT_TTL, show_spinner="Decoding the .aez file…")
def decoded_file(file_id: str, _data: bytes) -> report.DecodedFile:
    return report.decode_aez(_data)  # AezError / CodecError are raised, not cached, and shown


@st.cache_data(max_entries=8, ttl=RESULT_TTL, show_spinner="Adding noise and denoising…")
def denoised_of(key: str, sigma: float, _card: report.ModelCard, _image: np.ndarray) -> uses.Denoised:
    return uses.denoise(load_model(_card), _image, sigma)


@st.cache_data(max_entries=8, ttl=RESULT_TTL, show_spinner="Scoring the image…")
def anomaly_of(key: str, defect: str | None, _card: report.ModelCard, _image: np.ndarray,
               _calibration: uses.Calibration | None) -> tuple[np.ndarray, uses.Anomaly, uses.Verdict | None]:
    """(the image scored, its anomaly score and map, the calibrated verdict or None without a calibration)."""
    if _calibration is not None:
        verdict = uses.judge(load_model(_card), _image, _calibration, defect)
        return verdict.image, verdict.anomaly, verdict
    scored = uses.app_view(_image)
    scored = uses.add_defect(scored, defect) if defect else scored
    return scored, uses.anomaly(load_model(_card), scored), None


@st.cache_data(max_entries=8, ttl=RESULT_TTL, show_spinner="Blending the latents…")
def interpolation_of(key: str, steps: int, _card: report.ModelCard, _a: np.ndarray,
                     _b: np.ndarray) -> uses.Interpolation:
    return uses.interpolate(load_model(_card), _a, _b, steps)
