"""Shipped weights: the manifest, checked loading (sha256, no pickle), and saving.

weights/manifest.json is {"models": [entry, ...], "block_pca": {...}}; each entry has at
least id, family, config, latent_channels or latent_dim, ratio, file, sha256, and the
record of how it was trained and what it scores on Kodak. An entry with "use": "denoising"
(and its noise_sigma) is a denoiser: list_models() lists compression models unless asked for
another use.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import stat
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import load_file, save_file
from torch import nn

from .models import MODEL_FAMILIES, build_model

MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # the shipped one is ~0.2 MB
MAX_WEIGHTS_BYTES = 256 * 1024 * 1024  # a weights file; the largest shipped one is 44 MB
MAX_PARAMETERS = 40_000_000  # parameters and buffers of one model (160 MB in float32; the largest ships 11 M)
MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SHA256 = re.compile(r"[0-9a-f]{64}")
# What a config may hold: int fields → (lowest, highest); str fields → the allowed values.
# The bounds leave room around every shipped model and stop a changed manifest from building a
# model that cannot fit in memory before anything else would refuse it.
CONFIG_RANGES: dict[str, tuple[int, int] | frozenset[str]] = {
    "latent_channels": (1, 256), "width": (1, 512), "depth": (0, 8), "linear_kernel": (1, 3),
    "refine_width": (0, 128), "refine_depth": (0, 8),
    "latent_dim": (1, 16384), "image_size": (8, 256),
    "prior": frozenset({"factorized", "hyperprior"}), "hyper_channels": (1, 256), "hyper_width": (1, 512),
}


def _family_order(family) -> int:
    """Manifest order: families as MODEL_FAMILIES lists them (unknown last), then ratio."""
    order = list(MODEL_FAMILIES)
    return order.index(family) if family in order else len(order)


USES = ("compression", "denoising")  # an entry's "use"; absent means compression (the slider's models)


class WeightsError(RuntimeError):
    """Shipped weights or a manifest that are missing, changed, malformed or unreadable."""


# ---------------------------------------------------------------------------------------
# The manifest's schema: every entry is checked before anything is built from it.

def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def check_config(family: str, config) -> None:
    """A family's config: a JSON object of known fields, each of the right type and in range.
    Raises ValueError saying which field and why."""
    if not isinstance(config, dict):
        raise ValueError(f"config must be a JSON object, got {type(config).__name__}")
    known = {f.name for f in dataclasses.fields(MODEL_FAMILIES[family].config)}
    for key, value in config.items():
        if key not in known:
            raise ValueError(f"config has an unknown field {key!r} (a {family} config has {', '.join(sorted(known))})")
        allowed = CONFIG_RANGES[key]
        if isinstance(allowed, frozenset):
            if not isinstance(value, str) or value not in allowed:
                raise ValueError(f"config {key} must be one of {', '.join(sorted(allowed))}, got {value!r}")
        elif not _is_int(value) or not allowed[0] <= value <= allowed[1]:
            raise ValueError(f"config {key} must be an integer from {allowed[0]} to {allowed[1]}, got {value!r}")


def check_entry(entry) -> dict:
    """One manifest entry against the schema; returns it, or raises WeightsError saying what is
    wrong (the app then leaves that model out and keeps the others)."""
    if not isinstance(entry, dict):
        raise WeightsError(f"a manifest entry must be a JSON object, got {type(entry).__name__}")
    name = entry.get("id")
    label = f"manifest entry {name!r}" if isinstance(name, str) else "a manifest entry"

    def fail(problem: str) -> WeightsError:
        return WeightsError(f"{label}: {problem}")

    for key in ("id", "family", "config", "file", "sha256", "ratio"):
        if key not in entry:
            raise fail(f"it has no {key!r}")
    if not isinstance(name, str) or not MODEL_ID.fullmatch(name):
        raise fail("its id must be 1–64 letters, digits, '.', '_' or '-'")
    family = entry["family"]
    if not isinstance(family, str) or family not in MODEL_FAMILIES:
        raise fail(f"unknown family {family!r} (known: {', '.join(MODEL_FAMILIES)})")
    try:
        check_config(family, entry["config"])
    except ValueError as e:
        raise fail(str(e)) from None
    file = entry["file"]
    if not isinstance(file, str) or not file.endswith(".safetensors") or file != Path(file).name \
            or file.startswith(".") or "\\" in file:
        raise fail(f"its file must be a .safetensors file name inside the weights folder, got {file!r}")
    if not isinstance(entry["sha256"], str) or not SHA256.fullmatch(entry["sha256"]):
        raise fail("its sha256 must be 64 lowercase hexadecimal digits")
    if not _is_number(entry["ratio"]) or entry["ratio"] <= 0:
        raise fail(f"its ratio must be a positive number, got {entry['ratio']!r}")
    size_key = "latent_dim" if family == "dense" else "latent_channels"
    if size_key in entry and entry[size_key] != entry["config"].get(size_key, entry[size_key]):
        raise fail(f"its {size_key} {entry[size_key]!r} differs from its config's {entry['config'][size_key]!r}")
    if size_key in entry and not _is_int(entry[size_key]):
        raise fail(f"its {size_key} must be an integer, got {entry[size_key]!r}")
    if family == "codec":
        if entry.get("prior") != entry["config"].get("prior", "hyperprior"):
            raise fail(f"its prior {entry.get('prior')!r} differs from its config's")
        if not _is_number(entry.get("lmbda")) or entry["lmbda"] <= 0:
            raise fail(f"its lmbda must be a positive number, got {entry.get('lmbda')!r}")
        if entry.get("bpp_kodak") is not None and (not _is_number(entry["bpp_kodak"]) or entry["bpp_kodak"] < 0):
            raise fail(f"its bpp_kodak must be a number ≥ 0, got {entry['bpp_kodak']!r}")
    if entry.get("use", "compression") not in USES:
        raise fail(f"its use must be one of {', '.join(USES)}, got {entry.get('use')!r}")
    if entry.get("use") == "denoising":
        sigma = entry.get("noise_sigma")
        if family != "conv" or not _is_number(sigma) or not 0 < sigma <= 1:
            raise fail(f"a denoiser must be a conv model with a noise_sigma in (0, 1], got {family} and {sigma!r}")
    parameters = count_parameters(family, entry["config"])
    if parameters > MAX_PARAMETERS:
        raise fail(f"its config builds {parameters:,} parameters; at most {MAX_PARAMETERS:,} are accepted")
    return entry


def count_parameters(family: str, config: dict) -> int:
    """Parameters and buffers of the model a (checked) config builds, counted on torch's "meta"
    device: shapes only, no memory (~5 ms; remembered per config, as every page run checks the
    manifest)."""
    return _count_parameters(family, json.dumps(config, sort_keys=True))


@functools.lru_cache(maxsize=256)
def _count_parameters(family: str, config_json: str) -> int:
    with torch.device("meta"):
        model = build_model(family, json.loads(config_json))
    return sum(t.numel() for t in [*model.parameters(), *model.buffers()])


def weights_dir() -> Path:
    """$AUTOENCODER_WEIGHTS, or the weights/ folder next to the package."""
    return Path(os.environ.get("AUTOENCODER_WEIGHTS", Path(__file__).resolve().parent.parent / "weights"))


def read_manifest(folder: Path | None = None) -> dict:
    """The manifest as written (entries unchecked: see check_entry); {"models": []} if absent.
    WeightsError if it is not a JSON object with a "models" list."""
    path = (folder or weights_dir()) / MANIFEST_NAME
    if not path.exists():
        return {"models": []}
    try:
        text = read_regular_file(path, MAX_MANIFEST_BYTES).decode("utf-8")
    except OSError as e:
        raise WeightsError(f"{path.name} cannot be read: {e}") from e
    except UnicodeDecodeError as e:
        raise WeightsError(f"{path.name} is not valid JSON (not UTF-8 text: {e})") from e
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as e:
        raise WeightsError(f"{path.name} is not valid JSON ({e})") from e
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), list):
        raise WeightsError(f"{path.name} must be a JSON object with a \"models\" list")
    return manifest


def checked_entries(folder: Path | None = None) -> tuple[list[dict], list[str]]:
    """(entries that pass check_entry, one line for each that does not), in manifest order;
    an id listed twice keeps its first entry."""
    good, refused, seen = [], [], set()
    for entry in read_manifest(folder)["models"]:
        try:
            check_entry(entry)
        except WeightsError as e:
            refused.append(str(e))
            continue
        if entry["id"] in seen:
            refused.append(f"manifest entry {entry['id']!r}: listed twice; the first is used")
            continue
        seen.add(entry["id"])
        good.append(entry)
    return good, refused


def write_manifest(manifest: dict, folder: Path | None = None) -> None:
    path = (folder or weights_dir()) / MANIFEST_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(path)  # atomic: a crash never leaves half a manifest


def model_entries(folder: Path | None = None, use: str = "compression") -> list[dict]:
    """The manifest's valid entries for `use` (USES), in its order (conv by ratio, then dense,
    then codec by ratio and λ), from one read; entries that fail check_entry are left out
    (checked_entries says why)."""
    return [m for m in checked_entries(folder)[0] if m.get("use", "compression") == use]


def list_models(folder: Path | None = None, use: str = "compression") -> list[str]:
    """Ids of model_entries(folder, use)."""
    return [m["id"] for m in model_entries(folder, use)]


def model_info(model_id: str, folder: Path | None = None) -> dict:
    """The manifest entry of one model, checked. KeyError if absent, WeightsError if malformed."""
    entries = read_manifest(folder)["models"]
    entry = next((e for e in entries if isinstance(e, dict) and e.get("id") == model_id), None)
    if entry is None:
        raise KeyError(f"no model {model_id!r} in the manifest; available: {list_models(folder)}")
    return check_entry(entry)


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
        models.sort(key=lambda m: (_family_order(m.get("family")), -m.get("ratio", 0),
                                   m.get("lmbda") or 0, m["id"]))
        write_manifest(manifest, folder)
    return entry


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most max_bytes. Anything else (a device such as
    /dev/zero, a FIFO, a folder, a socket) is refused from its metadata, before it is opened,
    so nothing blocks or reads forever. OSError says why (callers name the file)."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise OSError("it is not a regular file")
    if info.st_size > max_bytes:
        raise OSError(f"it is {info.st_size:,} bytes; at most {max_bytes:,} are accepted")
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OSError(f"it grew past {max_bytes:,} bytes while being read")
    return data


def weights_path(folder: Path, entry: dict) -> Path:
    """The entry's file inside `folder`, not a link leading out of it. WeightsError (naming the
    file, not where it resolves) otherwise; read_regular_file checks what the file is."""
    path = folder / entry["file"]
    try:
        inside = path.resolve(strict=True).parent == folder.resolve()
    except OSError:
        raise WeightsError(f"weights file {entry['file']} for {entry['id']!r} is missing") from None
    if not inside:
        raise WeightsError(f"weights file {entry['file']} for {entry['id']!r} leads outside the weights folder")
    return path


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
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    # channels_last conv weights make CPU convolutions run in NHWC, ~1.5× faster for the
    # full-resolution post-filter (its 32-channel activations are large); same results up to float rounding.
    return model.eval().requires_grad_(False).to(memory_format=torch.channels_last)


def load_pretrained(model_id: str, folder: Path | None = None) -> nn.Module:
    """An eval-mode model from the shipped weights: its manifest entry checked against the
    schema, its file resolved inside the folder and checked against the entry's sha256, its
    values checked to be finite. WeightsError says what is wrong."""
    folder = folder or weights_dir()
    entry = model_info(model_id, folder)
    path = weights_path(folder, entry)
    try:
        data = read_regular_file(path, MAX_WEIGHTS_BYTES)
    except OSError as e:
        raise WeightsError(f"weights file {entry['file']} for {entry['id']!r} cannot be read: {e}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != entry["sha256"]:
        raise WeightsError(
            f"weights file {entry['file']} does not match the manifest (sha256 {actual[:12]}…, "
            f"expected {entry['sha256'][:12]}…): the file is corrupt or was changed; "
            "restore it from the repository or retrain with the command in the manifest"
        )
    model = load_weights_file(path, entry["family"], entry["config"], data)  # the bytes just checked
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise WeightsError(f"weights file {entry['file']} holds values that are not finite (NaN or infinity) "
                               f"in {name}: it would draw a black image; retrain it")
    return model
