"""Deep autoencoders for images: models, shipped weights, evaluation and the tools around them.

Public API (the app, the CLI and outside checks use exactly this):
    list_models() → ids in weights/manifest.json
    model_info(id) → that model's manifest entry (a manifest.ModelEntry)
    load_pretrained(id) → eval-mode nn.Module with .encode(x) and .decode(z)
    reconstruct(model, x) → same shape as x, in [0, 1]
    roundtrip(model, x, bits, refine_steps) → reconstruction from an 8-bit (or float) latent, optionally refined
    refine_latent(model, x, z, steps) → a better latent for the same decoder, by gradient descent
x is RGB float in [0, 1], shape (B, 3, H, W): any H, W for conv models, 64×64 for dense.
"""

from .models import MODEL_FAMILIES, ConvAutoencoder, DenseAutoencoder, build_model, crop_to, pad_to_multiple
from .pipeline import Roundtrip, reconstruct, refine_latent, roundtrip
from .manifest import WeightsError, list_models, model_info
from .pretrained import load_pretrained

__all__ = [
    "MODEL_FAMILIES", "ConvAutoencoder", "DenseAutoencoder", "Roundtrip", "WeightsError",
    "build_model", "crop_to", "list_models", "load_pretrained", "model_info",
    "pad_to_multiple", "reconstruct", "refine_latent", "roundtrip",
]
