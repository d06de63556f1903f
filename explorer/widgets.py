"""The page's controls and the numbers above the views; each *_ui() returns plain values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from autoencoder import pipeline
from autoencoder.data import ACCEPTED, GALLERY, MAX_DECODE_PIXELS, ImageError
from autoencoder.models import MODEL_FAMILIES
from explorer import report, views
from explorer.state import gallery_image, gallery_thumbnail, uploaded_image

THUMBNAIL_MIN = 256  # compare-all pictures: small ones enlarged to this, large ones cut to views.THUMBNAIL_MAX


ZOOM_DEFAULTS = {"zoom_x": 50, "zoom_y": 50, "zoom": 4}  # widget key → value until the Zoom tab moves it


@dataclass(frozen=True)
class Source:
    kind: str  # "upload" or "gallery"
    name: str  # file name or gallery name
    upload: object | None  # the UploadedFile, for uploads


def pick_gallery(name: str) -> None:
    st.session_state.gallery = name
    st.session_state.source = "gallery"


def back_to_upload() -> None:
    st.session_state.source = "upload"


def upload_changed() -> None:
    st.session_state.source = "upload" if st.session_state.upload is not None else "gallery"


def input_ui() -> Source:
    """Sidebar: upload or gallery, and a way back to the upload after a gallery pick."""
    st.session_state.setdefault("gallery", report.DEFAULT_IMAGE)
    st.session_state.setdefault("source", "gallery")
    with st.sidebar:
        st.header("Image")
        upload = st.file_uploader(
            "Upload a picture", type=list(report.UPLOAD_TYPES), key="upload", on_change=upload_changed,
            help=f"{ACCEPTED}; up to {st.get_option('server.maxUploadSize')} MB and "
                 f"{MAX_DECODE_PIXELS / 1e6:g} megapixels. EXIF rotation is applied; transparency is shown "
                 "on white; grayscale, palette, CMYK and 16-bit images are converted to RGB.",
        )
        if upload is not None and st.session_state.source == "gallery":
            st.button(f"Back to {upload.name}", key="back_to_upload", on_click=back_to_upload,
                      icon=":material/undo:", width="stretch")
        st.subheader("…or pick a sample photo")
        columns = st.columns(2)
        for i, entry in enumerate(GALLERY):
            with columns[i % 2]:
                st.image(gallery_thumbnail(entry.name), output_format="PNG", alt=f"Sample photo: {entry.name}")
                current = st.session_state.source == "gallery" and st.session_state.gallery == entry.name
                st.button(entry.name, key=f"gallery_{i}", on_click=pick_gallery, args=(entry.name,), wrap=True,
                          type="primary" if current else "secondary", width="stretch", help=entry.credit)
    if st.session_state.source == "upload" and upload is not None:
        return Source("upload", upload.name, upload)
    return Source("gallery", st.session_state.gallery, None)


def model_ui(cards: list[report.ModelCard]) -> tuple[report.ModelCard, bool]:
    """Family switch, bottleneck slider and notebook view. Returns (chosen model, notebook
    toggle); dense models see 64×64 whatever the toggle says."""
    families = [f for f in MODEL_FAMILIES if any(c.family == f for c in cards)]
    if st.session_state.get("family") not in families:  # its models were all left out since
        st.session_state.pop("family", None)
    left, middle, right = st.columns([1.3, 4, 1.3], vertical_alignment="center")
    family = left.radio("Model family", families, format_func=lambda f: MODEL_FAMILIES[f].label, key="family",
                        help="conv models take any size; dense models take exactly 64×64 pixels")
    options = report.family_cards(cards, family)
    by_id = {c.id: c for c in options}
    if st.session_state.get(f"model_{family}") not in by_id:  # a model left out since it was picked
        st.session_state.pop(f"model_{family}", None)
    if len(options) == 1:
        middle.markdown(f"**Bottleneck:** {options[0].id} — {options[0].label}")
        model_id = options[0].id
    else:
        model_id = middle.select_slider(
            "Bottleneck (left: wide, right: narrow)", [c.id for c in options],
            value=report.default_card(options).id, key=f"model_{family}",
            format_func=lambda i: by_id[i].short_label,
        )
        middle.caption(f"**{model_id}**: {by_id[model_id].label}")
    notebook = right.toggle("64×64 like the original notebook", key="notebook", disabled=family == "dense",
                            wrap=True, help="The centre square of the image, resized to 64×64, as in the notebook "
                                 "this project grew from. Dense models always see this.")
    return by_id[model_id], notebook


def zoom_ui() -> tuple[float, float, int]:
    """Where to zoom: (centre x, centre y) as fractions of the image, and the zoom factor."""
    a, b, c = st.columns(3)
    x = a.slider("Horizontal position", 0, 100, ZOOM_DEFAULTS["zoom_x"], format="%d%%", key="zoom_x") / 100
    y = b.slider("Vertical position", 0, 100, ZOOM_DEFAULTS["zoom_y"], format="%d%%", key="zoom_y") / 100
    zoom = c.select_slider("Zoom", [2, 4, 8, 16], value=ZOOM_DEFAULTS["zoom"], format_func=lambda z: f"{z}×",
                           key="zoom")
    return x, y, zoom


def zoom_settings() -> tuple[float, float, int]:
    """The zoom sliders' values wherever they are drawn (the compare views reuse them)."""
    x, y, zoom = (st.session_state.get(key, default) for key, default in ZOOM_DEFAULTS.items())
    return x / 100, y / 100, zoom


def image_of(source: Source, notices) -> tuple[np.ndarray, str, tuple[int, int] | None]:
    """The picture to show, its name and (uploads) the file's own size; a broken upload is
    explained in `notices` and the last gallery pick shown instead, so the session keeps working."""
    if source.kind == "upload":
        try:
            upload = uploaded_image(source.upload.file_id, source.upload.getvalue())
            return upload.image, source.name, upload.size
        except ImageError as e:
            fallback = st.session_state.gallery
            notices.error(f"**{source.name}** cannot be used: {e}. Showing “{fallback}” instead; upload another "
                          "file or pick a sample photo.", icon=":material/error:")
            return gallery_image(fallback), fallback, None
    return gallery_image(source.name), source.name, None


PRESENTED_TILES = ("PSNR", "SSIM", "Bytes", "Bits per pixel")  # presentation mode: the four that tell the story


def show_metrics(analysis: pipeline.Analysis, previous: dict | None, presenting: bool) -> None:
    """Two rows of four tiles; presenting, one column of the four that matter, in large type."""
    tiles = views.metric_tiles(analysis.numbers(), previous)
    if presenting:
        for tile in (t for t in tiles if t.label in PRESENTED_TILES):
            st.metric(tile.label, tile.value, tile.delta, delta_color=tile.delta_color, help=tile.help, border=True)
        return
    for group in ("quality", "size"):
        row = [t for t in tiles if t.group == group]
        for column, tile in zip(st.columns(4), row):
            column.metric(tile.label, tile.value, tile.delta, delta_color=tile.delta_color, help=tile.help,
                          border=True)


def show_png(where, png: bytes, alt: str, caption: str | None = None) -> None:
    """A PNG from views.display_png at the column's width, with its alt text. Passing
    output_format keeps Streamlit from re-encoding it (its "auto" turns PNG bytes into JPEG)."""
    where.image(png, caption=caption, alt=alt, output_format="PNG", width="stretch")
