"""The manifest, weights/manifest.json: which models a weights folder holds, how each was made
and what it scores. The file is {"models": [entry, ...], "block_pca": {...}}.

In the code an entry is a ModelEntry. `ModelEntry.from_json` reads one from the file's JSON
object and checks it against the schema: a WeightsError names the entry and what is wrong in
one line, and the app leaves that model out and keeps the others. `ModelEntry.to_json` writes it
back key for key, in the file's order, so a manifest read and written again is the same bytes.
An entry with use "denoising" (and its noise_sigma) is a denoiser: model_entries() lists
compression models unless asked for another use.

Scores are kept per dataset: an image folder, by its name (`eval --data …/kodak` scores
"kodak"). In the file they are flat keys, `<dataset>_metrics`, `bpp_<dataset>` and
`denoising_<dataset>_sigma<σ>`; the three functions below are the only places these are spelled.

Reading is bounded (MAX_MANIFEST_BYTES, nesting checked before parsing, MAX_MANIFEST_ENTRIES)
and checked once per content; writers hold a lock on the folder and replace the file
atomically (train_all.sh runs trainings side by side).
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
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

import torch

from .files import read_regular_file, write_new
from .models import MODEL_FAMILIES, Family, build_model, is_finite_number

MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # the shipped one is ~0.2 MB
MAX_PARAMETERS = 40_000_000  # parameters and buffers of one model (160 MB in float32; the largest ships 11 M)
MAX_MANIFEST_ENTRIES = 1_000  # models read from a manifest (the shipped one lists 15); the rest get one line
MAX_MANIFEST_NESTING = 32  # levels of [ and { (the shipped manifest has 8); deeper is refused before parsing
MAX_INT_DIGITS = 100  # a longer integer in the manifest is read as a float (infinity), which no field accepts
MAX_REFUSALS_LISTED = 20  # refusal lines checked_entries gives; past that, one line counts the rest
MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
WEIGHTS_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.safetensors")
SHA256 = re.compile(r"[0-9a-f]{64}")
USES = ("compression", "denoising")  # an entry's "use"; absent means compression (the slider's models)
REFERENCE_DATASET = "kodak"  # a codec's headline rate is its mean file bpp here (eval --data …/kodak --update-manifest)


class WeightsError(RuntimeError):
    """Shipped weights or a manifest that are missing, changed, malformed or unreadable."""


# ---------------------------------------------------------------------------------------
# Configs: what each field may hold comes from the config dataclass (models.ranged, models.one_of).

def config_bounds(config_class: type) -> dict[str, tuple[int, int] | frozenset[str]]:
    """Each field of a config dataclass → what a manifest may set it to: (lowest, highest) for an
    int field, the allowed values for a str field. A field declared without either is left out
    (tests/test_manifest.py checks that every family's fields have one)."""
    bounds = {}
    for f in dataclasses.fields(config_class):
        if "range" in f.metadata:
            bounds[f.name] = f.metadata["range"]
        elif "choices" in f.metadata:
            bounds[f.name] = frozenset(f.metadata["choices"]())
    return bounds


def check_config(family: str, config) -> None:
    """A family's config: a JSON object of known fields, each of the right type and in range.
    Raises ValueError saying which field and why."""
    if not isinstance(config, dict):
        raise ValueError(f"config must be a JSON object, got {type(config).__name__}")
    config_class = MODEL_FAMILIES[family].config
    known, bounds = [f.name for f in dataclasses.fields(config_class)], config_bounds(config_class)
    for key, value in config.items():
        if key not in known:
            raise ValueError(f"config has an unknown field {key!r} (a {family} config has {', '.join(sorted(known))})")
        allowed = bounds.get(key)
        if allowed is None:
            raise ValueError(f"config {key} has no range to be checked against (models.ranged gives one)")
        if isinstance(allowed, frozenset):
            if not isinstance(value, str) or value not in allowed:
                raise ValueError(f"config {key} must be one of {', '.join(sorted(allowed))}, got {value!r}")
        elif not _is_int(value) or not allowed[0] <= value <= allowed[1]:
            raise ValueError(f"config {key} must be an integer from {allowed[0]} to {allowed[1]}, got {value!r}")


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


# ---------------------------------------------------------------------------------------
# Field types: each record's fields are checked as they are annotated.

def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_KINDS = {  # an annotation's first type → (its words, its check)
    "str": ("text", lambda v: isinstance(v, str)),
    "int": ("an integer", _is_int),
    "float": ("a number", is_finite_number),
    "dict": ("a JSON object", lambda v: isinstance(v, dict)),
    "list": ("a list", lambda v: isinstance(v, list)),
}


def _check_kind(record: type, name: str, value, what: str) -> None:
    """ValueError "`what` must be …" unless `value` has the type `record`'s field `name` is annotated with."""
    annotation = next(f.type for f in dataclasses.fields(record) if f.name == name)
    words, accepts = _KINDS[annotation.split(" | ")[0]]
    if not accepts(value):
        raise ValueError(f"{what} must be {words}, got {value!r}")


# ---------------------------------------------------------------------------------------
# The records

@dataclass(frozen=True)
class StartingPoint:
    """The model a fine-tune started from (train --init-from), with that model's own record."""
    id: str
    sha256: str
    training: TrainingRecord | None  # None: the starting model's entry had no record

    def to_json(self) -> dict:
        return {"id": self.id, "sha256": self.sha256, "training": self.training and self.training.to_json()}


@dataclass(frozen=True)
class TrainingRecord:
    """How a model was trained, as `train` wrote it when the run finished."""
    command: str  # the command line, to run again
    options: dict  # every training option as resolved (train.DEFAULTS, the config file, the flags)
    data: str  # the folder, and how many of its images were trained on and held out
    steps: int
    images_seen: int
    wall_time_s: float  # training alone: validation and checkpoints left out
    device: str
    processes: int  # 1, or torchrun's
    torch_version: str
    finished: str  # ISO 8601, UTC
    validation_psnr: list  # [step, PSNR] on the held-out crops (a codec: [step, PSNR, estimated bpp]), from step 0
    init_from: StartingPoint | None = None  # a fine-tune: what it started from
    validation_psnr_as_stored: float | None = None  # weights stored in a smaller type: their PSNR as stored
    other: dict = field(default_factory=dict)  # fields this version does not know, kept so a rewrite loses none

    @classmethod
    def from_json(cls, raw, what: str = "its training record") -> TrainingRecord:
        """A record as the manifest holds it → a TrainingRecord; ValueError says what is wrong."""
        if not isinstance(raw, dict):
            raise ValueError(f"{what} must be a JSON object, got {type(raw).__name__}")
        fields = [f for f in dataclasses.fields(cls) if f.name != "other"]
        for f in fields:
            if f.name not in raw and f.default is dataclasses.MISSING:
                raise ValueError(f"{what} has no {f.name!r}")
        values = {f.name: raw[f.name] for f in fields if f.name in raw}
        for name, value in values.items():
            if name != "init_from":
                _check_kind(cls, name, value, f"{what}'s {name}")
        if "init_from" in values:
            values["init_from"] = _starting_point(values["init_from"], f"{what}'s init_from")
        return cls(**values, other={k: v for k, v in raw.items() if k not in values})

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("init_from", "validation_psnr_as_stored", "other")}
        if self.init_from is not None:
            out["init_from"] = self.init_from.to_json()
        if self.validation_psnr_as_stored is not None:
            out["validation_psnr_as_stored"] = self.validation_psnr_as_stored
        return {**out, **self.other}


def _starting_point(raw, what: str) -> StartingPoint:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not isinstance(raw.get("sha256"), str):
        raise ValueError(f"{what} must be a JSON object with the id and sha256 of a model, got {raw!r}")
    training = raw.get("training")
    return StartingPoint(raw["id"], raw["sha256"],
                         None if training is None else TrainingRecord.from_json(training, f"{what}'s training record"))


@dataclass(frozen=True)
class DatasetScores:
    """What a model scores on one dataset (an image folder, by its name)."""
    metrics: dict | None = None  # eval's means over the folder: {"images": n, "psnr": …} (evaluate.model_row, codec_row)
    rate: float | None = None  # a codec's mean file bits per pixel there (on REFERENCE_DATASET: its headline rate)
    denoising: dict[str, dict] = field(default_factory=dict)  # `uses denoise-eval --sigma S` (S in 255ths, as text) → its result

    def to_json(self, dataset: str) -> dict:
        out = {} if self.metrics is None else {_metrics_key(dataset): self.metrics}
        if self.rate is not None:
            out[_rate_key(dataset)] = self.rate
        return {**out, **{_denoising_key(dataset, sigma): result for sigma, result in self.denoising.items()}}


def _metrics_key(dataset: str) -> str:
    return f"{dataset}_metrics"


def _rate_key(dataset: str) -> str:
    return f"bpp_{dataset}"


def _denoising_key(dataset: str, sigma: str) -> str:
    return f"denoising_{dataset}_sigma{sigma}"


# A key of an entry → (which part of which dataset's scores), tried in this order; σ is a number
# as `{:g}` writes it (no "_"). A dataset whose keys would read back as another's is refused
# before anything is stored (dataset_problem).
_SCORE_KEYS = (("metrics", re.compile(r"(.+)_metrics", re.DOTALL)), ("rate", re.compile(r"bpp_(.+)", re.DOTALL)),
               ("denoising", re.compile(r"denoising_(.+)_sigma([^_]+)", re.DOTALL)))


def _score_key(key: str) -> tuple[str, str, str | None] | None:
    """(part, dataset, σ or None) of a score key, None for any other key."""
    for part, pattern in _SCORE_KEYS:
        if match := pattern.fullmatch(key):
            return part, match.group(1), match.group(2) if part == "denoising" else None
    return None


def dataset_problem(dataset: str) -> str | None:
    """Why scores on `dataset` cannot be stored under that name (its keys would read back as
    another dataset's, e.g. 'x_metrics', whose bpp_ key reads as the metrics of 'bpp_x'); None if they can."""
    keys = ((_metrics_key(dataset), ("metrics", dataset, None)), (_rate_key(dataset), ("rate", dataset, None)),
            (_denoising_key(dataset, "1"), ("denoising", dataset, "1")))
    for key, meant in keys:
        if _score_key(key) != meant:
            return f"scores on a folder named {dataset!r} cannot be stored: {key!r} would read as another dataset's"
    return None


def _split_scores(fields: dict) -> tuple[dict[str, DatasetScores], dict]:
    """An entry's fields beyond the typed ones → (scores per dataset, in the order first listed;
    the fields that are no score), each score checked; ValueError says which is wrong."""
    parts: dict[str, dict] = {}
    other = {}
    for key, value in fields.items():
        found = _score_key(key)
        if found is None:
            other[key] = value
            continue
        part, dataset, sigma = found
        scores = parts.setdefault(dataset, {"denoising": {}})
        if part == "rate":
            if not is_finite_number(value) or value < 0:
                raise ValueError(f"its {key} must be a number ≥ 0, got {value!r}")
            scores["rate"] = value
        elif not isinstance(value, dict):
            raise ValueError(f"its {key} must be a JSON object, got {type(value).__name__}")
        elif part == "metrics":
            scores["metrics"] = value
        else:
            scores["denoising"][sigma] = value
    return {dataset: DatasetScores(**scores) for dataset, scores in parts.items()}, other


@dataclass(frozen=True)
class ModelEntry:
    """One model of the manifest: what it is, where its weights are, how it was made and what it scores."""
    id: str  # also the stem of the weights file train writes
    family: str  # a key of models.MODEL_FAMILIES
    config: dict  # its config fields as trained (a field left out: the config class's default)
    file: str  # its .safetensors file, inside the weights folder
    sha256: str  # of that file
    ratio: float  # input values per latent value
    size: int | None = None  # its family's size_key field (latent_channels, latent_dim) where listed: see bottleneck
    prior: str | None = None  # codec family: its entropy model (its config's "prior")
    lmbda: float | None = None  # codec family: the rate–distortion weight it was trained at
    use: str = "compression"  # one of USES
    noise_sigma: float | None = None  # a denoiser: the noise σ (pixels in [0, 1]) it was trained up to
    parameters: int | None = None
    storage_dtype: str | None = None  # the type its weights are stored in
    file_bytes: int | None = None
    training: TrainingRecord | None = None
    scores: dict[str, DatasetScores] = field(default_factory=dict)  # dataset name → its scores, in the order measured
    other: dict = field(default_factory=dict)  # fields this version does not know, kept so a rewrite loses none

    @property
    def kind(self) -> Family:
        """What its family does differently (models.MODEL_FAMILIES)."""
        return MODEL_FAMILIES[self.family]

    @property
    def bottleneck(self) -> int:
        """Its family's size_key field: as listed, else its config's, else the config class's default."""
        key = self.kind.size_key
        return self.size if self.size is not None else self.config.get(key, getattr(self.kind.config, key))

    def scores_on(self, dataset: str) -> DatasetScores:
        """Its scores on `dataset` (an image folder's name; none measured: all None)."""
        return self.scores.get(dataset, DatasetScores())

    @property
    def refines(self) -> str | None:
        """The model whose entropy model this one re-trained with the transform frozen (train's
        freeze_transform): it decodes the same pictures from fewer bits. None for any other model."""
        t = self.training
        return t.init_from.id if t and t.init_from and t.options.get("freeze_transform") else None

    @property
    def reference_rate(self) -> float | None:
        """A codec's headline rate: its mean file bits per pixel on REFERENCE_DATASET, where measured."""
        return self.scores_on(REFERENCE_DATASET).rate

    def scored(self, dataset: str, *, metrics: dict | None = None, rate: float | None = None,
               denoising: dict[str, dict] | None = None) -> ModelEntry:
        """This entry with scores on `dataset` added: metrics and rate (where given) replace what it
        had there, denoising results join those at other noise levels. ValueError if scores cannot
        be stored under that name (dataset_problem)."""
        problem = dataset_problem(dataset)
        if problem:
            raise ValueError(problem)
        was = self.scores_on(dataset)
        now = DatasetScores(was.metrics if metrics is None else metrics, was.rate if rate is None else rate,
                            {**was.denoising, **(denoising or {})})
        return dataclasses.replace(self, scores={**self.scores, dataset: now})

    @classmethod
    def from_json(cls, raw) -> ModelEntry:
        """One manifest entry (a JSON object) checked against the schema → a ModelEntry, or a
        WeightsError naming the entry and what is wrong: each field's type and range, its
        family's own fields (Family.check_entry), and that its config builds a model of at most
        MAX_PARAMETERS."""
        if not isinstance(raw, dict):
            raise WeightsError(f"a manifest entry must be a JSON object, got {type(raw).__name__}")
        name = raw.get("id")
        try:
            return cls._checked(raw)
        except ValueError as e:
            raise WeightsError(f"{f'manifest entry {name!r}' if isinstance(name, str) else 'a manifest entry'}: {e}") \
                from None

    @classmethod
    def _checked(cls, raw: dict) -> ModelEntry:
        for key in ("id", "family", "config", "file", "sha256", "ratio"):
            if key not in raw:
                raise ValueError(f"it has no {key!r}")
        if not isinstance(raw["id"], str) or not MODEL_ID.fullmatch(raw["id"]):
            raise ValueError("its id must be 1–64 letters, digits, '.', '_' or '-'")
        family = raw["family"]
        if not isinstance(family, str) or family not in MODEL_FAMILIES:
            raise ValueError(f"unknown family {family!r} (known: {', '.join(MODEL_FAMILIES)})")
        config = raw["config"]
        check_config(family, config)
        if not isinstance(raw["file"], str) or not WEIGHTS_FILE.fullmatch(raw["file"]):  # no path, no NUL, nothing hidden
            raise ValueError(f"its file must be a .safetensors file name inside the weights folder, got {raw['file']!r}")
        if not isinstance(raw["sha256"], str) or not SHA256.fullmatch(raw["sha256"]):
            raise ValueError("its sha256 must be 64 lowercase hexadecimal digits")
        if not is_finite_number(raw["ratio"]) or raw["ratio"] <= 0:
            raise ValueError(f"its ratio must be a positive number, got {raw['ratio']!r}")
        kind = MODEL_FAMILIES[family]
        size = raw.get(kind.size_key)
        if kind.size_key in raw and size != config.get(kind.size_key, size):
            raise ValueError(f"its {kind.size_key} {size!r} differs from its config's {config[kind.size_key]!r}")
        if kind.size_key in raw and not _is_int(size):
            raise ValueError(f"its {kind.size_key} must be an integer, got {size!r}")
        plain = (*kind.entry_fields, "use", "noise_sigma", "parameters", "storage_dtype", "file_bytes")
        known = {"id", "family", "config", "file", "sha256", "ratio", kind.size_key, *plain, "training"}
        entry = cls(raw["id"], family, config, raw["file"], raw["sha256"], raw["ratio"], size,
                    **{k: raw[k] for k in plain if k in raw})
        kind.check_entry(entry)
        if entry.use not in USES:
            raise ValueError(f"its use must be one of {', '.join(USES)}, got {entry.use!r}")
        if entry.use == "denoising" and (not kind.image_to_image or not is_finite_number(entry.noise_sigma)
                                         or not 0 < entry.noise_sigma <= 1):
            raise ValueError(f"a denoiser must be an image-to-image model (conv) with a noise_sigma in (0, 1], "
                             f"got {family} and {entry.noise_sigma!r}")
        for key in ("noise_sigma", "parameters", "storage_dtype", "file_bytes"):
            if key in raw:
                _check_kind(cls, key, raw[key], f"its {key}")
        training = None if "training" not in raw else TrainingRecord.from_json(raw["training"])
        scores, other = _split_scores({k: v for k, v in raw.items() if k not in known})
        try:
            parameters = count_parameters(family, config)
        except (ValueError, TypeError, RuntimeError) as e:  # a combination of fields no model can be built from
            raise ValueError(f"its config builds no model ({e})") from None
        if parameters > MAX_PARAMETERS:
            raise ValueError(f"its config builds {parameters:,} parameters; at most {MAX_PARAMETERS:,} are accepted")
        return dataclasses.replace(entry, training=training, scores=scores, other=other)

    def to_json(self) -> dict:
        """The entry as the manifest holds it: from_json's input, key for key and in its order (a
        "use" of "compression", the default, is left out)."""
        kind = self.kind
        out = {"id": self.id, "family": self.family, "config": self.config}
        if self.size is not None:
            out[kind.size_key] = self.size
        out.update({k: getattr(self, k) for k in kind.entry_fields if getattr(self, k) is not None})
        if self.use != "compression":
            out["use"] = self.use
        optional = {"noise_sigma": self.noise_sigma, "ratio": self.ratio, "parameters": self.parameters,
                    "file": self.file, "sha256": self.sha256, "storage_dtype": self.storage_dtype,
                    "file_bytes": self.file_bytes, "training": self.training and self.training.to_json()}
        out.update({k: v for k, v in optional.items() if v is not None})
        for dataset, scores in self.scores.items():
            out.update(scores.to_json(dataset))
        return {**out, **self.other}


# ---------------------------------------------------------------------------------------
# Reading

def weights_dir() -> Path:
    """$AUTOENCODER_WEIGHTS, or the weights/ folder next to the package."""
    return Path(os.environ.get("AUTOENCODER_WEIGHTS", Path(__file__).resolve().parent.parent / "weights"))


def read_manifest(folder: Path | None = None) -> dict:
    """The manifest as written (entries unchecked: see checked_entries); {"models": []} if absent.
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


@dataclass(frozen=True)
class _Checked:
    good: tuple[ModelEntry, ...]  # entries that ModelEntry.from_json reads, in manifest order
    refused: tuple[str, ...]  # one line per refused entry (at most MAX_REFUSALS_LISTED, then a count)
    reasons: dict  # id → why that id is refused (for model_info)


def checked_entries(folder: Path | None = None) -> tuple[list[ModelEntry], list[str]]:
    """(the entries ModelEntry.from_json reads, lines saying which are refused and why), in
    manifest order. An id listed more than once is refused by name (every copy: which one was
    meant cannot be known). Only the first MAX_MANIFEST_ENTRIES entries are read (one line says
    so), and at most MAX_REFUSALS_LISTED refusals are listed (one line counts the rest).

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
    for raw in kept:
        name = raw.get("id") if isinstance(raw, dict) else None
        name = name if isinstance(name, str) else None
        if name in copies:
            reason = (f"manifest entry {name!r}: listed {copies[name]} times; an id must be unique, "
                      "so none of them is used")
            if name not in reasons:
                refused.append(reason)
            reasons[name] = reason
            continue
        read = _read_entry(json.dumps(raw, allow_nan=True))  # keys in the file's order: to_json keeps it
        if isinstance(read, ModelEntry):
            good.append(read)
            continue
        refused.append(read)
        if name is not None:
            reasons[name] = read
    if len(entries) > MAX_MANIFEST_ENTRIES:
        refused.append(f"{MANIFEST_NAME} lists {len(entries):,} models; only the first {MAX_MANIFEST_ENTRIES:,} are read")
    if len(refused) > MAX_REFUSALS_LISTED:
        refused[MAX_REFUSALS_LISTED - 1 :] = [f"and {len(refused) - MAX_REFUSALS_LISTED + 1:,} more entries refused"]
    return _Checked(tuple(good), tuple(refused), reasons)


@functools.lru_cache(maxsize=2 * MAX_MANIFEST_ENTRIES)
def _read_entry(entry_json: str) -> ModelEntry | str:
    """ModelEntry.from_json of one entry (given as its JSON), or its refusal; remembered per
    entry content, so a manifest that gained one entry costs one check."""
    try:
        return ModelEntry.from_json(json.loads(entry_json))
    except WeightsError as e:
        return str(e)


def model_entries(folder: Path | None = None, use: str = "compression") -> list[ModelEntry]:
    """The manifest's valid entries for `use` (USES), in its order (conv by ratio, then dense,
    then codec by ratio and λ), from one read; entries that are refused are left out
    (checked_entries says why)."""
    return [e for e in checked_entries(folder)[0] if e.use == use]


def superseded(entries: Iterable[ModelEntry]) -> dict[str, str]:
    """The ids among `entries` that another of them refines (ModelEntry.refines) → that other's id:
    rate control, the app's bottleneck slider and the charts' ladder take the refining model in
    their place. Both stay in the manifest: the older one's files still decode, and All models
    compares the two."""
    entries = list(entries)
    ids = {e.id for e in entries}
    return {e.refines: e.id for e in entries if e.refines in ids}


def list_models(folder: Path | None = None, use: str = "compression") -> list[str]:
    """Ids of model_entries(folder, use)."""
    return [e.id for e in model_entries(folder, use)]


def model_info(model_id: str, folder: Path | None = None) -> ModelEntry:
    """The manifest entry of one model, checked (a copy: changing it changes nothing). KeyError
    if absent, WeightsError with checked_entries' reason if refused (malformed, or listed twice)."""
    checked = _checked(_manifest_bytes(folder))
    entry = next((e for e in checked.good if e.id == model_id), None)
    if entry is not None:
        return copy.deepcopy(entry)
    if model_id in checked.reasons:
        raise WeightsError(checked.reasons[model_id])
    raise KeyError(f"no model {model_id!r} in the manifest; available: {[e.id for e in checked.good]}")


# ---------------------------------------------------------------------------------------
# Writing

def write_manifest(manifest: dict, folder: Path | None = None) -> None:
    # atomic: a crash never leaves half a manifest
    write_new((folder or weights_dir()) / MANIFEST_NAME, (json.dumps(manifest, indent=2) + "\n").encode(), replace=True)


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


def _family_order(family) -> int:
    """Manifest order: families as MODEL_FAMILIES lists them (unknown last), then ratio."""
    order = list(MODEL_FAMILIES)
    return order.index(family) if family in order else len(order)


def _put_entry(model_id: str, make: Callable[[dict | None], ModelEntry], folder: Path | None) -> ModelEntry:
    """Under the folder's lock: the entry `make` returns from the one the manifest holds for
    `model_id` now (None: none) takes its place, or joins the list; the list kept ordered."""
    with _manifest_lock(folder):
        manifest = read_manifest(folder)
        models = manifest["models"]
        at = next((i for i, m in enumerate(models) if isinstance(m, dict) and m.get("id") == model_id), None)
        entry = make(None if at is None else models[at])
        if at is None:
            models.append(entry.to_json())
        else:
            models[at] = entry.to_json()
        models.sort(key=lambda m: (_family_order(m.get("family")), -m.get("ratio", 0),
                                   m.get("lmbda") or 0, m.get("id", "")))
        write_manifest(manifest, folder)
    return entry


def write_entry(entry: ModelEntry, folder: Path | None = None) -> None:
    """Put `entry` in the manifest in place of the one with its id (whatever that held), or add it."""
    _put_entry(entry.id, lambda _: entry, folder)


def update_entry(model_id: str, change: Callable[[ModelEntry], ModelEntry], folder: Path | None = None) -> ModelEntry:
    """Change one model's entry as the manifest holds it now: read, changed and written back under
    the folder's lock, so runs that change entries side by side lose none of each other's
    changes. Returns the new entry. KeyError if there is no such model, WeightsError if its entry is refused."""
    def changed(raw: dict | None) -> ModelEntry:
        if raw is None:
            raise KeyError(f"no model {model_id!r} in {MANIFEST_NAME}")
        return change(ModelEntry.from_json(raw))

    return _put_entry(model_id, changed, folder)
