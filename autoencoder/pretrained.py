"""Shipped weights: the manifest, checked loading (sha256, no pickle), and saving.

weights/manifest.json is {"models": [entry, ...], "block_pca": {...}}; each entry has at
least id, family, config, latent_channels or latent_dim, ratio, file, sha256, and the
record of how it was trained and what it scores on Kodak. An entry with "use": "denoising"
(and its noise_sigma) is a denoiser: list_models() lists compression models unless asked for
another use.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import functools
import hashlib
import json
import os
import re
import threading
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

from .files import read_regular_file  # noqa: F401 (also this module's name for it)
from .models import MODEL_FAMILIES, PRIORS, build_model, is_finite_number

MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # the shipped one is ~0.2 MB
MAX_WEIGHTS_BYTES = 256 * 1024 * 1024  # a weights file; the largest shipped one is 44 MB
MAX_PARAMETERS = 40_000_000  # parameters and buffers of one model (160 MB in float32; the largest ships 11 M)
MAX_MANIFEST_ENTRIES = 1_000  # models read from a manifest (the shipped one lists 15); the rest get one line
MAX_MANIFEST_NESTING = 32  # levels of [ and { (the shipped manifest has 8); deeper is refused before parsing
MAX_INT_DIGITS = 100  # a longer integer in the manifest is read as a float (infinity), which no field accepts
MAX_REFUSALS_LISTED = 20  # refusal lines checked_entries gives; past that, one line counts the rest
MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
WEIGHTS_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.safetensors")
SHA256 = re.compile(r"[0-9a-f]{64}")
# What a config may hold: int fields → (lowest, highest); str fields → the allowed values.
# The bounds leave room around every shipped model and stop a changed manifest from building a
# model that cannot fit in memory before anything else would refuse it.
CONFIG_RANGES: dict[str, tuple[int, int] | frozenset[str]] = {
    "latent_channels": (1, 256), "width": (1, 512), "depth": (0, 8), "linear_kernel": (1, 3),
    "refine_width": (0, 128), "refine_depth": (0, 8),
    "latent_dim": (1, 16384), "image_size": (8, 256),
    "prior": frozenset(PRIORS), "hyper_channels": (1, 256), "hyper_width": (1, 512),
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
    if not isinstance(file, str) or not WEIGHTS_FILE.fullmatch(file):  # no path, no NUL, nothing hidden
        raise fail(f"its file must be a .safetensors file name inside the weights folder, got {file!r}")
    if not isinstance(entry["sha256"], str) or not SHA256.fullmatch(entry["sha256"]):
        raise fail("its sha256 must be 64 lowercase hexadecimal digits")
    if not is_finite_number(entry["ratio"]) or entry["ratio"] <= 0:
        raise fail(f"its ratio must be a positive number, got {entry['ratio']!r}")
    kind = MODEL_FAMILIES[family]
    size_key = kind.size_key
    if size_key in entry and entry[size_key] != entry["config"].get(size_key, entry[size_key]):
        raise fail(f"its {size_key} {entry[size_key]!r} differs from its config's {entry['config'][size_key]!r}")
    if size_key in entry and not _is_int(entry[size_key]):
        raise fail(f"its {size_key} must be an integer, got {entry[size_key]!r}")
    try:
        kind.check_entry(entry)
    except ValueError as e:
        raise fail(str(e)) from None
    if entry.get("use", "compression") not in USES:
        raise fail(f"its use must be one of {', '.join(USES)}, got {entry.get('use')!r}")
    if entry.get("use") == "denoising":
        sigma = entry.get("noise_sigma")
        if not kind.image_to_image or not is_finite_number(sigma) or not 0 < sigma <= 1:
            raise fail(f"a denoiser must be an image-to-image model (conv) with a noise_sigma in (0, 1], "
                       f"got {family} and {sigma!r}")
    try:
        parameters = count_parameters(family, entry["config"])
    except (ValueError, TypeError, RuntimeError) as e:  # a combination of fields no model can be built from
        raise fail(f"its config builds no model ({e})") from None
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
    return parse_manifest(_manifest_bytes(folder))


def _manifest_bytes(folder: Path | None) -> bytes | None:
    """The manifest file's bytes (at most MAX_MANIFEST_BYTES, a regular file), None if absent."""
    path = (folder or weights_dir()) / MANIFEST_NAME
    try:
        return read_regular_file(path, MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise WeightsError(f"{MANIFEST_NAME} cannot be read: {e.strerror or e}") from None


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_nesting(raw: bytes) -> int:
    """How deep [ and { nest in JSON text (brackets inside strings aside), without parsing it:
    the parser recurses once per level and would die of a few thousand."""
    import numpy as np  # here: only a manifest that changed is measured

    codes = np.frombuffer(_JSON_STRING.sub(b'""', raw), dtype=np.uint8)
    steps = np.isin(codes, (0x5B, 0x7B)).astype(np.int32) - np.isin(codes, (0x5D, 0x7D))
    return int(steps.cumsum().max(initial=0))


def _parse_int(digits: str) -> int | float:
    # Python refuses to convert more than 4,300 digits (ValueError); a float of them is infinity,
    # which every checked field refuses as that entry's own problem.
    return int(digits) if len(digits) <= MAX_INT_DIGITS else float(digits)


def parse_manifest(raw: bytes | None) -> dict:
    """Manifest bytes → the manifest; WeightsError, in one sentence, for anything that is not a
    JSON object with a "models" list (whatever the parser raises: bad UTF-8, bad JSON, nesting
    past MAX_MANIFEST_NESTING)."""
    if raw is None:
        return {"models": []}
    depth = json_nesting(raw)
    if depth > MAX_MANIFEST_NESTING:
        raise WeightsError(f"{MANIFEST_NAME} nests {depth:,} levels deep; at most {MAX_MANIFEST_NESTING} are accepted")
    try:
        manifest = json.loads(raw.decode("utf-8"), parse_int=_parse_int)
    except UnicodeDecodeError as e:
        raise WeightsError(f"{MANIFEST_NAME} is not valid JSON (not UTF-8 text: {e})") from None
    except (ValueError, RecursionError, MemoryError) as e:  # JSONDecodeError is a ValueError
        raise WeightsError(f"{MANIFEST_NAME} is not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), list):
        raise WeightsError(f"{MANIFEST_NAME} must be a JSON object with a \"models\" list")
    return manifest


@dataclasses.dataclass(frozen=True)
class _Checked:
    good: tuple[dict, ...]  # entries that pass check_entry, in manifest order
    refused: tuple[str, ...]  # one line per refused entry (at most MAX_REFUSALS_LISTED, then a count)
    reasons: dict  # id → why that id is refused (for model_info)


def checked_entries(folder: Path | None = None) -> tuple[list[dict], list[str]]:
    """(entries that pass check_entry, lines saying which are refused and why), in manifest
    order. An id listed more than once is refused by name (every copy: which one was meant
    cannot be known). Only the first MAX_MANIFEST_ENTRIES entries are read (one line says so),
    and at most MAX_REFUSALS_LISTED refusals are listed (one line counts the rest).

    Costs milliseconds when the manifest has not changed: the result is kept per manifest
    content, and each entry's check per entry content. The entries are shared: do not change them."""
    checked = _checked(_manifest_bytes(folder))
    return list(checked.good), list(checked.refused)


_CHECKED: dict[bytes, _Checked] = {}  # manifest digest → what it checks to (a few, oldest first)
_CHECKED_LOCK = threading.Lock()  # the app's sessions run in threads


def _checked(raw: bytes | None) -> _Checked:
    key = hashlib.blake2b(raw or b"", digest_size=16).digest()
    with _CHECKED_LOCK:
        found = _CHECKED.get(key)
    if found is None:
        found = _check_manifest(parse_manifest(raw))  # outside the lock: two sessions may both check
        with _CHECKED_LOCK:
            while len(_CHECKED) >= 4:
                del _CHECKED[next(iter(_CHECKED))]
            _CHECKED[key] = found
    return found


def _check_manifest(manifest: dict) -> _Checked:
    entries = manifest["models"]
    kept = entries[:MAX_MANIFEST_ENTRIES]
    counts = collections.Counter(e.get("id") for e in kept if isinstance(e, dict) and isinstance(e.get("id"), str))
    copies = {i: n for i, n in counts.items() if n > 1}
    good, refused, reasons = [], [], {}
    for entry in kept:
        name = entry.get("id") if isinstance(entry, dict) else None
        name = name if isinstance(name, str) else None
        if name in copies:
            reason = (f"manifest entry {name!r}: listed {copies[name]} times; an id must be unique, "
                      "so none of them is used")
            if name not in reasons:
                refused.append(reason)
            reasons[name] = reason
            continue
        problem = _entry_problem(_entry_key(entry))
        if problem is None:
            good.append(entry)
            continue
        refused.append(problem)
        if name is not None:
            reasons[name] = problem
    if len(entries) > MAX_MANIFEST_ENTRIES:
        refused.append(f"{MANIFEST_NAME} lists {len(entries):,} models; only the first {MAX_MANIFEST_ENTRIES:,} are read")
    if len(refused) > MAX_REFUSALS_LISTED:
        refused[MAX_REFUSALS_LISTED - 1 :] = [f"and {len(refused) - MAX_REFUSALS_LISTED + 1:,} more entries refused"]
    return _Checked(tuple(good), tuple(refused), reasons)


def _entry_key(entry) -> str:
    return json.dumps(entry, sort_keys=True, allow_nan=True)


@functools.lru_cache(maxsize=2 * MAX_MANIFEST_ENTRIES)
def _entry_problem(entry_json: str) -> str | None:
    """check_entry's refusal of one entry (given as its JSON), None if it passes; remembered
    per entry content, so a manifest that gained one entry costs one check."""
    try:
        check_entry(json.loads(entry_json))
    except WeightsError as e:
        return str(e)
    return None


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
    """The manifest entry of one model, checked (a copy: changing it changes nothing). KeyError
    if absent, WeightsError with checked_entries' reason if refused (malformed, or listed twice)."""
    checked = _checked(_manifest_bytes(folder))
    entry = next((e for e in checked.good if e["id"] == model_id), None)
    if entry is not None:
        return copy.deepcopy(entry)
    if model_id in checked.reasons:
        raise WeightsError(checked.reasons[model_id])
    raise KeyError(f"no model {model_id!r} in the manifest; available: {[e['id'] for e in checked.good]}")


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


def weights_path(folder: Path, entry: dict) -> Path:
    """The entry's file inside `folder`, not a link leading out of it. WeightsError (naming the
    file, not where it resolves) otherwise; read_regular_file checks what the file is."""
    path = folder / entry["file"]
    try:
        inside = path.resolve(strict=True).parent == folder.resolve()
    except FileNotFoundError:
        raise WeightsError(f"weights file {entry['file']} for {entry['id']!r} is missing") from None
    except (OSError, ValueError, RuntimeError) as e:  # a link loop (RuntimeError before Python 3.13), a bad name
        raise WeightsError(f"weights file {entry['file']} for {entry['id']!r} cannot be followed "
                           f"({getattr(e, 'strerror', None) or type(e).__name__})") from None
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
    if not probe_is_finite(model):
        raise WeightsError(f"weights file {entry['file']} gives values that are not finite (NaN or infinity) on a "
                           "test image: its weights are too large to compute with; retrain it")
    model.weights_sha256 = entry["sha256"]
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
