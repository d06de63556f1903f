"""Real compression with a codec model: image → integer symbols → range-coded bytes → `.aez` file,
and back.

    result = compress(model, x, "codec-c16-hp", sha256)   # x: RGB (1, 3, H, W) in [0, 1]
    result.data            # the .aez file's bytes (aez.py documents the layout)
    result.image           # exactly what decompress(result.data) gives (same symbols, same decoder)
    decompress(result.data).image

Encoder and decoder derive every probability table from integers stored in the weights
(entropy.py), so a file decodes to the same symbols in another process or on another machine.
The bytes come from `constriction`'s range coder (a queue: symbols decode in the order they
were encoded).

Stream order: a hyperprior model writes [hyper-latent z, latent y]; a factorized model [y].
Within a stream, y is coded channel by channel (factorized: one table per channel) or grouped
by scale index (hyperprior: all symbols of scale 0, then scale 1, …, each group in raster
order), which the decoder can repeat because it knows every scale index before it reads y.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import constriction
import numpy as np
import torch

from . import aez
from .entropy import FIXED_POINT_BITS, SUPPORT, table_bits
from .models import HYPER_FACTOR, CodecAutoencoder, crop_to, pad_to_multiple
from .pretrained import load_pretrained, model_info


class CodecError(ValueError):
    """A file that cannot be decoded: unreadable, for another model, or for no known model."""


@dataclass
class Symbols:
    """What the range coder codes, and what the decoder rebuilds the image from."""
    y: torch.Tensor  # int64 (C, h, w), in [-SUPPORT, SUPPORT]
    z: torch.Tensor | None  # int64 (Nz, h/4, w/4) for a hyperprior model, else None
    mean: torch.Tensor | None  # float32 (C, h, w): the hyperprior's predicted means
    scale_index: torch.Tensor | None  # int64 (C, h, w): which Gaussian table codes each y symbol


@dataclass
class Compressed:
    data: bytes  # the .aez file
    image: torch.Tensor  # (1, 3, H, W) in [0, 1]: the decoded image
    latent: torch.Tensor  # (C, h, w) float: the rounded latent the decoder gets (û, in quantization steps)
    bits_map: torch.Tensor  # (H, W): bits spent on each pixel (latent and hyper-latent, spread over their blocks)
    stream_bytes: list[int]  # the coded streams' lengths, in file order
    estimated_bits: float  # what the model's likelihoods predict for the rounded latent


@dataclass
class Decompressed:
    image: torch.Tensor  # (1, 3, H, W) in [0, 1]
    model_id: str
    header: aez.AezFile


# ---------------------------------------------------------------------------------------
# Symbols: the deterministic part of encoding and decoding.

def _hyper_decode(model: CodecAutoencoder, z: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer z (Nz, h/4, w/4) → means (C, h, w) float32 and scale indices (C, h, w), bit-exact
    on any machine: the integer network's output is compared with integer thresholds."""
    acc = model.hyper_synthesis_int(z[None])[0, :, :h, :w]  # int64 (2C, h, w) at scale 2**(2·bits)
    mean_acc, scale_acc = acc.chunk(2, dim=0)
    mean = (mean_acc.double() / 2.0 ** (2 * FIXED_POINT_BITS)).float()
    index = torch.searchsorted(model.scale_bounds_int, scale_acc.abs().flatten().contiguous(), right=True)
    return mean, index.reshape(scale_acc.shape)


def _clamp(v: torch.Tensor) -> torch.Tensor:
    return torch.round(v).clamp(-SUPPORT, SUPPORT).long()


@torch.no_grad()
def symbols_of(model: CodecAutoencoder, x: torch.Tensor) -> Symbols:
    """x: RGB (1, 3, H, W) in [0, 1] → the symbols the range coder writes."""
    return _symbols_of_latent(model, model.encode(pad_to_multiple(x, model.downsampling_factor)).float()[0])


def _symbols_of_latent(model: CodecAutoencoder, u: torch.Tensor) -> Symbols:
    """The encoder's latent u (C, h, w) → symbols."""
    if model.config.prior == "factorized":
        return Symbols(_clamp(u), None, None, None)
    z = _clamp(model.hyper_analysis(pad_to_multiple(u[None], HYPER_FACTOR)).float()[0])  # (Nz, h/4, w/4)
    mean, index = _hyper_decode(model, z, *u.shape[-2:])
    return Symbols(_clamp(u - mean), z, mean, index)


def latent_of(s: Symbols) -> torch.Tensor:
    """Symbols → the rounded latent û (C, h, w) the decoder gets: round(u), or round(u − μ) + μ."""
    return s.y.float() if s.mean is None else s.y.float() + s.mean


@torch.no_grad()
def image_of(model: CodecAutoencoder, s: Symbols, height: int, width: int) -> torch.Tensor:
    """Symbols → the decoded image (1, 3, height, width) in [0, 1]."""
    return crop_to(model.decode(latent_of(s)[None]), height, width).clamp(0, 1)


def bits_map(model: CodecAutoencoder, s: Symbols, height: int, width: int) -> torch.Tensor:
    """(height, width): each latent position's bits over its 8×8 pixels, plus each hyper-latent
    position's over its 32×32: the map sums to the coded bits (padding aside)."""
    if s.z is None:
        y_bits = table_bits(model.prior.pmf_table[:, None, None, :], s.y)
    else:
        y_bits = table_bits(model.gaussian_table, s.y, index=s.scale_index)
    per_pixel = y_bits.sum(0) / 64.0  # (h, w)
    if s.z is not None:
        z_bits = table_bits(model.hyper_prior.pmf_table[:, None, None, :], s.z).sum(0) / 1024.0
        h, w = per_pixel.shape
        per_pixel = per_pixel + z_bits.repeat_interleave(4, 0).repeat_interleave(4, 1)[:h, :w]
    upsampled = per_pixel.repeat_interleave(8, 0).repeat_interleave(8, 1)
    return upsampled[:height, :width].float()


# ---------------------------------------------------------------------------------------
# Range coding with constriction.

def _categorical(table: torch.Tensor):
    """An integer pmf table → constriction's model. The float64 copy of the integers is exact,
    and constriction's own quantization of it is deterministic, so both sides build the same model."""
    return constriction.stream.model.Categorical(table.numpy().astype(np.float64), perfect=False)


def _encode_rows(symbols: torch.Tensor, tables: torch.Tensor) -> bytes:
    """Row k of symbols (K, N) coded with table k: one stream."""
    encoder = constriction.stream.queue.RangeEncoder()
    for row, table in zip(symbols, tables):
        encoder.encode((row + SUPPORT).numpy().astype(np.int32), _categorical(table))
    return encoder.get_compressed().tobytes()


def _decoder(stream: bytes):
    if len(stream) % 4:
        raise CodecError("a coded stream's length is not a whole number of 32-bit words")
    return constriction.stream.queue.RangeDecoder(np.frombuffer(stream, dtype=np.uint32).copy())


def _decode_rows(stream: bytes, tables: torch.Tensor, count: int) -> torch.Tensor:
    decoder = _decoder(stream)
    rows = [np.asarray(decoder.decode(_categorical(t), count), dtype=np.int64) for t in tables]
    return torch.from_numpy(np.stack(rows)) - SUPPORT


def _scale_order(index: torch.Tensor) -> tuple[torch.Tensor, list[int], list[int]]:
    """The coding order of y under a hyperprior: positions sorted by scale index (stable, so raster
    order within a scale), and each scale present with its count."""
    flat = index.flatten()
    order = torch.argsort(flat, stable=True)
    scales, counts = torch.unique_consecutive(flat[order], return_counts=True)
    return order, scales.tolist(), counts.tolist()


def _encode_by_scale(y: torch.Tensor, index: torch.Tensor, tables: torch.Tensor) -> bytes:
    order, scales, counts = _scale_order(index)
    ordered = (y.flatten()[order] + SUPPORT).numpy().astype(np.int32)
    encoder = constriction.stream.queue.RangeEncoder()
    start = 0
    for k, n in zip(scales, counts):
        encoder.encode(ordered[start : start + n], _categorical(tables[k]))
        start += n
    return encoder.get_compressed().tobytes()


def _decode_by_scale(stream: bytes, index: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
    order, scales, counts = _scale_order(index)
    decoder = _decoder(stream)
    ordered = np.concatenate([np.asarray(decoder.decode(_categorical(tables[k]), n), dtype=np.int64)
                              for k, n in zip(scales, counts)])
    flat_y = torch.empty(index.numel(), dtype=torch.int64)
    flat_y[order] = torch.from_numpy(ordered) - SUPPORT
    return flat_y.reshape(index.shape)


def encode_streams(model: CodecAutoencoder, s: Symbols) -> list[bytes]:
    if s.z is None:
        return [_encode_rows(s.y.flatten(1), model.prior.pmf_table)]
    return [_encode_rows(s.z.flatten(1), model.hyper_prior.pmf_table),
            _encode_by_scale(s.y, s.scale_index, model.gaussian_table)]


def decode_streams(model: CodecAutoencoder, streams: list[bytes], height: int, width: int) -> Symbols:
    c, h, w = model.latent_shape(height, width)
    expected = 1 if model.config.prior == "factorized" else 2
    if len(streams) != expected:
        raise CodecError(f"a {model.config.prior} model's file has {expected} stream(s), this one {len(streams)}")
    try:
        if model.config.prior == "factorized":
            return Symbols(_decode_rows(streams[0], model.prior.pmf_table, h * w).reshape(c, h, w), None, None, None)
        hz, wz = -(-h // HYPER_FACTOR), -(-w // HYPER_FACTOR)
        z = _decode_rows(streams[0], model.hyper_prior.pmf_table, hz * wz).reshape(-1, hz, wz)
        mean, index = _hyper_decode(model, z, h, w)
        return Symbols(_decode_by_scale(streams[1], index, model.gaussian_table), z, mean, index)
    except CodecError:
        raise
    except Exception as e:  # constriction refuses data it cannot decode
        raise CodecError(f"the coded data cannot be decoded ({type(e).__name__}: {e})") from None


# ---------------------------------------------------------------------------------------
# Whole files.

@torch.no_grad()
def compress(model: CodecAutoencoder, x: torch.Tensor, model_id: str, weights_sha256: str) -> Compressed:
    """x: RGB (1, 3, H, W) in [0, 1], H·W ≤ aez.MAX_CODEC_PIXELS → an .aez file and what it decodes to."""
    if not isinstance(model, CodecAutoencoder):
        raise TypeError(f"{model_id} is a {model.family} model; only codec models write files")
    height, width = x.shape[-2:]
    if height * width > aez.MAX_CODEC_PIXELS:
        raise ValueError(f"the image is {width}×{height} = {width * height:,} pixels; the codec takes at most "
                         f"{aez.MAX_CODEC_PIXELS:,}: downscale it first")
    u = model.encode(pad_to_multiple(x, model.downsampling_factor)).float()  # (1, C, h, w)
    s = _symbols_of_latent(model, u[0])
    streams = encode_streams(model, s)
    data = aez.pack(aez.AezFile(model_id, weights_sha256, height, width, streams))
    _, estimated = model.latent_bits(u, noisy=False)
    return Compressed(data=data, image=image_of(model, s, height, width), latent=latent_of(s),
                      bits_map=bits_map(model, s, height, width),
                      stream_bytes=[len(b) for b in streams], estimated_bits=float(estimated))


def load_codec(model_id: str) -> tuple[CodecAutoencoder, str]:
    """A shipped codec model and its weights' sha256, for decompress (CodecError if there is none)."""
    try:
        info = model_info(model_id)
    except KeyError:
        raise CodecError(f"the file was made with model {model_id!r}, which is not in the weights folder") from None
    if info.get("family") != "codec":
        raise CodecError(f"the file names {model_id!r}, a {info.get('family')} model, not a codec")
    return load_pretrained(model_id), info["sha256"]


@torch.no_grad()
def decompress(data: bytes, load: Callable[[str], tuple[CodecAutoencoder, str]] = load_codec,
               expect_model: str | None = None) -> Decompressed:
    """An .aez file's bytes → the image. `load` maps the file's model id to (model, sha256);
    expect_model refuses files of any other model. Raises aez.AezError or CodecError."""
    header = aez.unpack(data)
    if expect_model is not None and header.model_id != expect_model:
        raise CodecError(f"this file was made with {header.model_id!r}, not {expect_model!r}")
    model, sha = load(header.model_id)
    if not sha.startswith(header.weights_sha256):
        raise CodecError(f"this file was made with other weights of {header.model_id!r} "
                         f"(sha256 {header.weights_sha256}…, installed {sha[:16]}…)")
    s = decode_streams(model, header.streams, header.height, header.width)
    return Decompressed(image_of(model, s, header.height, header.width), header.model_id, header)

