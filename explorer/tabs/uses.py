"""The other uses of an autoencoder: denoising, finding defects, interpolating.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from autoencoder import uses
from autoencoder.data import GALLERY, limit_size
from autoencoder.pretrained import model_info, weights_dir
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
    trained_up_to = model_info(card.id)["noise_sigma"] * 255
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
    """Scored by uses.ANOMALY_MODEL (the model the benchmark measured), else by a conv model."""
    conv = [c for c in cards if c.family == "conv"]
    card = next((c for c in conv if c.id == uses.ANOMALY_MODEL), current if current in conv else None)
    card = card or (conv[0] if conv else None)
    if card is None:
        st.info(f"The anomaly score needs a conv model; none is in {weights_dir()}.", icon=":material/info:")
        return
    defect = st.segmented_control("Add a defect", uses.DEFECTS, default=None, key="defect",
                                  help="A synthetic defect at a random place: something a model trained on "
                                       "photos never learned to draw")
    # Scored at the size the benchmark set its threshold at: the worst window of a larger image
    # is worse by chance alone (more windows), and would flag clean photos.
    image = limit_size(image, uses.BENCHMARK_CROP)[0]
    key = f"{ModelRef.of(card)}/{report.image_key(image)}/{defect}"
    shown, result = anomaly_of(key, defect, card, image)
    benchmark = report.load_anomaly_benchmark()
    if benchmark and benchmark.get("model") != card.id:
        benchmark = None  # its threshold and AUC are another model's
    if benchmark:
        flagged = result.score >= benchmark["threshold"]
        st.markdown(f"#### Anomaly score {result.score:.4f}: {'above' if flagged else 'below'} the threshold "
                    f"{benchmark['threshold']:.4f}, so this image {'looks anomalous' if flagged else 'looks normal'}")
        by_kind = ", ".join(f"{k} {v:.2f}" for k, v in benchmark["auc_by_defect"].items())
        st.caption(f"On a generated set ({benchmark['count']} gallery crops of {benchmark['crop']}×{benchmark['crop']} "
                   f"with a defect, {benchmark['count']} without) the score separates the two with ROC AUC "
                   f"{benchmark['auc']:.3f} ({by_kind}); the threshold is the one that does best there. This image is "
                   f"scored at {image.shape[1]}×{image.shape[0]}, at most the size the threshold was set at.")
    else:
        st.markdown(f"#### Anomaly score {result.score:.4f}")
    left, right = st.columns(2)
    show_png(left, shown_png(f"{key}/input", lambda: shown, THUMBNAIL_MIN), "The image scored",
             "Input" + (f" with a {defect}" if defect else ""))
    top = 2 * benchmark["threshold"] if benchmark else None  # one scale for every image: normal stays dim
    show_png(right, shown_png(f"{key}/map", lambda: views.anomaly_image(result.window_error, top), THUMBNAIL_MIN),
             "Anomaly map: bright where the model cannot rebuild the image",
             f"{card.id}'s error, averaged over {uses.SCORE_WINDOW}×{uses.SCORE_WINDOW} windows")
    st.caption(f"The score is the mean squared error of the worst {uses.SCORE_WINDOW}×{uses.SCORE_WINDOW} window of "
               f"{card.id}'s reconstruction: a photo it rebuilds well everywhere scores low; text, noise or scratches "
               "score high, and so do busy textures (leaves, stars): the map shows where.")


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
