"""All models on this image, and the files: downloads and opening an .aez file.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

import autoencoder
from autoencoder import aez, baselines
from autoencoder.codec import CodecError
from explorer import figures, report, state, views
from explorer.state import (
    ModelRef,
    codec_curve,
    compared_model,
    decoded_file,
    download_bytes,
    shown_png,
)
from explorer.widgets import THUMBNAIL_MIN, show_png, zoom_settings


def show_comparison(cards: list[report.ModelCard], image: np.ndarray, current: str) -> None:
    """Every model the sliders offer and the classical codecs' ladders on this image: computed
    when this tab is first opened, then cached per image (zoom and slider moves do not recompute
    it). A model another one refines is left out: the same pictures for more bits, and its
    loading and run would cost this tab memory and seconds."""
    cards = [c for c in cards if not c.superseded_by]
    compared = report.comparison_image(image)
    key = report.image_key(compared.image)
    if compared.note:
        st.caption(compared.note)
    points = []
    progress = st.empty()
    for i, card in enumerate(cards):
        progress.progress(i / len(cards), text=f"Running {card.id} ({i + 1} of {len(cards)})…")
        points.append(compared_model(card, key, compared.image))
    progress.progress(1.0, text="Running the classical codecs at their quality ladders…")
    codecs = {codec: codec_curve(key, codec, compared.image) for codec in baselines.CODECS}
    progress.empty()
    kodak = report.load_kodak_eval()
    st.plotly_chart(figures.rd_figure(points, {c.id: c.family for c in cards}, codecs, kodak, current),
                    key="rd_chart")
    with st.expander("The chart as a table"):
        st.table(report.rate_table(points, {c.id: c.family for c in cards}, codecs))
    st.caption("Solid: this image (real bytes: the 8-bit latents, the codec models' .aez files, the files of "
               f"{', '.join(c.label for c in baselines.CODECS.values())}). "
               + ("Dashed and open: the mean over the Kodak set from weights/kodak-eval.json."
                  if kodak else "The Kodak reference curves appear once `python -m autoencoder eval` has written "
                                "weights/kodak-eval.json."))
    box = views.zoom_box(*compared.image.shape[:2], *zoom_settings())
    header = st.columns([1.3, 1, 1, 1])
    for column, text in zip(header, ("Model", "Reconstruction", "Error |x − x̂|", "Zoom region")):
        column.markdown(f"**{text}**")
    for card, point in zip(cards, points):
        label, picture, error, detail = st.columns([1.3, 1, 1, 1], vertical_alignment="center")
        label.markdown(f"**{card.id}**{' (on the slider)' if card.id == current else ''}  \n{card.label}")
        label.metric("PSNR", f"{point.psnr:.2f} dB")
        label.caption(f"{point.num_bytes:,} B · {point.bpp:.3f} bpp")
        name = f"{key}/{ModelRef.of(card)}/compared"
        show_png(picture, shown_png(name, lambda: views.thumbnail(point.reconstruction), THUMBNAIL_MIN),
                 f"Reconstruction by {card.id}")
        show_png(error, shown_png(f"{name}/error", lambda: views.thumbnail(
            views.error_map(compared.image, point.reconstruction)), THUMBNAIL_MIN), f"Error map of {card.id}")
        show_png(detail, views.display_png(views.crop(point.reconstruction, box), THUMBNAIL_MIN),
                 f"Zoomed region of {card.id}'s reconstruction")


def show_files(shown: state.Shown, source_name: str) -> None:
    """The downloads of the page's result (the slider's model, or the rate control's file), and
    a place to open an .aez file."""
    analysis = shown.analysis
    png, npy = download_bytes(shown)
    stem = report.file_stem(source_name, shown.slug)
    a, b, c = st.columns(3)
    a.download_button("Reconstruction (PNG)", png, f"{stem}.png", "image/png", on_click="ignore",
                      icon=":material/download:")
    b.download_button("Latent (.npy)", npy, f"{stem}_latent.npy", "application/octet-stream", on_click="ignore",
                      icon=":material/download:",
                      help=f"float32 array {analysis.latent.shape}: the latent as the decoder received it "
                           "(after rounding); load with numpy.load")
    if analysis.file is not None:
        c.download_button(f"Compressed file (.aez, {len(analysis.file):,} B)", analysis.file, f"{stem}.aez",
                          "application/octet-stream",
                          on_click="ignore", icon=":material/download:",
                          help="Decode it here (below) or with `python -m autoencoder decompress FILE -o OUT`")
    open_aez_ui()


def open_aez_ui() -> None:
    """Upload an .aez file (made here or by the CLI) and see what it decodes to."""
    upload = st.file_uploader("Open a compressed .aez file", type=["aez"], key="aez_upload")
    if upload is None:
        return
    data = upload.getvalue()
    try:
        decoded = decoded_file(upload.file_id, data)
    except (aez.AezError, CodecError, autoencoder.WeightsError) as e:
        st.error(f"**{report.plain(upload.name)}** cannot be decoded: {e}", icon=":material/error:")
        return
    h, w = decoded.image.shape[:2]
    left, right = st.columns([2, 1])
    show_png(left, views.display_png(decoded.image), f"The image decoded from {upload.name}",
             f"{report.plain(upload.name)}, decoded with {decoded.model_id}")
    right.markdown(f"**{report.plain(upload.name)}**  \n{decoded.model_id} · {w}×{h}  \n{decoded.num_bytes:,} bytes · "
                   f"{decoded.bits_per_pixel:.3f} bpp")
    right.download_button("Decoded image (PNG)", report.png_bytes(decoded.image),
                          f"{report.file_stem(upload.name, decoded.model_id)}.png", "image/png", on_click="ignore",
                          icon=":material/download:")
