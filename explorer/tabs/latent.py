"""The Latent view: every channel of the code as a heatmap.
"""

from __future__ import annotations

import streamlit as st

from autoencoder import pipeline
from explorer import figures, report, views
from explorer.state import load_model


@st.fragment
def show_latent(analysis: pipeline.Analysis, card: report.ModelCard, presenting: bool) -> None:
    """Reruns alone when its toggles move. A dense code is drawn as its per-patch maps."""
    facts, chart = st.columns([1, 3])
    latent = load_model(card).latent_maps(analysis.latent)  # as channel maps, whatever the family
    conv = latent.ndim == 3
    # Each channel on its own scale by default: on one shared scale most channels of a trained
    # model are near white beside the few strongest (26 of conv-c32's 32 on the astronaut).
    per_channel = conv and not facts.toggle(
        "One colour scale for all channels", key="shared_scale", wrap=True,
        help="Off (default): each channel ÷ its largest |value|, so the structure of weak channels shows. "
             "On: one colour scale for all channels, so strong and weak channels compare.")
    by_energy = conv and facts.toggle(
        "Strongest channels first", key="by_energy", wrap=True,
        help="Order the channel tiles by mean square value, largest first; the number in each tile's "
             "corner is still the channel's own.")
    grid = views.latent_grid(latent, per_channel, by_energy)
    for label, text in report.latent_facts(analysis).items():
        facts.markdown(f"**{label}**  \n{text}")
    if not presenting:
        if grid.maps:
            pooled = f" (the mean of {grid.pool}×{grid.pool} latent values)" if grid.pool > 1 else ""
            scale = "each on its own colour scale" if per_channel else "one colour scale for all"
            facts.caption(f"{card.kind.latent_note}The {grid.channels} channel maps, numbered in their corners, {scale} (blue < 0 < red); "
                          f"each cell stands for a {grid.cell_pixels}×{grid.cell_pixels} pixel block{pooled}. "
                          "Hover for values.")
        else:
            facts.caption("The code reshaped to 2-D; neighbouring cells are not neighbouring pixels.")
    chart.plotly_chart(figures.latent_figure(grid), key="latent_chart")
