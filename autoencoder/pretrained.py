"""Shipped weights: the manifest, checked loading (sha256, no pickle), and saving.

weights/manifest.json is {"models": [entry, ...], "block_pca": {...}}; each entry has at
least id, family, config, latent_channels or latent_dim, ratio, file, sha256, and the
record of how it was trained and what it scores on Kodak.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .models import build_model

MANIFEST_NAME = "manifest.json"
FAMILY_ORDER = {"conv": 0, "dense": 1, "codec": 2}  # manifest order: families, then ratio (largest first)


class WeightsError(RuntimeError):
    """Shipped weights that are missing, changed or unreadable."""


def weights_dir() -> Path:
    """$AUTOENCODER_WEIGHTS, or the weights/ folder next to the package."""
    return Path(os.environ.get("AUTOENCODER_WEIGHTS", Path(__file__).resolve().parent.parent / "weights"))


def read_manifest(folder: Path | None = None) -> dict:
    path = (folder or weights_dir()) / MANIFEST_NAME
    if not path.exists():
        return {"models": []}
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise WeightsError(f"{path} is not valid JSON ({e})") from e
    if not isinstance(manifest.get("models"), list):
        raise WeightsError(f"{path} has no 'models' list")
    return manifest


def write_manifest(manifest: dict, folder: Path | None = None) -> None:
    path = (folder or weights_dir()) / MANIFEST_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(path)  # atomic: a crash never leaves half a manifest


def list_models(folder: Path | None = None) -> list[str]:
    """Model ids in the manifest, in its order (conv by ratio, then dense, then codec by ratio and λ)."""
    return [m["id"] for m in read_manifest(folder)["models"]]


def model_info(model_id: str, folder: Path | None = None) -> dict:
    """The manifest entry of one model."""
    for entry in read_manifest(folder)["models"]:
        if entry["id"] == model_id:
            return entry
    raise KeyError(f"no model {model_id!r} in the manifest; available: {list_models(folder)}")


@contextmanager
def _manifest_lock(folder: Path | None):
    """Hold an exclusive lock on the manifest's folder: trainings that run side by side (train_all.sh)
    each read, change and write the manifest, and must not lose each other's entries."""
    path = (folder or weights_dir()) / (MANIFEST_NAME + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        if fcntl is not None:  # POSIX; on Windows, run trainings that share a folder one at a time
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def update_model_entry(model_id: str, fields: dict, folder: Path | None = None, replace: bool = False) -> dict:
    """Merge `fields` into a model's manifest entry (creating it; `replace`: dropping all it held
    before), keeping the list ordered."""
    with _manifest_lock(folder):
        manifest = read_manifest(folder)
        models = manifest["models"]
        entry = next((m for m in models if m["id"] == model_id), None)
        if entry is None:
            entry = {"id": model_id}
            models.append(entry)
        if replace:
            entry.clear()
            entry["id"] = model_id
        entry.update(fields)
        models.sort(key=lambda m: (FAMILY_ORDER.get(m.get("family"), len(FAMILY_ORDER)), -m.get("ratio", 0),
                                   m.get("lmbda") or 0, m["id"]))
        write_manifest(manifest, folder)
    return entry


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_weights(model: nn.Module, path: Path, dtype: torch.dtype = torch.float32) -> str:
    """Write a .safetensors file with the family and config in its metadata; returns sha256."""
    # Integer tensors (a codec's coding tables and integer network) are stored exactly as they are.
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in model.state_dict().items()}
    metadata = {"family": model.family, "config": json.dumps(vars(model.config), sort_keys=True)}
    save_file(tensors, str(path), metadata=metadata)
    return sha256_of(path)


def load_weights_file(path: Path, family: str, config: dict) -> nn.Module:
    """Build the model and fill it from a safetensors file (no pickle is ever read)."""
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"cannot read weights {path}: {e}") from e
    model = build_model(family, config)
    expected = model.state_dict()
    if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in expected):
        raise WeightsError(f"{path} does not hold the tensors of a {family} model with config {config}")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    # channels_last conv weights make CPU convolutions run in NHWC, ~1.5× faster for the
    # full-resolution post-filter (its 32-channel activations are large); same results up to float rounding.
    return model.eval().requires_grad_(False).to(memory_format=torch.channels_last)


def load_pretrained(model_id: str, folder: Path | None = None) -> nn.Module:
    """An eval-mode model from the shipped weights, after checking the file's sha256."""
    folder = folder or weights_dir()
    entry = model_info(model_id, folder)
    path = folder / entry["file"]
    if not path.exists():
        raise WeightsError(f"weights file {path} for {model_id!r} is missing")
    actual = sha256_of(path)
    if actual != entry["sha256"]:
        raise WeightsError(
            f"weights file {path} does not match the manifest (sha256 {actual[:12]}…, "
            f"expected {entry['sha256'][:12]}…): the file is corrupt or was changed; "
            "restore it from the repository or retrain with the command in the manifest"
        )
    return load_weights_file(path, entry["family"], entry["config"])
