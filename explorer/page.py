"""The page: the image, the model, then the picture with its numbers beside it, one view at a
time in tabs that only compute when opened. Laid out to fit one screen with the slider and
the picture together: a 1280×800 projector, a laptop, a phone (views.PAGE_CSS).
"""

from __future__ import annotations

import streamlit as st

import autoencoder
from autoencoder.manifest import checked_entries, weights_dir
from explorer import report, views
from explorer.state import pictures_of, prefetch_neighbours, rate_file, ready, shown_analysis
from explorer.tabs.compare import (
    show_equal_bytes,
    show_side_by_side,
    show_swipe,
    show_zoom,
)
from explorer.tabs.latent import show_latent
from explorer.tabs.models import show_comparison, show_files
from explorer.tabs.uses import show_anomalies, show_denoising, show_interpolation
from explorer.widgets import (
    image_of,
    input_ui,
    measured_bpp,
    model_caption,
    model_ui,
    rate_caption,
    show_metrics,
)

VIEWS = ("Swipe", "Side by side", "Zoom", "Latent", "Same bytes", "All models", "Files",
         "Denoise", "Find defects", "Interpolate")

INTRO = (
    "An autoencoder squeezes the image through a **bottleneck** (the latent) and rebuilds it "
    "from that alone. Move the slider to narrow the bottleneck and watch what is lost. Sizes "
    "count the latent rounded to 8 bits, and the reconstruction is decoded from exactly that; "
    "**codec** models go further and write a real compressed file (rounded latent, entropy-coded), "
    "and everything shown is decoded from that file. "
    f"Conv models see the whole image (longest side capped at {report.MAX_SIDE} px); "
    f"dense models see a {report.NOTEBOOK_SIDE}×{report.NOTEBOOK_SIDE} centre square. "
    "The tiles beside the picture change with the slider; **All numbers** lists every score."
)


def main() -> None:
    st.set_page_config(page_title="What an autoencoder does to an image", page_icon="🧩", layout="wide")
    head = st.container(horizontal=True, vertical_alignment="center", key="head", gap="small")
    head.title("What a deep autoencoder does to an image", anchor=False)
    # Spinners of the main path (reading an upload, running a model) land here: a fixed spot in
    # the header band (views.PAGE_CSS), so nothing above the picture moves while a run works.
    busy = head.container(key="busy", width="content")
    fade = head.empty()  # the fading style while a model runs (a style takes no room)
    about = head.empty()
    presenting = head.toggle("Present", key="present", bind="query-params",
                             help="For talks on a projector (1280×800 and up): large pictures and numbers, "
                                  "sidebar collapsed. The address ?present=true opens the page this way.")
    # A second call (Streamlit allows several per run) lets the toggle collapse the sidebar;
    # "auto" keeps it collapsed on phones, where the picker at the top takes its place.
    st.set_page_config(initial_sidebar_state="collapsed" if presenting else "auto")
    if not presenting:  # no prose on a projector
        with about.popover("About", icon=":material/info:", type="tertiary"):
            st.markdown(INTRO)
    st.html(views.PAGE_CSS + (views.PRESENTATION_CSS if presenting else ""))
    st.html(views.SKIP_LINK_SCRIPT, unsafe_allow_javascript=True)

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

    notices = st.container(key="notices")  # refusals: only when there is one
    with busy:
        image, source_name, upload = image_of(source, notices)
    file_size = upload.size if upload else None
    # Codec models see the image as every conv model does: their results for it, if any are
    # stored already, label the slider with this image's bits per pixel.
    codec_input = report.model_input(image, True, st.session_state.get("notebook", False), file_size)
    measured = measured_bpp(cards, report.image_key(codec_input.image))
    chosen = model_ui(cards, measured, codec_input.image.shape[0] * codec_input.image.shape[1])
    card, notebook, status = chosen.card, chosen.notebook, chosen.status
    model_input = report.model_input(image, card.any_size, notebook, file_size)
    input_key = report.image_key(model_input.image)
    target, refused_target = None, None  # the rate control's target, or why its number is none
    if chosen.rate:
        try:
            target = report.rate_target(*chosen.rate, *model_input.image.shape[:2])
        except ValueError as e:
            refused_target = str(e)
    running = f"rate control for {target.asked}" if target else card.id

    on_screen = st.session_state.get("on_screen")  # (input key, name of the result, image name) drawn by the last run
    if ready(card, input_key, chosen.rungs, target) or not on_screen:
        if not target:
            status.caption(model_caption(card, measured.get(card.id), presenting))  # (a result at hand: no gap)
    else:
        # Until the new result is in, the old one stays, faded and named for what it is.
        before = on_screen[1] if on_screen[0] == input_key else f"{on_screen[1]} on {on_screen[2]}"
        status.markdown(f":material/hourglass_top: Running **{running}**… still showing {report.plain(before)}")
        fade.html(views.running_css(f"Showing {before} · {running} is running…"))
    try:
        with busy:
            if target:
                try:
                    shown = rate_file(chosen.rungs, input_key, target, model_input.image)
                except ValueError as e:  # rate.compress_to's refusal: the slider's model instead
                    target, refused_target = None, str(e)
            if not target:
                shown = shown_analysis(card, input_key, model_input.image)
    except autoencoder.WeightsError as e:
        broken[card.id] = f"{card.id} cannot be loaded ({e})"  # off the slider for this session, said above
        st.rerun()
    if target:
        card = next(c for c in chosen.rungs if c.id == shown.analysis.model_id)
    analysis, pictures = shown.analysis, pictures_of(input_key, shown)

    h, w = analysis.original.shape[:2]
    numbers = views.tile_numbers(analysis.numbers(), h, w)
    previous = views.previous_numbers(st.session_state.setdefault("history", {}), input_key, shown.name, numbers)
    quote = [f"**{report.smaller_text(analysis.num_bytes, h, w)}** than its pixels",
             f"{analysis.bits_per_pixel:.3f} bits per pixel"]
    versus = upload and report.versus_file(analysis.num_bytes, (w, h), upload)
    if versus:
        quote.insert(1, f"**{versus}**")

    def numbers_beside(side) -> None:
        show_metrics(views.metric_tiles(numbers, previous), " · ".join(quote), side, presenting)
        for note in (upload.note if upload else None, model_input.note):
            if note:
                side.caption(f":material/info: {note}")
        for warning in (shown.note, report.size_notice(analysis)):  # a target not met; a picture too small
            if warning:
                side.warning(warning, icon=":material/warning:")
        if left_out:
            side.warning("Left out of the model list: " + "; ".join(left_out), icon=":material/warning:")

    def shown_now() -> None:
        if refused_target:
            status.caption(f":red[:material/error: {report.plain(refused_target)}] Showing **{card.id}**, the slider's model.")
        else:
            status.caption(rate_caption(shown, presenting) if target else
                           model_caption(card, analysis.bits_per_pixel, presenting))
        fade.empty()

    draw = {
        "Swipe": lambda: show_swipe(shown, pictures, presenting),
        "Side by side": lambda: show_side_by_side(shown, pictures),
        "Zoom": lambda: show_zoom(analysis),
        "Latent": lambda: show_latent(analysis, card, presenting),
        "Same bytes": lambda: show_equal_bytes(shown, input_key, presenting),
        "All models": lambda: show_comparison(cards, report.model_input(image, True, notebook).image, card.id),
        "Files": lambda: show_files(shown, source_name),
        "Denoise": lambda: show_denoising(model_input.image),
        "Find defects": lambda: show_anomalies(model_input.image, cards, card),
        "Interpolate": lambda: show_interpolation(model_input.image, card, source_name),
    }
    with st.container(key="stage"):
        # Only the open tab runs: a view costs nothing until someone looks at it. The tabs span
        # the page (all ten fit on one line); the numbers stand beside the open view (under it
        # on a phone, where columns stack).
        for tab, view in zip(st.tabs(VIEWS, key="view", on_change="rerun"), VIEWS):
            if tab.open:
                with tab:
                    area, side = st.columns([3.3, 1], gap="medium")
                    with area:
                        draw[view]()
                    # The picture first, then its numbers beside it; then the line under the
                    # slider names the model and the fading (if any) ends: until then, nothing
                    # unfaded shows one model's name or numbers with another's picture.
                    numbers_beside(side)
                    shown_now()
    shown_now()  # (again: a no-op unless no tab was open)
    st.session_state.on_screen = (input_key, shown.name, source_name)
    prefetch_neighbours(cards, card, input_key, model_input.image)
