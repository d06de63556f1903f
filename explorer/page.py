"""The page: the image, the model, the numbers, then one view at a time in tabs that only
compute when opened.
"""

from __future__ import annotations

import streamlit as st

import autoencoder
from autoencoder.pretrained import checked_entries, weights_dir
from explorer import report, views
from explorer.state import pictures_of, prefetch_neighbours, shown_analysis
from explorer.tabs.compare import (
    show_equal_bytes,
    show_side_by_side,
    show_swipe,
    show_zoom,
)
from explorer.tabs.latent import show_latent
from explorer.tabs.models import show_comparison, show_files
from explorer.tabs.uses import show_anomalies, show_denoising, show_interpolation
from explorer.widgets import image_of, input_ui, model_ui, show_metrics

VIEWS = ("Swipe", "Side by side", "Zoom", "Latent", "Same bytes as JPEG/WebP", "All models", "Files",
         "Denoise", "Find defects", "Interpolate")


def main() -> None:
    st.set_page_config(page_title="What an autoencoder does to an image", page_icon="🧩", layout="wide")
    title, switch = st.columns([5, 1], vertical_alignment="center")
    presenting = switch.toggle("Present", key="present", bind="query-params",
                               help="For talks on a projector (1280×800 and up): large pictures and numbers, "
                                    "sidebar collapsed, less text. The address ?present=true opens the page this way.")
    # A second call (Streamlit allows several per run) lets the toggle collapse the sidebar.
    st.set_page_config(initial_sidebar_state="collapsed" if presenting else "expanded")
    if presenting:
        st.html(views.PRESENTATION_CSS)
    title.title("What a deep autoencoder does to an image")

    source = input_ui()
    try:
        cards, refused = report.model_cards(), checked_entries()[1]
    except autoencoder.WeightsError as e:
        st.error(f"The model list cannot be read: {e}. Restore weights/manifest.json from the repository.",
                 icon=":material/error:")
        st.stop()
    broken = st.session_state.setdefault("broken_models", {})  # id → why it failed to load, this session
    cards = [c for c in cards if c.id not in broken]
    left_out = refused + list(broken.values())
    if not cards:
        st.error(f"No usable models in {weights_dir()}" + (f" ({'; '.join(left_out)})" if left_out else "") +
                 ". Restore the shipped weights/ folder, or train one (`python -m autoencoder train`, see the README).",
                 icon=":material/error:")
        st.stop()

    if not presenting:
        st.markdown(
            "An autoencoder squeezes the image through a **bottleneck** (the latent) and rebuilds it "
            "from that alone. Move the slider to narrow the bottleneck and watch what is lost. Sizes "
            "count the latent rounded to 8 bits, and the reconstruction is decoded from exactly that; "
            "**codec** models go further and write a real compressed file (rounded latent, entropy-coded), "
            "and everything shown is decoded from that file. "
            f"Conv models see the whole image (longest side capped at {report.MAX_SIDE} px); "
            f"dense models see a {report.NOTEBOOK_SIDE}×{report.NOTEBOOK_SIDE} centre square."
        )
    card, notebook = model_ui(cards)
    notices = st.container()  # one fixed place for every note and refusal, above the pictures
    if left_out:
        notices.warning("Left out of the model list: " + "; ".join(left_out), icon=":material/warning:")

    image, source_name, file_size = image_of(source, notices)
    model_input = report.model_input(image, card.any_size, notebook, file_size)
    if model_input.note:
        notices.info(model_input.note, icon=":material/info:")
    input_key = report.image_key(model_input.image)
    try:
        shown = shown_analysis(card, input_key, model_input.image)
    except autoencoder.WeightsError as e:
        broken[card.id] = f"{card.id} cannot be loaded ({e})"  # off the slider for this session, said above
        st.rerun()
    analysis, pictures = shown.analysis, pictures_of(card, input_key, shown)
    too_small = report.size_notice(analysis)
    if too_small:
        notices.warning(too_small, icon=":material/warning:")
    previous = views.previous_numbers(st.session_state.setdefault("history", {}), input_key, card.id,
                                        analysis.numbers())

    if presenting:
        area, numbers = st.columns([4.2, 1])
        with numbers:
            show_metrics(analysis, previous, presenting)
    else:
        show_metrics(analysis, previous, presenting)
        if previous is None:
            st.caption("Deltas appear when you move the slider: they compare with the model shown before.")
        area = st.container()
    with area:
        # Only the open tab runs: a view costs nothing until someone looks at it.
        tabs = st.tabs(VIEWS, key="view", on_change="rerun")
        draw = {
            "Swipe": lambda: show_swipe(analysis, card, pictures, presenting),
            "Side by side": lambda: show_side_by_side(analysis, card, pictures),
            "Zoom": lambda: show_zoom(analysis),
            "Latent": lambda: show_latent(analysis, card, presenting),
            "Same bytes as JPEG/WebP": lambda: show_equal_bytes(analysis, card, input_key, presenting),
            "All models": lambda: show_comparison(cards, report.model_input(image, True, notebook).image, card.id),
            "Files": lambda: show_files(analysis, source_name, input_key),
            "Denoise": lambda: show_denoising(model_input.image),
            "Find defects": lambda: show_anomalies(model_input.image, cards, card),
            "Interpolate": lambda: show_interpolation(model_input.image, card, source_name),
        }
        for tab, view in zip(tabs, VIEWS):
            if tab.open:
                with tab:
                    draw[view]()
    prefetch_neighbours(cards, card, input_key, model_input.image)
