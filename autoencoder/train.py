"""`python -m autoencoder train`: train one model on a folder of images.

    python -m autoencoder train --config configs/conv-c16.json          # a shipped model
    python -m autoencoder train --family conv --model latent_channels=8 \\
        --data ~/my_photos --id my-conv-c8 --steps 3000                 # your own
    python -m autoencoder train --init-from conv-c16 --id my-c16 \\
        --data ~/my_photos --steps 2000 --lr 1e-4                      # fine-tune a shipped model
    python -m autoencoder train --config configs/codec-c16-hp.json      # a codec: rate–distortion fine-tune
    torchrun --nproc_per_node 2 -m autoencoder train --config ...        # data-parallel, any family

A config file holds any of the options below (flags given on the command line win). Every
run saves a checkpoint (`--resume` continues it), then writes <out>/<id>.safetensors and
records in <out>/manifest.json how the model was trained. <out> is runs/<id>/ unless `--out`
says otherwise, so a run of your own never touches the shipped weights/ (the scripts that
reproduce those pass `--out weights`). `--init-from` reads the model it starts from in `--out`
when given, else in the shipped weights/.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from . import metrics
from .data import RandomCrops, decode_image, fixed_crops, list_images, split_train_val
from .hardware import PRECISIONS, cpu_name, resolve_precision
from .models import MODEL_FAMILIES, CodecAutoencoder, build_model, family_of, values_ratio
from .pca import fit_on_crops
from .uses import add_noise
from .manifest import ModelEntry, StartingPoint, TrainingRecord, model_info, weights_dir, write_entry
from .pretrained import load_pretrained, load_weights_file, save_weights

DEFAULTS = {
    "id": None,
    "family": "conv",
    "model": {},
    "data": None,
    "steps": 2000,
    "batch_size": 16,
    "crop": 128,
    "scales": [1.0, 0.7, 0.5, 0.35],
    "lr": 5e-4,
    "linear_lr_scale": 1.0,  # conv: the PCA-initialised linear path learns at lr × this
    "warmup_steps": 100,
    "seed": 0,
    "val_every": 12,  # every 12th image (sorted by name) is held out for validation
    "val_interval": 250,
    "pca_init": True,
    # A model id in the weights folder's manifest: start from its weights (sha256-checked)
    # instead of block-PCA, with its family and model config; the manifest keeps its record.
    "init_from": None,
    "storage_dtype": "float32",
    # "bfloat16": the forward pass runs under autocast (conv models keep their linear path in
    # float32): faster where the hardware has bfloat16, slower where it is emulated (hardware.py).
    # "auto": bfloat16 where the device runs it natively, else float32 (the shipped conv configs).
    "precision": "float32",
    # Codec family only: loss = lmbda·255²·MSE + bits per pixel (a larger lmbda buys quality with
    # bits). The transform starts from the conv model init_from names; the entropy model and
    # the gains learn at lr × entropy_lr_scale, since they start from nothing.
    "lmbda": None,
    "entropy_lr_scale": 10.0,
    "freeze_transform": False,  # codec family: train the entropy model only (transform and gains fixed)
    # Denoising (conv family): each training input gets Gaussian noise of a standard deviation
    # drawn uniformly from [0, noise_sigma] (pixel values in [0, 1]); the target stays clean.
    # Validation then scores denoising at noise_sigma / 2.
    "noise_sigma": None,
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autoencoder train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="JSON file of options (flags override it)")
    p.add_argument("--id", help="model id, also the weights file name (e.g. conv-c16)")
    p.add_argument("--family", choices=sorted(MODEL_FAMILIES))
    p.add_argument("--model", action="append", metavar="KEY=VALUE",
                   help="model config value, e.g. latent_channels=8 (repeatable)")
    p.add_argument("--data", help="folder of training images")
    p.add_argument("--init-from", dest="init_from", metavar="MODEL_ID",
                   help="fine-tune: start from this model's weights (in the weights folder) instead of block-PCA")
    p.add_argument("--steps", type=int)
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--crop", type=int, help="crop side in pixels")
    p.add_argument("--scales", type=float, nargs="+", help="resize factors crops are taken at (1: full resolution)")
    p.add_argument("--lr", type=float)
    p.add_argument("--lmbda", type=float, help="codec family: rate–distortion weight (loss = lmbda·255²·MSE + bpp)")
    p.add_argument("--noise-sigma", type=float, dest="noise_sigma",
                   help="train a denoiser: inputs get Gaussian noise with σ up to this (pixels in [0, 1])")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="training arithmetic (weights stay float32); auto: bfloat16 where the hardware has it")
    p.add_argument("--seed", type=int)
    p.add_argument("--val-every", type=int, dest="val_every", help="hold out every N-th image (0: none)")
    p.add_argument("--val-interval", type=int, dest="val_interval", help="validate every N steps")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    p.add_argument("--out", type=Path, help="weights folder to write into, with its manifest (default: runs/<id>/; "
                                            "the shipped weights/ only when named)")
    p.add_argument("--checkpoint", type=Path, help="checkpoint file (default: runs/<id>/checkpoint.pt)")
    p.add_argument("--checkpoint-interval", type=int, default=500, dest="checkpoint_interval")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs a line per validation)")
    return p


def resolve_options(args: argparse.Namespace) -> dict:
    options, loaded = dict(DEFAULTS), {}
    if args.config:
        loaded = json.loads(args.config.read_text())
        unknown = set(loaded) - set(DEFAULTS)
        if unknown:
            raise SystemExit(f"{args.config}: unknown options {sorted(unknown)}")
        options.update(loaded)
    for key in DEFAULTS:
        value = getattr(args, key, None)
        if value is not None and key != "model":
            options[key] = value
    model = dict(options["model"])
    for item in args.model or []:
        key, _, value = item.partition("=")
        try:
            model[key] = json.loads(value)
        except json.JSONDecodeError:  # a bare word: prior=hyperprior
            model[key] = value
    options["model"] = model
    if not options["id"] or not options["data"]:
        raise SystemExit("train needs --id and --data (directly or in --config)")
    source = starting_point(options, args.out)
    stated_family = args.family or loaded.get("family")
    starts_from = MODEL_FAMILIES[stated_family].starts_from if stated_family in MODEL_FAMILIES else ()
    if starts_from:  # a codec: the transform of a trained model, plus an entropy model
        needs = " or ".join(starts_from)
        if options["lmbda"] is None or not source or source.family not in starts_from:
            raise SystemExit(f"a {stated_family} model needs --lmbda and --init-from a {needs} model to start from")
        if source.family != stated_family:  # the trained transform, with this family's fields asked for
            options["family"], options["model"] = stated_family, {**source.config, **model}
            return options
    if source:  # a fine-tune has the architecture of the model it starts from
        other_prior = starts_from and {**source.config, **model, "prior": source.config.get("prior")} == source.config
        if stated_family not in (None, source.family) or model not in ({}, source.config) and not other_prior:
            raise SystemExit(f"--init-from {options['init_from']}: that is a {source.family} model with config "
                             f"{source.config}; leave the family and model config out or give exactly those")
        options["family"], options["model"] = source.family, {**source.config, **model}
    return options


def starting_point(options: dict, out: Path | None) -> ModelEntry | None:
    """The manifest entry of the model a fine-tune starts from (options["init_from"]), or None."""
    if not options["init_from"]:
        return None
    try:
        return model_info(options["init_from"], out or weights_dir())
    except KeyError as e:
        raise SystemExit(f"--init-from: {e.args[0]}") from None


def config_options(path: Path) -> dict:
    """The options a training run with `--config path` and no other flags uses."""
    return resolve_options(build_parser().parse_args(["--config", str(path)]))


def run_folder(options: dict) -> Path:
    """runs/<id>/: the run's checkpoint, and its weights and manifest unless --out says otherwise."""
    return Path("runs") / options["id"]


def pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(name)


def make_optimizer(model: torch.nn.Module, options: dict) -> torch.optim.Optimizer:
    """AdamW; a conv model's linear path learns at lr × linear_lr_scale, a codec's entropy model
    and gains at lr × entropy_lr_scale (each group's lr_scale)."""
    groups = {"transform": [], "linear": [], "entropy": []}
    for name, p in model.named_parameters():
        is_transform = not model.entropy_coded or name.startswith("transform.")
        groups["linear" if "_linear." in name else "transform" if is_transform else "entropy"].append(p)
    scales = {"transform": 1.0, "linear": options["linear_lr_scale"], "entropy": options["entropy_lr_scale"]}
    return torch.optim.AdamW([{"params": ps, "lr_scale": scales[k]} for k, ps in groups.items() if ps],
                             lr=options["lr"], weight_decay=0.0)


def quantization_step(lmbda: float) -> float:
    """The step at which uniform quantization of an orthonormal code balances lmbda·255²·MSE
    against bits at high rate (d/dΔ of lmbda·255²·Δ²/36 − log2 Δ = 0 per coefficient of 64
    pixels): where a codec's gains start."""
    return math.sqrt(36 / (2 * math.log(2) * lmbda * 255**2))


class RateDistortion(torch.nn.Module):
    """A codec model whose forward() is its training pass, `rate_distortion` (reconstruction and
    bits). DistributedDataParallel synchronises the gradients of what runs through the wrapped
    module's forward() only: wrapped this way, the rate term and the entropy model's parameters
    are averaged across processes with the rest."""

    def __init__(self, codec: torch.nn.Module):
        super().__init__()
        self.codec = codec

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.codec.rate_distortion(x)


def trainee(model: torch.nn.Module, distributed: bool = False) -> torch.nn.Module:
    """What training_step calls: the model (a codec: its RateDistortion pass), in DDP when
    distributed. Its parameters are the model's, so the optimizer and checkpoints use the model."""
    module = RateDistortion(model) if model.entropy_coded else model
    return DistributedDataParallel(module) if distributed else module


def training_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                  mixed: bool, lmbda: float | None = None, noisy: torch.Tensor | None = None) -> torch.Tensor:
    """One update on the batch x (B, 3, H, W) of `model` = trainee(…); returns its loss (a 0-d
    tensor): the MSE, or for a codec (lmbda given) lmbda·255²·MSE + estimated bits per pixel.
    Both are means over this process's pixels, so under DDP, whose gradients are the mean over
    processes, an update is that of the whole batch in one process. With `noisy` (a denoiser)
    the model reads the noisy batch and is scored against the clean x."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=mixed):
        if lmbda is None:
            out, bits = model(x if noisy is None else noisy), None
        else:
            out, bits = model(x)
    loss = torch.mean((out.float() - x) ** 2)
    if bits is not None:
        loss = lmbda * 255**2 * loss + bits / (x.shape[0] * x.shape[-2] * x.shape[-1])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


LR_FLOOR = 0.05  # the schedule ends at this fraction of the peak


def learning_rate(step: int, options: dict, extended_at: tuple[int, float] | None = None) -> float:
    """Linear warm-up, then cosine decay to LR_FLOOR of the peak at options["steps"].

    extended_at: (step, lr) where a resumed run was given more steps than the checkpoint's
    schedule had: from there the rate decays by a new half cosine from that lr to the floor
    over the remaining steps, instead of jumping back up the longer cosine (continuous)."""
    peak, warm, total = options["lr"], options["warmup_steps"], options["steps"]
    floor = LR_FLOOR * peak
    if extended_at is not None:
        start, start_lr = extended_at
        progress = (step - start) / max(1, total - start)
        return floor + (start_lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    if step < warm:
        return peak * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def resumed_schedule(state: dict, step: int, options: dict) -> tuple[int, float] | None:
    """Where a resumed run's schedule bends (learning_rate's extended_at), from the checkpoint's
    record of the schedule it ran: unchanged when this run has as many steps (an interrupted run
    goes on as if never stopped) or is still warming up (the warm-up does not depend on the
    total); else from this step and rate down to the floor at the new total."""
    schedule = json.loads(state.get("schedule", "null")) or {"steps": options["steps"], "extended_at": None}
    extended = tuple(schedule["extended_at"]) if schedule["extended_at"] else None
    if schedule["steps"] == options["steps"] or (extended is None and step < options["warmup_steps"]):
        return extended
    return step, learning_rate(step, {**options, "steps": schedule["steps"]}, extended)


@torch.no_grad()
def validate(model: torch.nn.Module, crops: torch.Tensor, device: torch.device, noise_sigma: float | None = None) -> float:
    """Mean per-crop PSNR on the held-out crops (the training-set hold-out, never Kodak); a
    codec's reconstruction is that of its rounded latent. With noise_sigma (a denoiser): of
    the output from the crops with seeded noise at half that σ, against the clean crops."""
    model.eval()
    inputs = crops if not noise_sigma else add_noise(crops, noise_sigma / 2, torch.Generator().manual_seed(0))
    scores = [metrics.psnr(model(i.to(device)).clamp(0, 1), b.to(device))
              for i, b in zip(inputs.split(32), crops.split(32))]
    model.train()
    return float(torch.cat(scores).mean())


@torch.no_grad()
def validate_bpp(model: torch.nn.Module, crops: torch.Tensor, device: torch.device) -> float:
    """A codec's estimated bits per pixel on the held-out crops (likelihoods of the noisy latent,
    seeded so every validation draws the same noise)."""
    model.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        bits = sum(float(model.rate_distortion(b.to(device))[1]) for b in crops.split(32))
    model.train()
    return bits / (crops.shape[0] * crops.shape[-2] * crops.shape[-1])


@contextmanager
def _process_settings():
    """What training sets for the whole process (threads, flushing denormal floats to zero, the
    global random seed) is put back when it ends: a caller in the same process (a test, a
    notebook, the app) keeps its own. Denormals return to IEEE behaviour, the process default."""
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            torch.set_flush_denormal(False)
            torch.set_num_threads(threads)


def main(argv: list[str] | None = None) -> ModelEntry | None:
    """Train one model (see build_parser); returns its manifest entry (None on ranks > 0)."""
    with _process_settings():
        return _train(argv)


def _train(argv: list[str] | None) -> ModelEntry | None:
    args = build_parser().parse_args(argv)
    options = resolve_options(args)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if options["noise_sigma"] is not None and (not family_of(options).image_to_image or not 0 < options["noise_sigma"] <= 1):
        raise SystemExit("--noise-sigma trains a conv denoiser: give a conv model and 0 < σ ≤ 1")
    if options["freeze_transform"] and not family_of(options).entropy_coded:
        raise SystemExit("freeze_transform trains a codec's entropy model only: give a codec model")
    device = pick_device(args.device)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    if device.type == "cuda":
        torch.cuda.set_device(device)
    options["precision"] = resolve_precision(options["precision"], device)  # the manifest records what ran
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # denormal floats once slowed CPU training ~50×
    torch.manual_seed(options["seed"])

    train_files, val_files = split_train_val(list_images(options["data"]), options["val_every"])
    images = [decode_image(f) for f in train_files]
    crop = options["crop"]
    sampler = RandomCrops(images, crop, tuple(options["scales"]), seed=options["seed"] + 1 + rank)
    val_crops = fixed_crops([decode_image(f) for f in val_files], crop, 16, seed=options["seed"]) if val_files else None

    source = starting_point(options, args.out)  # kept for the record: a fine-tune may replace it under the same id
    if source and family_of(options).starts_from and source.family != options["family"]:  # a codec from a conv model
        conv = load_pretrained(source.id, args.out or weights_dir())
        codec_fields = {k: v for k, v in options["model"].items() if k not in source.config}
        model = CodecAutoencoder.from_transform(conv, quantization_step(options["lmbda"]), **codec_fields)
        model.requires_grad_(True)
    elif source:
        model = load_pretrained(source.id, args.out or weights_dir()).requires_grad_(True)
        if options["model"] != source.config:  # a codec fine-tuned to code with another prior
            model = model.with_prior(options["model"]["prior"]).requires_grad_(True)
    else:
        model = build_model(options["family"], options["model"])
        if not family_of(options).starts_from and options["pca_init"]:
            pca = fit_on_crops(images, tuple(options["scales"]), seed=options["seed"])
            model.init_from_pca(pca.mean, pca.basis, pca.variances)
    if options["freeze_transform"]:
        model.freeze_transform()
    model.to(device, memory_format=torch.channels_last).train()  # faster convs on CPU and GPU
    mixed = options["precision"] == "bfloat16"
    optimizer = make_optimizer(model, options)

    checkpoint = args.checkpoint or run_folder(options) / "checkpoint.pt"
    step, elapsed, val_history, extended_at = 0, 0.0, [], None
    if args.resume:
        if not checkpoint.exists():
            raise SystemExit(f"--resume: no checkpoint at {checkpoint}")
        state = torch.load(checkpoint, map_location=device, weights_only=True)  # tensors only: no code runs
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed, val_history = int(state["step"]), float(state["elapsed"]), json.loads(state["val_history"])
        extended_at = resumed_schedule(state, step, options)
        sampler.generator.manual_seed(options["seed"] + 1 + rank + 7919 * step)  # fresh, reproducible stream
    stepped = trainee(model, distributed)

    def save_checkpoint() -> None:
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        schedule = {"steps": options["steps"], "extended_at": extended_at}
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                    "elapsed": elapsed, "val_history": json.dumps(val_history), "schedule": json.dumps(schedule)},
                   checkpoint)

    batch = options["batch_size"]
    show = rank == 0 and not args.no_progress
    bar = tqdm(total=options["steps"], initial=step, disable=not show, unit="step", dynamic_ncols=True,
               desc=options["id"])
    codec = family_of(options).entropy_coded
    lmbda = options["lmbda"] if codec else None

    def validation_point(at: int) -> list:
        """[step, PSNR] (+ estimated bpp for a codec) on the held-out crops."""
        point = [at, round(validate(model, val_crops, device, options["noise_sigma"]), 3)]
        return point + [round(validate_bpp(model, val_crops, device), 4)] if codec else point

    if rank == 0 and val_crops is not None and step == 0:  # the starting point (block-PCA for conv)
        val_history.append(validation_point(0))
    started = time.perf_counter()
    while step < options["steps"]:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, options, extended_at) * group["lr_scale"]
        x = sampler.sample(batch).to(device).contiguous(memory_format=torch.channels_last)
        noisy = None
        if options["noise_sigma"]:  # σ per image, uniform in [0, noise_sigma]
            sigma = torch.rand(batch, 1, 1, 1, generator=sampler.generator) * options["noise_sigma"]
            noisy = add_noise(x, sigma.to(device), sampler.generator)
        loss = training_step(stepped, optimizer, x, mixed, lmbda, noisy)
        step += 1
        now = time.perf_counter()
        elapsed, started = elapsed + now - started, now
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.5f}",
                        **({} if codec else {"psnr": f"{-10 * math.log10(max(loss.item(), 1e-10)):.2f}"}),
                        img_s=f"{bar.n * batch * world / max(elapsed, 1e-9):.0f}" if bar.n else "")
        if rank == 0 and val_crops is not None and (step % options["val_interval"] == 0 or step == options["steps"]):
            val_history.append(validation_point(step))
            bar.write(f"step {step}: validation PSNR {val_history[-1][1]:.2f} dB"
                      + (f" at {val_history[-1][2]:.3f} bpp (estimated)" if codec else "") + " (held-out training photos)")
            sys.stdout.flush()  # logs redirected to a file show progress as it happens
        if rank == 0 and (step % args.checkpoint_interval == 0 or step == options["steps"]):
            save_checkpoint()
        started = time.perf_counter()  # checkpoint and validation time is not training time
    bar.close()

    record = None
    if rank == 0:
        record = finish(model, options, args, argv, device, world, elapsed, val_history, val_crops, source,
                        n_train=len(train_files), n_val=len(val_files))
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return record


def finish(model, options, args, argv, device, world, elapsed, val_history, val_crops, source, n_train,
           n_val) -> ModelEntry:
    """Write the weights and the manifest entry that says how they were made. The entry is
    replaced, not merged: scores measured on the previous weights of this id no longer hold."""
    out = args.out or run_folder(options)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{options['id']}.safetensors"
    dtype = getattr(torch, options["storage_dtype"])
    model = model.cpu().eval()
    if model.entropy_coded:
        model.prepare_for_coding()  # the integer tables the range coder reads, saved with the weights
    sha = save_weights(model, path, dtype)
    stored = load_weights_file(path, model.family, vars(model.config))
    cfg = vars(model.config)
    threads = torch.get_num_threads()
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"{device.type} ({cpu_name()}, {threads} thread{'s' * (threads != 1)})"
    if options["precision"] != "float32":
        device_name += f", {options['precision']} autocast"
    command = "python -m autoencoder train " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    # What storing the weights in a smaller type costs, on the same held-out crops.
    as_stored = round(validate(stored, val_crops, torch.device("cpu"), options["noise_sigma"]), 3) \
        if val_crops is not None and dtype != torch.float32 else None
    training = TrainingRecord(
        command=command + (f"  (under torchrun, {world} processes)" if world > 1 else ""),
        options=options,
        data=f"{options['data']} ({n_train} images trained on, {n_val} held out for validation)",
        steps=options["steps"],
        images_seen=options["steps"] * options["batch_size"] * world,
        wall_time_s=round(elapsed, 1),
        device=device_name,
        processes=world,
        torch_version=torch.__version__,
        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        validation_psnr=val_history,
        # the whole history: what this fine-tune started from, and how that was made
        init_from=StartingPoint(source.id, source.sha256, source.training) if source else None,
        validation_psnr_as_stored=as_stored,
    )
    entry = ModelEntry(
        options["id"], model.family, cfg, path.name, sha, values_ratio(model),
        **MODEL_FAMILIES[model.family].manifest_fields(cfg, options["lmbda"]),
        **({"use": "denoising", "noise_sigma": options["noise_sigma"]} if options["noise_sigma"] else {}),
        parameters=sum(p.numel() for p in model.parameters()),
        storage_dtype=options["storage_dtype"],
        file_bytes=path.stat().st_size,
        training=training,
    )
    write_entry(entry, out)
    print(f"wrote {path} and its entry in {out / 'manifest.json'}"
          + ("" if args.out else f"; use it with AUTOENCODER_WEIGHTS={out}"))
    return entry
