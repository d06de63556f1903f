"""The other uses of an autoencoder: denoising, finding defects, interpolating.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from autoencoder import uses
from autoencoder.data import GALLERY, limit_size
from autoencoder.manifest import model_info, weights_dir
from explorer import report, views
from explorer.state import (
    ModelRef,
    anomaly_of,
    denoised_of,
    gallery_image,
    interpolation_of,
    shown_png,
)
from explorer.widgets import THUMBNAIL_MIN, show_png

USES_MAX_SIDE = 512  # the uses tabs work on the image at most this big: each answers in about a second


def show_denoising(image: np.ndarray) -> None:
    denoisers = report.model_cards(use="denoising")
    if not denoisers:
        st.info(f"No denoising model in {weights_dir()} (the shipped one is {uses.DENOISER}).", icon=":material/info:")
        return
    card = denoisers[0]
    trained_up_to = model_info(card.id).noise_sigma * 255
    sigma = st.slider("Noise σ (of 255)", 5, 50, 25, step=5, key="noise_sigma",
                      help="Gaussian noise added to every pixel value, then stored as 8 bits like a photo. "
                           f"{card.id} was trained on σ up to {trained_up_to:.0f}.")
    image = limit_size(image, USES_MAX_SIDE)[0]
    key = f"{ModelRef.of(card)}/{report.image_key(image)}/{sigma}"
    result = denoised_of(key, sigma / 255, card, image)
    best = max(("denoised", "classical"), key=result.psnr.get)
    winner = card.id if best == "denoised" else "The wavelet denoiser"
    st.markdown(f"#### {winner} comes closer to the clean image: {result.psnr[best]:.2f} dB, "
                f"from {result.psnr['noisy']:.2f} dB noisy")
    labels = {"noisy": "Noisy input", "denoised": f"Denoised by {card.id}", "classical": "Wavelet denoiser"}
    for column, (name, label) in zip(st.columns(3), labels.items()):
        show_png(column, shown_png(f"{key}/{name}", lambda n=name: getattr(result, n), THUMBNAIL_MIN),
                 f"{label}, noise σ = {sigma} of 255", f"{label} · {result.psnr[name]:.2f} dB")
    st.caption(f"PSNR against the clean image ({image.shape[1]}×{image.shape[0]} px). {card.id} is conv-c32 fine-tuned "
               "with noisy inputs and clean targets; the wavelet denoiser (scikit-image, BayesShrink) estimates σ from "
               "the image itself. `python -m autoencoder uses denoise IMAGE --sigma 25` does the same from a terminal.")


def show_anomalies(image: np.ndarray, cards: list[report.ModelCard], current: report.ModelCard) -> None:
    """Scored by uses.ANOMALY_MODEL, whose calibration (weights/anomaly-benchmark.json) gives a
    verdict: normal, unsure or anomalous; without one, by a conv model, as a bare score."""
    conv = [c for c in cards if c.kind.image_to_image]
    card = next((c for c in conv if c.id == uses.ANOMALY_MODEL), current if current in conv else None)
    card = card or (conv[0] if conv else None)
    if card is None:
        st.info(f"The anomaly score needs a conv model; none is in {weights_dir()}.", icon=":material/info:")
        return
    defect = st.segmented_control("Add a defect", uses.DEFECTS, default=None, key="defect",
                                  help="A synthetic defect at a random place: something a model trained on "
                                       "photos never learned to draw")
    calibration = uses.load_calibration(card.id)
    key = f"{ModelRef.of(card)}/{report.image_key(image)}/{defect}"
    scored, result, verdict = anomaly_of(key, defect, card, image, calibration)
    if verdict is not None:
        st.markdown(f"#### {verdict.headline()}")
        st.caption(verdict.explanation())
    else:
        st.markdown(f"#### Anomaly score {result.score:.2f}")
        st.caption(f"No calibration of {card.id}'s score in {weights_dir()}, so no verdict: "
                   "`python -m autoencoder uses anomaly-benchmark` makes one.")
    left, right = st.columns(2)
    show_png(left, shown_png(f"{key}/input", lambda: scored, THUMBNAIL_MIN), "The image scored",
             f"Input, {scored.shape[1]}×{scored.shape[0]}" + (f", with a {defect}" if defect else ""))
    # One scale for every image (the line above which a photo is called anomalous): clean stays dim.
    top = calibration.anomalous_above if calibration else None
    show_png(right, shown_png(f"{key}/map", lambda: views.anomaly_image(result.score_map, top), THUMBNAIL_MIN),
             "Anomaly map: bright where the model rebuilds the image far worse than its surroundings",
             f"{card.id}'s error, relative to its surroundings")
    st.caption(f"The score is the worst window's error ({' and '.join(f'{w}×{w}' for w in uses.SCORE_WINDOWS)} px) "
               f"of {card.id}'s reconstruction divided by the error around it, so busy texture that the model "
               "rebuilds as badly everywhere does not count as a defect; text, noise and scratches stand out from "
               f"their surroundings. Images are scored at most {uses.SCORE_SIDE} px on the longest side, the size "
               "the thresholds were set at on clean training photos (never the Kodak images).")


def show_interpolation(image: np.ndarray, card: report.ModelCard, source_name: str) -> None:
    names = [g.name for g in GALLERY]
    other = st.selectbox("Blend towards", names, index=next(i for i, n in enumerate(names) if n != source_name),
                         key="blend_towards")
    steps = st.slider("Frames", 3, 9, 5, key="blend_steps")
    side = 256 if card.any_size else report.NOTEBOOK_SIDE
    a, b = uses.same_size(image, gallery_image(other), side)
    result = interpolation_of(f"{ModelRef.of(card)}/{report.image_key(a)}/{report.image_key(b)}", steps, card, a, b)
    middle = len(result.t) // 2
    for title, path, frames in (
            (f"Decoded by {card.id} from the blended latent (1 − t)·z_a + t·z_b", "latent blend", result.latent_path),
            ("The pixels cross-faded, (1 − t)·a + t·b", "cross-fade", result.cross_fade)):
        st.markdown(f"**{title}**")
        for column, t, frame in zip(st.columns(len(frames)), result.t, frames):
            show_png(column, views.display_png(frame, 128), f"{path} at t = {t:g} from the image to {other}",
                     f"t = {t:g}")
    st.caption(f"At t = {result.t[middle]:g}, the decoded blend is {result.psnr_to_linear[middle]:.1f} dB (PSNR) from the "
               f"same blend of {card.id}'s two reconstructions: the higher, the more linear the decoder. These decoders "
               "are mostly linear (a PCA-initialised linear path plus corrections), so a blended code decodes to "
               "nearly a cross-fade; it does not morph one scene into the other. That takes a generative model "
               "trained for it.")
