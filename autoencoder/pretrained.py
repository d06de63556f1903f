"""Shipped weights: checked loading (sha256, no pickle) and saving. What a weights folder holds
is its manifest (manifest.py); this module loads the files an entry names.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from .files import read_regular_file, write_new
from .manifest import ModelEntry, WeightsError, model_info, weights_dir
from .models import build_model

MAX_WEIGHTS_BYTES = 256 * 1024 * 1024  # a weights file; the largest shipped one is 44 MB


def weights_path(folder: Path, entry: ModelEntry) -> Path:
    """The entry's file inside `folder`, not a link leading out of it. WeightsError (naming the
    file, not where it resolves) otherwise; read_regular_file checks what the file is."""
    path = folder / entry.file
    try:
        inside = path.resolve(strict=True).parent == folder.resolve()
    except FileNotFoundError:
        raise WeightsError(f"weights file {entry.file} for {entry.id!r} is missing") from None
    except (OSError, ValueError, RuntimeError) as e:  # a link loop (RuntimeError before Python 3.13), a bad name
        raise WeightsError(f"weights file {entry.file} for {entry.id!r} cannot be followed "
                           f"({getattr(e, 'strerror', None) or type(e).__name__})") from None
    if not inside:
        raise WeightsError(f"weights file {entry.file} for {entry.id!r} leads outside the weights folder")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_weights(model: nn.Module, path: Path, dtype: torch.dtype = torch.float32) -> str:
    """Write a .safetensors file with the family and config in its metadata; returns sha256.
    Through files.write_new: atomic (a crash leaves the old file or the new one, never half of
    one) and with the mode open() gives (safetensors' own writer makes 0600 files)."""
    # Integer tensors (a codec's coding tables and integer network) are stored exactly as they are.
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in model.state_dict().items()}
    metadata = {"family": model.family, "config": json.dumps(vars(model.config), sort_keys=True)}
    data = safetensors_bytes(tensors, metadata=metadata)
    write_new(path, data, replace=True)  # train replaces the weights of the id it trains
    return hashlib.sha256(data).hexdigest()


def load_weights_file(path: Path, family: str, config: dict, data: bytes | None = None) -> nn.Module:
    """Build the model and fill it from a safetensors file (no pickle is ever read); `data`:
    the file's bytes where the caller has read (and checked) them already."""
    try:
        state = load_file(str(path)) if data is None else load_bytes(data)
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"cannot read weights {path.name}: {e}") from e
    model = build_model(family, config)
    expected = model.state_dict()
    if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in expected):
        raise WeightsError(f"{path.name} does not hold the tensors of a {family} model with config {config}")
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except (RuntimeError, TypeError, ValueError) as e:  # e.g. a tensor of a type that cannot be copied in
        raise WeightsError(f"{path.name} holds tensors that cannot be loaded into a {family} model ({e})") from None
    # channels_last conv weights make CPU convolutions run in NHWC, ~1.5× faster for the
    # full-resolution post-filter (its 32-channel activations are large); same results up to float rounding.
    return model.eval().requires_grad_(False).to(memory_format=torch.channels_last)


def load_pretrained(model_id: str, folder: Path | None = None) -> nn.Module:
    """An eval-mode model from the shipped weights: its manifest entry checked against the
    schema, its file resolved inside the folder and checked against the entry's sha256, its
    values checked to be finite. WeightsError says what is wrong. The model carries the sha256 it
    was checked against (`model.weights_sha256`): what a codec writes into its files' headers."""
    folder = folder or weights_dir()
    entry = model_info(model_id, folder)
    path = weights_path(folder, entry)
    try:
        data = read_regular_file(path, MAX_WEIGHTS_BYTES)
    except OSError as e:
        raise WeightsError(f"weights file {entry.file} for {entry.id!r} cannot be read: {e}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != entry.sha256:
        raise WeightsError(
            f"weights file {entry.file} does not match the manifest (sha256 {actual[:12]}…, "
            f"expected {entry.sha256[:12]}…): the file is corrupt or was changed; "
            "restore it from the repository or retrain with the command in the manifest"
        )
    model = load_weights_file(path, entry.family, entry.config, data)  # the bytes just checked
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise WeightsError(f"weights file {entry.file} holds values that are not finite (NaN or infinity) "
                               f"in {name}: it would draw a black image; retrain it")
    if not probe_is_finite(model):
        raise WeightsError(f"weights file {entry.file} gives values that are not finite (NaN or infinity) on a "
                           "test image: its weights are too large to compute with; retrain it")
    model.weights_sha256 = entry.sha256
    return model


def probe_is_finite(model: nn.Module) -> bool:
    """Whether the model's reconstruction of a small test picture (a colour ramp, 64×64 or a
    dense model's own size; a few ms) is finite everywhere: weights that are each finite can
    still overflow float32 once multiplied (3e38 loads, and draws NaN)."""
    side = 64 if model.any_size else model.config.image_size
    ramp = torch.linspace(0, 1, side)
    x = torch.stack([ramp[None, :].expand(side, side), ramp[:, None].expand(side, side),
                     torch.full((side, side), 0.5)])[None]
    try:
        with torch.no_grad():
            y = model(x)
    except (RuntimeError, ValueError, OverflowError):  # an integer network that left its exact range, say
        return False
    return all(bool(torch.isfinite(t).all()) for t in (y if isinstance(y, (tuple, list)) else (y,))
               if isinstance(t, torch.Tensor))
