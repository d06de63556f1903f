"""What a deep autoencoder does to an image: `streamlit run app.py`.

Layout and widget wiring only: every computation is in autoencoder.explore (numbers, images)
and autoencoder.figures (plotly), which are unit-tested. Models are shared by every session
through st.cache_resource and never modified; results are cached per model and image hash.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

import autoencoder
from autoencoder import aez, explore, figures
from autoencoder.codec import CodecError
from autoencoder.data import GALLERY, ImageError, center_square, decode_image, load_gallery_image
from autoencoder.pretrained import weights_dir

THUMBNAIL_SIDE = 120


# ---------------------------------------------------------------------------------------
# Caches: keyed by model id + weights sha256 (a retrained file is a different model) and by
# the hash of the exact pixels the model sees; the image itself is passed unhashed (_image).

@st.cache_resource(max_entries=8, show_spinner="Loading the model…")
def load_model(model_id: str, sha256: str):
    return autoencoder.load_pretrained(model_id)


@st.cache_data(max_entries=48, show_spinner="Running the model…")
def analysis_of(model_id: str, sha256: str, input_key: str, _image: np.ndarray) -> explore.Analysis:
    return explore.analyse(load_model(model_id, sha256), model_id, _image)


@st.cache_data(max_entries=8, show_spinner=False)
def gallery_image(name: str) -> np.ndarray:
    return load_gallery_image(name)


@st.cache_data(max_entries=8, show_spinner=False)
def gallery_thumbnail(name: str) -> np.ndarray:
    return center_square(gallery_image(name), THUMBNAIL_SIDE)


@st.cache_data(max_entries=4, show_spinner="Reading the image…")
def uploaded_image(file_id: str, _data: bytes) -> np.ndarray:
    return decode_image(_data)  # ImageError is raised, so not cached, and shown to the user


@st.cache_data(max_entries=24, show_spinner="Encoding the same bytes as JPEG and WebP…")
def equal_bytes_of(input_key: str, budget: int, codec: str, _image: np.ndarray) -> explore.EqualBytes:
    return explore.equal_bytes(_image, budget, codec)


@st.cache_data(max_entries=48, show_spinner=False)
def compared_model(model_id: str, sha256: str, input_key: str, _image: np.ndarray) -> explore.RatePoint:
    return explore.model_point(load_model(model_id, sha256), model_id, _image)


@st.cache_data(max_entries=8, show_spinner=False)
def codec_curve(input_key: str, codec: str, _image: np.ndarray) -> list[explore.RatePoint]:
    return explore.codec_points(_image, codec)


@st.cache_data(max_entries=48, show_spinner=False)
def download_bytes(input_key: str, model_id: str, _analysis: explore.Analysis) -> tuple[bytes, bytes]:
    return explore.png_bytes(_analysis.reconstruction), explore.npy_bytes(_analysis.latent)


# ---------------------------------------------------------------------------------------
# Widgets: each *_ui() returns plain values

def pick_gallery(name: str) -> None:
    st.session_state.gallery = name
    st.session_state.source = "gallery"


def upload_changed() -> None:
    st.session_state.source = "upload" if st.session_state.upload is not None else "gallery"


def input_ui() -> tuple[str, str, object]:
    """Sidebar: upload or gallery. Returns (kind, name, payload): ("upload", file name,
    UploadedFile) or ("gallery", image name, None)."""
    st.session_state.setdefault("gallery", explore.DEFAULT_IMAGE)
    st.session_state.setdefault("source", "gallery")
    with st.sidebar:
        st.header("Image")
        upload = st.file_uploader(
            "Upload a picture", type=list(explore.UPLOAD_TYPES), key="upload", on_change=upload_changed,
            help="PNG, JPEG, WebP, BMP, GIF or TIFF. EXIF rotation is applied; transparency is "
                 "shown on white; grayscale, palette, CMYK and 16-bit images are converted to RGB.",
        )
        st.subheader("…or pick a sample photo")
        columns = st.columns(2)
        for i, entry in enumerate(GALLERY):
            with columns[i % 2]:
                st.image(gallery_thumbnail(entry.name), output_format="PNG")
                current = st.session_state.source == "gallery" and st.session_state.gallery == entry.name
                st.button(entry.name, key=f"gallery_{i}", on_click=pick_gallery, args=(entry.name,), wrap=True,
                          type="primary" if current else "secondary", width="stretch", help=entry.credit)
    if st.session_state.source == "upload" and upload is not None:
        return "upload", upload.name, upload
    return "gallery", st.session_state.gallery, None


def model_ui(cards: list[explore.ModelCard]) -> tuple[explore.ModelCard, bool]:
    """Family switch, bottleneck slider and notebook view. Returns (chosen model, notebook
    toggle); dense models see 64×64 whatever the toggle says."""
    families = [f for f in explore.FAMILY_LABELS if any(c.family == f for c in cards)]
    left, middle, right = st.columns([1.3, 4, 1.3], vertical_alignment="center")
    family = left.radio("Model family", families, format_func=explore.FAMILY_LABELS.get, key="family",
                        help="conv models take any size; dense models take exactly 64×64 pixels")
    options = explore.family_cards(cards, family)
    by_id = {c.id: c for c in options}
    if len(options) == 1:
        middle.markdown(f"**Bottleneck:** {options[0].id} — {options[0].label}")
        model_id = options[0].id
    else:
        model_id = middle.select_slider(
            "Bottleneck (left: wide, right: narrow)", [c.id for c in options],
            value=explore.default_card(options).id, key=f"model_{family}",
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
    x = a.slider("Horizontal position", 0, 100, 50, format="%d%%", key="zoom_x") / 100
    y = b.slider("Vertical position", 0, 100, 50, format="%d%%", key="zoom_y") / 100
    zoom = c.select_slider("Zoom", [2, 4, 8, 16], value=4, format_func=lambda z: f"{z}×", key="zoom")
    return x, y, zoom


# ---------------------------------------------------------------------------------------
# Sections

def show_images(analysis: explore.Analysis, card: explore.ModelCard) -> None:
    h, w = analysis.original.shape[:2]
    decoded_from = (f"Decoded from the {analysis.num_bytes:,} B .aez file" if analysis.file is not None
                    else "Reconstruction from the 8-bit latent")
    panels = [
        (analysis.original, f"Original · {w}×{h}"),
        (analysis.reconstruction, f"{decoded_from} · {card.id}"),
        (explore.error_map(analysis.original, analysis.reconstruction),
         f"Error |x − x̂| (mean over RGB; brightest = {explore.ERROR_MAP_MAX:.2f} = "
         f"{round(explore.ERROR_MAP_MAX * 255)}/255 or more)"),
    ]
    if analysis.bits_map is not None:
        bits, top = explore.bits_image(analysis.bits_map)
        panels.append((bits, f"Where the bits go: bits per pixel, dark = cheap, yellow = {top:.2f} bpp or more "
                             f"(mean {analysis.bits_per_pixel:.3f})"))
    columns = st.columns(len(panels))
    for column, (image, caption) in zip(columns, panels):
        column.image(explore.enlarge(image), caption=caption, output_format="PNG", width="stretch")


def show_metrics(analysis: explore.Analysis, previous: dict | None) -> None:
    tiles = explore.metric_tiles(analysis.numbers(), previous)
    for group in ("quality", "size"):
        row = [t for t in tiles if t.group == group]
        for column, tile in zip(st.columns(4), row):
            column.metric(tile.label, tile.value, tile.delta, delta_color=tile.delta_color, help=tile.help,
                          border=True)


def show_zoom(analysis: explore.Analysis) -> tuple[float, float, int]:
    """The zoom section; returns its settings for the compare-all rows."""
    st.subheader("Zoom")
    x, y, zoom = zoom_ui()
    h, w = analysis.original.shape[:2]
    box = explore.zoom_box(h, w, x, y, zoom)
    error = explore.error_map(analysis.original, analysis.reconstruction)
    where, *crops = st.columns([1, 2, 2, 2])
    where.image(explore.outline(analysis.original, box), caption="Where", output_format="PNG", width="stretch")
    names = ("Original", "Reconstruction", "Error")
    for column, image, name in zip(crops, (analysis.original, analysis.reconstruction, error), names):
        column.image(explore.enlarge(explore.crop(image, box)), output_format="PNG", width="stretch",
                     caption=f"{name} · {box.width}×{box.height} px at ({box.left}, {box.top})")
    return x, y, zoom


def show_latent(analysis: explore.Analysis, presenting: bool) -> None:
    st.subheader("The latent: everything the decoder gets")
    facts, chart = st.columns([1, 3])
    per_channel = analysis.latent.ndim == 3 and facts.toggle(
        "Colour each channel on its own scale", key="per_channel", wrap=True,
        help="Off: one colour scale for all channels, so strong and weak channels compare. "
             "On: each channel ÷ its largest |value|, to see the structure of weak channels.")
    grid = explore.latent_grid(analysis.latent, per_channel)
    for label, text in explore.latent_facts(analysis).items():
        facts.markdown(f"**{label}**  \n{text}")
    if not presenting:
        if grid.family == "conv":
            pooled = f" (the mean of {grid.pool}×{grid.pool} latent values)" if grid.pool > 1 else ""
            scale = "each on its own colour scale" if per_channel else "one colour scale for all"
            facts.caption(f"The {grid.channels} channel maps, {scale} (blue < 0 < red); each cell stands "
                          f"for a {grid.cell_pixels}×{grid.cell_pixels} pixel block{pooled}. Hover for values.")
        else:
            facts.caption("The dense code reshaped to 2-D; neighbouring cells are not neighbouring pixels.")
    chart.plotly_chart(figures.latent_figure(grid), key="latent_chart")


def show_equal_bytes(analysis: explore.Analysis, card: explore.ModelCard, input_key: str) -> None:
    budget = analysis.num_bytes
    st.subheader(f"The same {budget:,} bytes as JPEG and WebP")
    columns = st.columns(3)
    columns[0].image(explore.enlarge(analysis.reconstruction), output_format="PNG", width="stretch",
                     caption=f"{card.id}: {budget:,} B, {analysis.scores['psnr']:.2f} dB")
    for column, codec in zip(columns[1:], explore.CODECS):
        result = equal_bytes_of(input_key, budget, codec, analysis.original)
        if result.encoded is None:
            column.warning(f"No {explore.CODECS[codec]} file of this image fits in {budget:,} bytes: even "
                           f"quality 1 takes {result.smallest_bytes:,} bytes.")
        else:
            e = result.encoded
            column.image(explore.enlarge(e.decoded), output_format="PNG", width="stretch",
                         caption=f"{explore.CODECS[codec]} quality {e.quality}: {e.num_bytes:,} B, "
                                 f"{result.scores['psnr']:.2f} dB")
        column.markdown(f"**{explore.verdict(card.id, analysis.scores['psnr'], result)}**")


def show_downloads(analysis: explore.Analysis, source_name: str, input_key: str) -> None:
    png, npy = download_bytes(input_key, analysis.model_id, analysis)
    stem = explore.file_stem(source_name, analysis.model_id)
    a, b, c, _ = st.columns([1, 1, 1, 1])
    a.download_button("Reconstruction (PNG)", png, f"{stem}.png", "image/png", on_click="ignore",
                      icon=":material/download:")
    b.download_button("Latent (.npy)", npy, f"{stem}_latent.npy", "application/octet-stream", on_click="ignore",
                      icon=":material/download:",
                      help=f"float32 array {analysis.latent.shape}: the latent as the decoder received it "
                           "(after rounding); load with numpy.load")
    if analysis.file is not None:
        c.download_button("Compressed file (.aez)", analysis.file, f"{stem}.aez", "application/octet-stream",
                          on_click="ignore", icon=":material/download:",
                          help="Decode it here (below) or with `python -m autoencoder decompress FILE -o OUT`")


@st.cache_data(max_entries=4, show_spinner="Decoding the .aez file…")
def decoded_file(file_id: str, _data: bytes) -> explore.DecodedFile:
    return explore.decode_aez(_data)  # AezError / CodecError are raised, not cached, and shown


def open_aez_ui() -> None:
    """Upload an .aez file (made here or by the CLI) and see what it decodes to."""
    upload = st.file_uploader("Open a compressed .aez file", type=["aez"], key="aez_upload")
    if upload is None:
        return
    data = upload.getvalue()
    try:
        decoded = decoded_file(upload.file_id, data)
    except (aez.AezError, CodecError, autoencoder.WeightsError) as e:
        st.error(f"**{upload.name}** cannot be decoded: {e}", icon=":material/error:")
        return
    h, w = decoded.image.shape[:2]
    left, right = st.columns([2, 1])
    left.image(explore.enlarge(decoded.image), output_format="PNG", width="stretch",
               caption=f"{upload.name}, decoded with {decoded.model_id}")
    right.markdown(f"**{upload.name}**  \n{decoded.model_id} · {w}×{h}  \n{decoded.num_bytes:,} bytes · "
                   f"{decoded.bits_per_pixel:.3f} bpp")
    right.download_button("Decoded image (PNG)", explore.png_bytes(decoded.image),
                          f"{explore.file_stem(upload.name, decoded.model_id)}.png", "image/png", on_click="ignore",
                          icon=":material/download:")


def show_comparison(cards: list[explore.ModelCard], image: np.ndarray, current: str,
                    zoom: tuple[float, float, int]) -> None:
    compared = explore.comparison_image(image)
    key = explore.image_key(compared.image)
    if compared.note:
        st.caption(compared.note)
    points = []
    progress = st.progress(0.0, text="Running every model…")
    for i, card in enumerate(cards):
        points.append(compared_model(card.id, card.sha256, key, compared.image))
        progress.progress((i + 1) / len(cards), text=f"Ran {card.id}")
    progress.empty()
    box = explore.zoom_box(*compared.image.shape[:2], *zoom)
    header = st.columns([1.3, 1, 1, 1])
    for column, text in zip(header, ("Model", "Reconstruction", "Error |x − x̂|", "Zoom region")):
        column.markdown(f"**{text}**")
    for card, point in zip(cards, points):
        label, picture, error, detail = st.columns([1.3, 1, 1, 1], vertical_alignment="center")
        label.markdown(f"**{card.id}**{' (on the slider)' if card.id == current else ''}  \n{card.label}")
        label.metric("PSNR", f"{point.psnr:.2f} dB")
        label.caption(f"{point.num_bytes:,} B · {point.bpp:.3f} bpp")
        picture.image(explore.enlarge(point.reconstruction, 256), output_format="PNG", width="stretch")
        error.image(explore.enlarge(explore.error_map(compared.image, point.reconstruction), 256),
                    output_format="PNG", width="stretch")
        detail.image(explore.enlarge(explore.crop(point.reconstruction, box), 256), output_format="PNG",
                     width="stretch")
    codecs = {codec: codec_curve(key, codec, compared.image) for codec in explore.CODECS}
    kodak = explore.load_kodak_eval()
    st.plotly_chart(figures.rd_figure(points, {c.id: c.family for c in cards}, codecs, kodak, current),
                    key="rd_chart")
    st.caption("Solid: this image (real bytes: the 8-bit latents, Pillow's JPEG and WebP files). "
               + ("Dashed and open: the mean over the Kodak set from weights/kodak-eval.json."
                  if kodak else "The Kodak reference curves appear once weights/kodak-eval.json exists "
                                "(`python -m autoencoder eval`)."))


# ---------------------------------------------------------------------------------------
# The page

def main() -> None:
    st.set_page_config(page_title="What an autoencoder does to an image", page_icon="🧩", layout="wide")
    title, switch = st.columns([5, 1], vertical_alignment="center")
    presenting = switch.toggle("Presentation", key="present", bind="query-params",
                               help="Wide, large images, sidebar collapsed, less text: for talks. "
                                    "The address ?present=true opens the page this way.")
    # A second call (Streamlit allows several per run) lets the toggle collapse the sidebar.
    st.set_page_config(initial_sidebar_state="collapsed" if presenting else "expanded")
    title.title("What a deep autoencoder does to an image")

    kind, source_name, upload = input_ui()
    try:
        cards = explore.model_cards()
    except autoencoder.WeightsError as e:
        st.error(f"The model list cannot be read: {e}")
        st.stop()
    if not cards:
        st.error(f"No models in {weights_dir()}. Restore the shipped weights/ folder, or train one "
                 "(`python -m autoencoder train`, see the README).")
        st.stop()

    if not presenting:
        st.markdown(
            "An autoencoder squeezes the image through a **bottleneck** (the latent) and rebuilds it "
            "from that alone. Move the slider to narrow the bottleneck and watch what is lost. Sizes "
            f"count the latent rounded to 8 bits, and the reconstruction is decoded from exactly that; "
            "**codec** models go further and write a real compressed file (rounded latent, entropy-coded), "
            "and everything shown is decoded from that file. "
            f"Conv models see the whole image (longest side capped at {explore.MAX_SIDE} px); "
            f"dense models see a {explore.NOTEBOOK_SIDE}×{explore.NOTEBOOK_SIDE} centre square."
        )
    card, notebook = model_ui(cards)

    if kind == "upload":
        try:
            image = uploaded_image(upload.file_id, upload.getvalue())
        except ImageError as e:
            # Say what is wrong and carry on with the last gallery pick: the session keeps working.
            source_name = st.session_state.gallery
            st.error(f"**{upload.name}** cannot be used: {e}. Showing “{source_name}” instead; "
                     "upload another file or pick a sample photo.", icon=":material/error:")
            image = gallery_image(source_name)
    else:
        image = gallery_image(source_name)

    model_input = explore.model_input(image, card.any_size, notebook)
    if model_input.note:
        st.info(model_input.note, icon=":material/info:")
    input_key = explore.image_key(model_input.image)
    try:
        analysis = analysis_of(card.id, card.sha256, input_key, model_input.image)
    except autoencoder.WeightsError as e:
        st.error(f"Model {card.id} cannot be loaded: {e}")
        st.stop()
    previous = explore.previous_numbers(st.session_state.setdefault("history", {}), input_key, card.id,
                                        analysis.numbers())

    show_images(analysis, card)
    show_metrics(analysis, previous)
    if previous is None and not presenting:
        st.caption("Deltas appear when you move the slider: they compare with the model shown before.")
    zoom = show_zoom(analysis)
    show_latent(analysis, presenting)
    show_equal_bytes(analysis, card, input_key)
    st.subheader("Downloads")
    show_downloads(analysis, source_name, input_key)
    open_aez_ui()
    st.subheader("Compare all models")
    if st.toggle("Run every model on this image", key="compare_all",
                 help="Each model once (cached afterwards), plus JPEG and WebP at 12 qualities"):
        show_comparison(cards, explore.model_input(image, True, notebook).image, card.id, zoom)


main()
