"""The page's controls and the numbers beside the pictures; each *_ui() returns plain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import streamlit as st

from autoencoder.data import ACCEPTED, GALLERY, MAX_DECODE_PIXELS, ImageError
from autoencoder.models import MODEL_FAMILIES
from explorer import report, views
from explorer.state import analyses_for, analysis_key, gallery_image, gallery_thumbnail, uploaded_image

THUMBNAIL_MIN = 256  # compare-all pictures: small ones enlarged to this, large ones cut to views.THUMBNAIL_MAX


ZOOM_DEFAULTS = {"zoom_x": 50, "zoom_y": 50, "zoom": 4}  # widget key → value until the Zoom tab moves it

# The two uploaders: the sidebar's, and the compact picker's at the top of the page, which
# narrow screens show instead of the sidebar (collapsed there). The last one used is the upload.
UPLOADERS = ("upload", "upload_top")
PICKER = "picker"  # the compact picker's popover (its key: st.session_state[PICKER] is whether it is open)


@dataclass(frozen=True)
class Source:
    kind: str  # "upload" or "gallery"
    name: str  # file name or gallery name
    upload: object | None  # the UploadedFile; None for a gallery photo, or while its uploader is between files


def pick_gallery(name: str) -> None:
    st.session_state.gallery = name
    st.session_state.source = "gallery"
    st.session_state[PICKER] = False  # a phone sees the picture it chose, not the picker


def pick_gallery_pill() -> None:
    if st.session_state.get("gallery_pills"):
        pick_gallery(st.session_state.gallery_pills)


def back_to_upload() -> None:
    st.session_state.source = "upload"
    st.session_state[PICKER] = False


def upload_changed(key: str) -> None:
    """A file arrived: show it. A file taken out changes nothing on screen: replacing a file
    empties the uploader (one run) before the new one is in, and that run must not flash the
    gallery photo; the last picture stays until another is chosen."""
    if st.session_state.get(key) is not None:
        st.session_state.source = "upload"
        st.session_state.uploader = key
        st.session_state[PICKER] = False


def _uploader(key: str, where) -> None:
    where.file_uploader(
        "Upload a picture", type=list(report.UPLOAD_TYPES), key=key, on_change=upload_changed, args=(key,),
        help=f"{ACCEPTED}, or an .aez file made here; up to {st.get_option('server.maxUploadSize')} MB and "
             f"{MAX_DECODE_PIXELS / 1e6:g} megapixels. EXIF rotation is applied; transparency is shown "
             "on white; grayscale, palette, CMYK and 16-bit images are converted to RGB.",
    )


def _back_button(where, upload, source: str, key: str) -> None:
    if upload is not None and source == "gallery":
        where.button(f"Back to {report.plain(upload.name)}", key=key, on_click=back_to_upload,
                     icon=":material/undo:", width="stretch")


def input_ui() -> Source:
    """The image: upload or gallery, in the sidebar (wide screens) and in a compact picker at the
    top of the page (narrow screens, where the sidebar starts collapsed); a way back to the
    upload after a gallery pick."""
    st.session_state.setdefault("gallery", report.DEFAULT_IMAGE)
    st.session_state.setdefault("source", "gallery")
    upload = st.session_state.get(st.session_state.get("uploader", UPLOADERS[0]))
    kept = st.session_state.get("kept_upload")  # (name, report.Upload) of the last upload shown
    showing_upload = st.session_state.source == "upload" and (upload is not None or kept is not None)
    shown_name = (upload.name if upload is not None else kept[0]) if showing_upload else st.session_state.gallery

    with st.container(key="top_picker"):  # hidden on wide screens (views.PAGE_CSS)
        with st.popover(f"Image: {report.plain(shown_name)}", key=PICKER, on_change="rerun",
                        icon=":material/image:", width="stretch"):
            _uploader(UPLOADERS[1], st)
            _back_button(st, upload, st.session_state.source, "back_to_upload_top")
            st.session_state.gallery_pills = st.session_state.gallery if not showing_upload else None
            st.pills("…or a sample photo", [g.name for g in GALLERY], key="gallery_pills",
                     on_change=pick_gallery_pill)
    with st.sidebar:
        st.header("Image")
        _uploader(UPLOADERS[0], st)
        _back_button(st, upload, st.session_state.source, "back_to_upload")
        st.subheader("…or pick a sample photo")
        columns = st.columns(2)
        for i, entry in enumerate(GALLERY):
            with columns[i % 2]:
                st.image(gallery_thumbnail(entry.name), output_format="PNG", alt=f"Sample photo: {entry.name}")
                current = not showing_upload and st.session_state.gallery == entry.name
                st.button(entry.name, key=f"gallery_{i}", on_click=pick_gallery, args=(entry.name,), wrap=True,
                          type="primary" if current else "secondary", width="stretch", help=entry.credit)
    if showing_upload:
        return Source("upload", shown_name, upload)
    return Source("gallery", st.session_state.gallery, None)


def measured_bpp(cards: list[report.ModelCard], input_key: str) -> dict[str, float]:
    """Bits per pixel of the codec models already run on this input (shared store; nothing is
    computed here): the slider then labels them by this image's bytes, not the Kodak mean."""
    analyses = analyses_for(input_key)
    found = {}
    for card in (c for c in cards if c.kind.entropy_coded):
        key = analysis_key(card, input_key)
        if analyses.ready(key):
            try:
                found[card.id] = analyses.get(key, _not_stored).analysis.bits_per_pixel
            except LookupError:  # dropped between the two calls
                pass
    return found


def _not_stored():
    raise LookupError("not stored")


@dataclass(frozen=True)
class ModelChoice:
    """What the controls under the title chose (model_ui)."""
    card: report.ModelCard  # the slider's model
    notebook: bool  # the 64×64 view
    status: object  # the line under the slider: the page writes what is shown or running there
    rungs: list[report.ModelCard]  # the models the rate control picks from (none: the family has no rate control)
    rate: tuple[str, object] | None  # the rate control's (mode, number) when it asks for a file; None: the slider


def model_ui(cards: list[report.ModelCard], measured: Mapping[str, float], pixels: int) -> ModelChoice:
    """Family switch, bottleneck slider (each family keeps its position), the rate control of a
    family with one (report.rate_ladder: the codec models) and the notebook view. Dense models
    see 64×64 whatever the toggle says.

    `measured`: codec models' bits per pixel on this image, for those already run (the others
    show their Kodak mean, marked ~); `pixels`: how many the codec models see (the size the
    rate control starts from). The slider is drawn before the chosen model runs, so the
    one just chosen gets its measured label on the next run: a slider drawn after the run would
    be re-created by it, losing keyboard focus and, after quick moves, its position."""
    families = [f for f in MODEL_FAMILIES if f in {c.family for c in cards}]
    if st.session_state.get("family") not in families:  # its models were all left out since
        st.session_state.pop("family", None)
    left, middle, right = st.container(key="controls").columns([1.25, 4, 1.25], vertical_alignment="top")
    family = left.radio("Model family", families, format_func=lambda f: MODEL_FAMILIES[f].label, key="family",
                        help="conv models take any size; dense models take exactly 64×64 pixels; codec models "
                             "write a real compressed file")
    options = report.family_cards(cards, family)
    by_id = {c.id: c for c in options}
    if st.session_state.get(f"model_{family}") not in by_id:  # a model left out since it was picked
        st.session_state.pop(f"model_{family}", None)
    model_id = st.session_state.get(f"model_{family}", report.default_card(options).id)
    rungs = report.rate_ladder(options)
    # Under the family switch, where the column has room: the row, and so the picture, keeps its height.
    mode = left.selectbox(
        "Rate", list(report.RATE_MODES), format_func=lambda m: f"Rate: {report.RATE_MODES[m]}", key="rate_mode",
        label_visibility="collapsed", persist_state="page",
        help="Trained models: the slider's models, each at the rate it was trained for. Size, bits per pixel or "
             "quality: the real .aez file for that target, from the model and quantization step Δ that fit it "
             "best (Δ 1: as trained; above 1, fewer bytes).") if rungs else "trained"
    rate = None
    if mode != "trained":
        rate = (mode, rate_ui(middle, mode, rungs, measured.get(model_id) or by_id[model_id].nominal_bpp, pixels))
    elif len(options) == 1:
        middle.markdown(f"**Bottleneck:** {options[0].id} — {options[0].label}")
    else:
        # value: the model chosen so far, not the family's default. When a codec label changes
        # (its bits measured on this image), the browser redraws the slider at this value.
        model_id = middle.select_slider(
            "Bottleneck: narrower to the right", [c.id for c in options], value=model_id, key=f"model_{family}",
            persist_state="page",
            format_func=lambda i: by_id[i].slider_label(measured.get(i)),
        )
    status = middle.container(key="status").empty()
    notebook = right.toggle("64×64 like the original notebook", key="notebook", disabled=not MODEL_FAMILIES[family].any_size,
                            wrap=True, help="The centre square of the image, resized to 64×64, as in the notebook "
                                 "this project grew from. Dense models always see this.")
    return ModelChoice(by_id[model_id], notebook, status, rungs, rate)


RATE_QUALITY = 75  # the quality slider's start (Squoosh starts JPEG and WebP there too)
RATE_START_BPP = 0.5  # a typed target's start when the slider's model has no rate to start from (no Kodak mean)


def rate_ui(where, mode: str, rungs: list[report.ModelCard], bpp: float, pixels: int) -> object:
    """The rate control's number: a size in KB or bits per pixel (typed, any value: the page
    says why one is no target), or a quality 0…100. A number typed first starts at `bpp`, the
    slider's model's bits per pixel (on this image once run), so the file shown stays about the same."""
    if mode == "quality":
        return where.slider("Quality: higher is more bytes", 0, 100, RATE_QUALITY, key="rate_quality",
                            persist_state="page", help="Like a JPEG quality: a model and step from the number alone, "
                                                       "the same for every image; 0 is the smallest file, 100 the largest.")
    low, high = rungs[0].nominal_bpp, rungs[-1].nominal_bpp
    bpp = bpp or RATE_START_BPP
    if mode == "bpp":
        ends = f" The trained models make {low:.2g}…{high:.2g} bpp on Kodak (their means)." if low else ""
        st.session_state.setdefault("rate_bpp", round(bpp, 3))
        return where.number_input("Bits per pixel, at most", step=0.05, format="%.3f", key="rate_bpp",
                                  persist_state="page", help=f"The file is at most this many bits per pixel.{ends}")
    ends = (f" At their Kodak means the trained models would make {report.size_text(round(low * pixels / 8))}…"
            f"{report.size_text(round(high * pixels / 8))} of these {pixels:,} pixels." if low else "")
    st.session_state.setdefault("rate_kb", max(round(bpp * pixels / 8000, 1), 0.1))
    return where.number_input("Size in KB, at most", step=1.0, format="%.1f", key="rate_kb", persist_state="page",
                              help="The file is at most this size (1 KB = 1000 B), as close to it as the codec can "
                                   f"make it.{ends}")


def rate_caption(shown, presenting: bool = False) -> str:
    """The status line's words for the rate control's file (state.Shown): its model and step, its real
    bytes and bits per pixel, and what was asked."""
    a = shown.analysis
    made = f"{a.num_bytes:,} B, {a.bits_per_pixel:.3f} bpp"
    asked = shown.asked
    if asked.num_bytes is None:
        words = f"{asked.asked}: {made}"
    elif shown.note:  # said in full beside the picture; here, by the control, in short
        end = "smallest" if a.num_bytes > asked.num_bytes else "largest"
        words = f"{made} :orange[(the {end} file of this image; {asked.asked} asked)]"
    else:
        words = f"{made} for {asked.asked}"
    details = "" if presenting or shown.step == 1 else " · Δ: the quantization step (1: as trained)"
    return f"**{shown.name}**: {words}{details}"


def model_caption(card: report.ModelCard, bpp: float | None, presenting: bool = False) -> str:
    """The status line's words for the model on screen: its id and what its code is (on a
    projector, only what a room reads)."""
    if card.kind.entropy_coded and bpp is not None:
        kodak = f" ({card.nominal_bpp:.2f} on Kodak)" if card.nominal_bpp else ""
        details = "" if presenting else f" · {card.latent_text}"
        return f"**{card.id}**: {bpp:.3f} bpp on this image{kodak}{details}"
    if presenting:
        return f"**{card.id}**: {card.latent_text}"
    return f"**{card.id}**: {card.label}"


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


def image_of(source: Source, notices) -> tuple[np.ndarray, str, report.Upload | None]:
    """The picture to show, its name and (uploads) the file as read; a broken upload is
    explained in `notices` and the last gallery pick shown instead, so the session keeps working.
    While the uploader is between files, the last upload stays on screen."""
    if source.kind == "upload":
        if source.upload is None:
            name, upload = st.session_state.kept_upload
            return upload.image, name, upload
        try:
            upload = uploaded_image(source.upload.file_id, source.upload.getvalue())
        except ImageError as e:
            fallback = st.session_state.gallery
            notices.error(f"**{report.plain(source.name)}** cannot be used: {e}. Showing “{fallback}” instead; "
                          "upload another file or pick a sample photo.", icon=":material/error:")
            return gallery_image(fallback), fallback, None
        st.session_state.kept_upload = (source.name, upload)
        return upload.image, source.name, upload
    return gallery_image(source.name), source.name, None


PRESENTED_TILES = ("PSNR", "Smaller", "Size")  # presentation mode: the three a room quotes


def show_metrics(tiles: list[views.MetricTile], quote: str, where, presenting: bool) -> None:
    """The headline tiles (one column beside the picture, two to a row on a phone), the
    quotable line under them, and every number a click away."""
    with where.container(key="tiles"):
        for tile in (t for t in tiles if t.group == "headline" and (not presenting or t.label in PRESENTED_TILES)):
            st.metric(tile.label, tile.value, tile.delta, delta_color=tile.delta_color, help=tile.help, border=True)
    where.markdown(quote, width="stretch")
    with where.popover("All numbers", icon=":material/table:", width="stretch"):
        st.markdown(views.numbers_table(tiles))


def show_png(where, png: bytes, alt: str, caption: str | None = None) -> None:
    """A PNG from views.display_png at the column's width, with its alt text. Passing
    output_format keeps Streamlit from re-encoding it (its "auto" turns PNG bytes into JPEG)."""
    where.image(png, caption=caption, alt=alt, output_format="PNG", width="stretch")
