"""The app's plotly figures, built from what `report` and `views` compute (no Streamlit here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from autoencoder import baselines
from autoencoder.baselines import ALL_CODECS
from autoencoder.models import MODEL_FAMILIES
from explorer.report import RatePoint
from explorer.views import LATENT_COLORSCALE, LatentGrid

PCA_COLOUR = "#7f7f7f"
# Marker shapes tell the curves apart without colour (a projector, a colour-blind reader): each
# codec's and each model family's own (baselines.CODECS, models.MODEL_FAMILIES); the Kodak
# references use the same shapes, open.
PCA_SYMBOL = "hourglass"


def _symbol(name: str | None) -> str:
    """The marker of a codec or a model family by its name."""
    if name in ALL_CODECS:
        return ALL_CODECS[name].symbol
    return MODEL_FAMILIES[name].symbol if name in MODEL_FAMILIES else "circle"


def _family_colour(family: str | None) -> str:
    return MODEL_FAMILIES[family].colour if family in MODEL_FAMILIES else "black"


def latent_figure(grid: LatentGrid, height: int = 520) -> go.Figure:
    """Heatmap of a latent grid, colours centred on zero, hover values, each conv channel's number
    in the corner of its tile."""
    limit = float(np.nanmax(np.abs(grid.colours))) or 1.0
    # The values ride along as the hover's last field, since z holds the colours.
    customdata = np.concatenate([grid.hover.astype(np.float64), grid.values[..., None]], axis=-1)
    if grid.maps:
        pooled = f" (mean of {grid.pool}×{grid.pool})" if grid.pool > 1 else ""
        hover = ("channel %{customdata[0]}<br>latent row %{customdata[1]}, column %{customdata[2]}"
                 f"<br>value %{{customdata[3]:.3f}}{pooled}<extra></extra>")
    else:
        hover = ("code value #%{customdata[0]} (row %{customdata[1]}, column %{customdata[2]})"
                 "<br>value %{customdata[3]:.3f}<extra></extra>")
    figure = go.Figure(go.Heatmap(
        z=grid.colours, customdata=customdata, hovertemplate=hover, hoverongaps=False,
        colorscale=LATENT_COLORSCALE, zmid=0, zmin=-limit, zmax=limit,
        colorbar=dict(title="÷ channel max" if grid.per_channel else "value", thickness=14),
    ))
    for channel, top, left in grid.tiles:
        # The channel's number in its tile's top-left corner, on a white tab so any colour reads.
        figure.add_annotation(x=left - 0.5, y=top - 0.5, text=str(channel), showarrow=False, xanchor="left",
                              yanchor="top", font=dict(size=11, color="black"), bgcolor="rgba(255,255,255,0.8)",
                              borderpad=1)
    figure.update_xaxes(visible=False, constrain="domain")
    # Square cells, row 0 at the top, as in the image.
    figure.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    figure.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="rgba(0,0,0,0)")
    return figure


def rd_figure(models: Sequence[RatePoint], families: Mapping[str, str], codecs: Mapping[str, Sequence[RatePoint]],
              kodak: Mapping | None, current: str | None = None) -> go.Figure:
    """Rate–distortion: PSNR against bits per pixel (log scale) for this image's models and
    codec ladders, with the mean Kodak curves of `python -m autoencoder eval` where given.

    families: model id → its family's name (marker colour and shape); current: the model on the slider.
    """
    figure = go.Figure()
    for codec, points in codecs.items():
        c = baselines.CODECS[codec]
        figure.add_trace(go.Scatter(
            x=[p.bpp for p in points], y=[p.psnr for p in points], mode="lines+markers",
            name=f"{c.label} (this image)", line=dict(color=c.colour),
            marker=dict(symbol=_symbol(codec), size=9),
            customdata=[[p.quality, p.num_bytes] for p in points],
            hovertemplate=f"{c.label} quality %{{customdata[0]}}<br>%{{customdata[1]:,}} B, "
                          "%{x:.3f} bpp<br>%{y:.2f} dB<extra></extra>",
        ))
    for family in sorted({families[p.name] for p in models}):
        points = [p for p in models if families[p.name] == family]
        figure.add_trace(go.Scatter(
            x=[p.bpp for p in points], y=[p.psnr for p in points], mode="markers+text",
            name=f"{family} models (this image)", text=[p.name for p in points], textposition="top center",
            marker=dict(color=_family_colour(family), symbol=_symbol(family),
                        size=[16 if p.name == current else 10 for p in points],
                        line=dict(width=[3 if p.name == current else 0 for p in points], color="black")),
            customdata=[p.num_bytes for p in points],
            hovertemplate="%{text}<br>%{customdata:,} B, %{x:.3f} bpp<br>%{y:.2f} dB<extra></extra>",
        ))
    if kodak:
        _add_kodak(figure, kodak)
    ticks = [0.0625, 0.125, 0.25, 0.5, 1, 2, 4, 8, 16]
    figure.update_xaxes(type="log", title="bits per pixel (log scale)", tickvals=ticks,
                        ticktext=[f"{t:g}" for t in ticks])
    figure.update_yaxes(title="PSNR (dB)")
    figure.update_layout(height=480, margin=dict(l=10, r=10, t=30, b=10), hovermode="closest",
                         legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return figure


def _add_kodak(figure: go.Figure, kodak: Mapping) -> None:
    """The eval JSON's means as dashed lines and open markers: the reference this image is read against."""
    n = kodak.get("images", "?")
    for codec, c in baselines.CODECS.items():
        rows = [r for r in kodak.get(codec, []) if r.get("psnr") is not None]
        if rows:
            figure.add_trace(go.Scatter(
                x=[r["bpp"] for r in rows], y=[r["psnr"] for r in rows], mode="lines+markers",
                name=f"{c.label} (Kodak, {n} images)", line=dict(color=c.colour, dash="dash"),
                marker=dict(symbol=f"{_symbol(codec)}-open", size=7),
                opacity=0.6, hovertemplate=f"{c.label} on Kodak<br>%{{x:.3f}} bpp, %{{y:.2f}} dB<extra></extra>",
            ))
    rows = [r for r in kodak.get("block_pca", []) if r.get("psnr_8bit") is not None]
    if rows:
        figure.add_trace(go.Scatter(
            x=[r["bpp_8bit"] for r in rows], y=[r["psnr_8bit"] for r in rows], mode="lines+markers",
            name=f"block-PCA (Kodak, {n} images)", line=dict(color=PCA_COLOUR, dash="dot"), opacity=0.6,
            marker=dict(symbol=PCA_SYMBOL, size=8),
            text=[f"C = {r['channels']}" for r in rows],
            hovertemplate="block-PCA %{text} on Kodak<br>%{x:.3f} bpp, %{y:.2f} dB<extra></extra>",
        ))
    rows = [r for r in kodak.get("codecs", []) if r["ladder"]]
    coded = next((name for name, f in MODEL_FAMILIES.items() if f.entropy_coded), None)  # the family of the ladder
    if rows and coded:
        figure.add_trace(go.Scatter(
            x=[r["bpp"] for r in rows], y=[r["psnr"] for r in rows], mode="lines+markers",
            name=f"codec ladder (Kodak, {n} images, real files)", text=[r["id"] for r in rows],
            line=dict(color=MODEL_FAMILIES[coded].colour, dash="dash"), marker=dict(symbol=f"{_symbol(coded)}-open", size=9),
            opacity=0.7, hovertemplate="%{text} on Kodak<br>%{x:.3f} bpp, %{y:.2f} dB<extra></extra>",
        ))
    rows = [r for r in kodak.get("models", []) if r.get("psnr_8bit") is not None]
    if rows:
        figure.add_trace(go.Scatter(
            x=[r["bpp_8bit"] for r in rows], y=[r["psnr_8bit"] for r in rows], mode="markers",
            name=f"models (Kodak, {n} images)", text=[r["id"] for r in rows],
            marker=dict(symbol=[f"{_symbol(r.get('family'))}-open" for r in rows], size=11, line=dict(width=2),
                        color=[_family_colour(r.get("family")) for r in rows]),
            hovertemplate="%{text} on Kodak<br>%{x:.3f} bpp, %{y:.2f} dB<extra></extra>",
        ))
