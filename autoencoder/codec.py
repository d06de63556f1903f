"""Real compression with a codec model: image → integer symbols → range-coded bytes → `.aez` file,
and back.

    result = compress(model, x, "codec-c16-hp", sha256)   # x: RGB (1, 3, H, W) in [0, 1]
    result.data            # the .aez file's bytes (docs/aez-format.md describes the layout)
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

Quantization step. A hyperprior file may code the latent with a step Δ ≠ 1 (in units of the
trained step; `rate.py` picks it to meet a size): y = round((u − μ)/Δ), coded under the
Gaussian of scale σ/Δ (its table index found by comparing integers, as for Δ = 1), and the
decoder gets û = y·Δ + μ. Δ = 1 codes exactly what the trained model always did.

A damaged stream is refused, never decoded into another picture: each stream must decode to
the symbols the encoder wrote, to the last byte (the decoded symbols are coded again and must
give the stream, byte for byte), and to the CRC-32 of those symbols stored in the header
(aez.symbol_check, which also covers the header's model, size and step).

Memory. Decoding runs the integer hyper-synthesis and the image decoder in tiles (with the
margins their convolutions need, so tiles give the whole image's pixels) once an image needs
more than WHOLE_IMAGE_BYTES of a model's working memory: what a file can make the decoder
allocate is bounded by its pixel count (aez.MAX_CODEC_PIXELS) times a few bytes, plus one tile
(docs/aez-format.md gives the figures).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import constriction
import numpy as np
import torch

from . import aez
from .aez import AezError
from .entropy import FIXED_POINT_BITS, SCALE_LEVELS, SUPPORT, table_bits
from .models import HYPER_FACTOR, CodecAutoencoder, crop_to, family_of, pad_to_multiple
from .pretrained import load_pretrained, model_info


class CodecError(ValueError):
    """A file that cannot be decoded: for another model, or for no known model."""


DECODE_TILE_BYTES = 100_000_000  # the working memory one decoding tile may take, by decoder_bytes_per_pixel
WHOLE_IMAGE_BYTES = 256_000_000  # an image whose decoding needs no more is decoded whole (Kodak, the app's photos)


@dataclass
class Symbols:
    """What the range coder codes, and what the decoder rebuilds the image from."""
    y: torch.Tensor  # int16 (C, h, w), in [-SUPPORT, SUPPORT]
    z: torch.Tensor | None  # int16 (Nz, h/4, w/4) for a hyperprior model, else None
    mean: torch.Tensor | None  # float32 (C, h, w): the hyperprior's predicted means
    scale_index: torch.Tensor | None  # uint8 (C, h, w): which Gaussian table codes each y symbol
    step: float = 1.0  # the quantization step Δ: the decoder gets y·Δ + mean


@dataclass
class Compressed:
    data: bytes  # the .aez file
    image: torch.Tensor  # (1, 3, H, W) in [0, 1]: the decoded image
    latent: torch.Tensor  # (C, h, w) float: the rounded latent the decoder gets (û, in trained quantization steps)
    bits_map: torch.Tensor  # (H, W): bits spent on each pixel (latent and hyper-latent, spread over their blocks)
    stream_bytes: list[int]  # the coded streams' lengths, in file order
    estimated_bits: float  # what the model's likelihoods predict for the rounded latent
    step: float = 1.0  # the quantization step Δ the file codes with


@dataclass
class Decompressed:
    image: torch.Tensor  # (1, 3, H, W) in [0, 1]
    model_id: str
    header: aez.AezFile


# ---------------------------------------------------------------------------------------
# Memory: what decoding one pixel costs, and tiles that keep it bounded.

def decoder_bytes_per_pixel(model: CodecAutoencoder) -> tuple[float, float, float]:
    """Working memory of decoding, in bytes per image pixel, by stage: (integer hyper-synthesis,
    decoder before the post-filter, post-filter). Estimates from the layer widths (float64
    activations and im2col columns of the integer network at 1/64 of the pixels; float32
    activations of the decoder, and its input and output images); a slow test measures each
    shipped model (peak resident memory of each stage at 1024×1024) and checks that they are
    upper bounds: measured 173–222, 63–87 and 420 (post-filter of 32 channels) bytes a pixel."""
    c = model.config
    hyper = 8 * (16 * c.hyper_width + 6 * c.latent_channels) / 64 if c.prior == "hyperprior" else 0.0
    blocks = 64 + 4 * (192 + 3 * c.width + c.latent_channels) / 64
    post = 24 + 14 * c.refine_width
    return hyper, blocks, post


def _tiles(size: int, tile: int) -> list[tuple[int, int]]:
    return [(a, min(a + tile, size)) for a in range(0, size, tile)]


def _tile_side(h: int, w: int, bytes_per_unit: float, margin: int = 0) -> int:
    """Tiles for an (h, w) grid of units costing bytes_per_unit each: the whole grid (one tile)
    when it fits WHOLE_IMAGE_BYTES, else the largest square whose side plus `margin` on every
    side fits DECODE_TILE_BYTES (at least 1)."""
    if h * w * bytes_per_unit <= WHOLE_IMAGE_BYTES:
        return max(h, w)
    return max(1, int(math.sqrt(DECODE_TILE_BYTES / bytes_per_unit)) - 2 * margin)


# ---------------------------------------------------------------------------------------
# Symbols: the deterministic part of encoding and decoding.

HYPER_MARGIN = 2  # hyper-latent positions around a tile that the integer hyper-synthesis reads (reach < 2)
_SCALE_CAP = 1 << 40  # |scale| at fixed point above every (bound · step): comparisons stay in int64


def _hyper_params(model: CodecAutoencoder, z: torch.Tensor, h: int, w: int, step: int | None = None,
                  tile: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer z (Nz, h/4, w/4) → means (C, h, w) float32 and, with `step` (aez's integer step),
    scale indices (C, h, w) uint8, else the scales at fixed point (C, h, w) int64, capped, for
    scale_index. Bit-exact on any machine: the integer network's output is compared with
    integer thresholds. Computed in tiles of `tile` hyper-latent positions (default: _tile_side)
    with HYPER_MARGIN around each: integers, so tiles give exactly the whole image's values."""
    c = model.config.latent_channels
    mean = torch.empty(c, h, w, dtype=torch.float32)
    second = torch.empty(c, h, w, dtype=torch.uint8 if step is not None else torch.int64)
    hz, wz = z.shape[-2:]
    tile = tile or _tile_side(hz, wz, decoder_bytes_per_pixel(model)[0] * 1024, HYPER_MARGIN)
    for r0, r1 in _tiles(hz, tile):
        for c0, c1 in _tiles(wz, tile):
            a, b = max(r0 - HYPER_MARGIN, 0), min(r1 + HYPER_MARGIN, hz)
            d, e = max(c0 - HYPER_MARGIN, 0), min(c1 + HYPER_MARGIN, wz)
            acc = model.hyper_synthesis_int(z[None, :, a:b, d:e])[0]  # int64 (2C, ·, ·) at scale 2**(2·bits)
            rows, cols = slice(4 * r0, min(4 * r1, h)), slice(4 * c0, min(4 * c1, w))
            acc = acc[:, 4 * (r0 - a) : 4 * (r0 - a) + rows.stop - rows.start,
                      4 * (c0 - d) : 4 * (c0 - d) + cols.stop - cols.start]
            mean_acc, scale_acc = acc.chunk(2, dim=0)
            mean[:, rows, cols] = (mean_acc.double() / 2.0 ** (2 * FIXED_POINT_BITS)).float()
            scale = scale_acc.abs().clamp_max(_SCALE_CAP)
            second[:, rows, cols] = scale if step is None else scale_index(model, scale, step)
    return mean, second


def scale_index(model: CodecAutoencoder, scale: torch.Tensor, step: int) -> torch.Tensor:
    """Fixed-point scales σ (capped int64) → the index of σ/Δ on the scale ladder (uint8), by
    integer comparisons: bound·Δ ≤ σ ⟺ bound_int · step ≤ σ_int · STEP_ONE."""
    bounds = (model.scale_bounds_int * step).contiguous()
    index = torch.searchsorted(bounds, (scale * aez.STEP_ONE).flatten().contiguous(), right=True)
    return index.reshape(scale.shape).to(torch.uint8)


def _clamp(v: torch.Tensor) -> torch.Tensor:
    return torch.round(v).clamp(-SUPPORT, SUPPORT).to(torch.int16)


@torch.no_grad()
def symbols_of(model: CodecAutoencoder, x: torch.Tensor, step: float = 1.0) -> Symbols:
    """x: RGB (1, 3, H, W) in [0, 1] → the symbols the range coder writes."""
    return Encoding(model, x).symbols(step)


def latent_of(s: Symbols) -> torch.Tensor:
    """Symbols → the rounded latent û (C, h, w) the decoder gets: round(u), or round((u − μ)/Δ)·Δ + μ."""
    return _latent_window(s, slice(None), slice(None))


def _latent_window(s: Symbols, rows: slice, cols: slice) -> torch.Tensor:
    y = s.y[:, rows, cols].float()
    return y if s.mean is None else y * s.step + s.mean[:, rows, cols]


@torch.no_grad()
def image_of(model: CodecAutoencoder, s: Symbols, height: int, width: int, tile: int | None = None) -> torch.Tensor:
    """Symbols → the decoded image (1, 3, height, width) in [0, 1]. An image that fits one tile
    (`tile` latent positions a side; default: _tile_side for this model) is decoded whole; a
    bigger one tile by tile, each with the margins decoder_reach says its pixels depend on, so
    the tiles give the whole image's pixels (to float rounding)."""
    _, h, w = s.y.shape
    _, blocks_bpp, post_bpp = decoder_bytes_per_pixel(model)
    latent_margin, pixel_margin = model.transform.decoder_reach()
    extra = latent_margin + -(-pixel_margin // 8)  # latent positions around a tile
    if tile is None:
        tile = min(_tile_side(h, w, blocks_bpp * 64, extra), _tile_side(h, w, post_bpp * 64))
    if h <= tile and w <= tile:
        return crop_to(model.decode(latent_of(s)[None]), height, width).clamp(0, 1)
    out = torch.empty(1, 3, height, width)
    for r0, r1 in _tiles(h, tile):
        for c0, c1 in _tiles(w, tile):
            a, b = max(r0 - extra, 0), min(r1 + extra, h)  # latent window
            d, e = max(c0 - extra, 0), min(c1 + extra, w)
            blocks = model.decode_blocks(_latent_window(s, slice(a, b), slice(d, e))[None])
            # the post-filter's input: the tile's pixels and pixel_margin around them (inside the image)
            top, left = max(8 * r0 - pixel_margin, 0), max(8 * c0 - pixel_margin, 0)
            bottom, right = min(8 * r1 + pixel_margin, 8 * h), min(8 * c1 + pixel_margin, 8 * w)
            filtered = model.transform.post_filter(blocks[..., top - 8 * a : bottom - 8 * a, left - 8 * d : right - 8 * d])
            rows, cols = slice(8 * r0, min(8 * r1, height)), slice(8 * c0, min(8 * c1, width))
            out[..., rows, cols] = filtered[..., rows.start - top : rows.stop - top, cols.start - left : cols.stop - left]
    return out.clamp_(0, 1)


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
    upsampled = per_pixel.float().repeat_interleave(8, 0).repeat_interleave(8, 1)
    return upsampled[:height, :width]


# ---------------------------------------------------------------------------------------
# Range coding with constriction.

def _categorical(table: torch.Tensor):
    """An integer pmf table → constriction's model. The float64 copy of the integers is exact,
    and constriction's own quantization of it is deterministic, so both sides build the same model."""
    return constriction.stream.model.Categorical(table.numpy().astype(np.float64), perfect=False)


def _encode(chunks) -> bytes:
    """(symbols, table) pairs, symbols int in [-SUPPORT, SUPPORT] → one stream."""
    encoder = constriction.stream.queue.RangeEncoder()
    for symbols, table in chunks:
        encoder.encode((np.asarray(symbols, dtype=np.int32) + SUPPORT), _categorical(table))
    return encoder.get_compressed().tobytes()


def _decode(stream: bytes, plan, what: str, put: Callable[[int, np.ndarray], None]) -> None:
    """Decode `stream` as the (table, count) pairs of `plan`, handing chunk i (int16 symbols) to
    put(i, chunk); AezError if the stream does not decode, or holds anything but exactly the
    code of what it decodes to (coded again, the symbols must give the stream byte for byte:
    appended or changed bytes cannot pass, whatever constriction makes of them)."""
    damaged = f"the file is damaged: its {what} stream"
    if len(stream) % 4:
        raise AezError(f"{damaged} is not a whole number of 32-bit words")
    decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(stream, dtype=np.uint32).copy())
    again = constriction.stream.queue.RangeEncoder()
    for i, (table, count) in enumerate(plan):
        model = _categorical(table)
        try:
            chunk = decoder.decode(model, count)
        except Exception:  # noqa: BLE001 — constriction refuses data it cannot decode (AssertionError, ValueError)
            raise AezError(f"{damaged} does not decode") from None
        again.encode(chunk, model)
        put(i, (chunk - SUPPORT).astype(np.int16))
    if not decoder.maybe_exhausted() or again.get_compressed().tobytes() != stream:
        raise AezError(f"{damaged} holds other bytes than the code of the symbols it decodes to "
                       "(changed or appended bytes)")


def _scale_order(index: torch.Tensor) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """The coding order of y under a hyperprior: positions sorted by scale index (stable, so raster
    order within a scale), and each scale present as (scale, start, count) in that order."""
    flat = index.numpy().ravel()
    order = np.argsort(flat, kind="stable")
    counts = np.bincount(flat, minlength=SCALE_LEVELS)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return order, [(k, int(starts[k]), int(counts[k])) for k in range(SCALE_LEVELS) if counts[k]]


def encode_streams(model: CodecAutoencoder, s: Symbols) -> list[bytes]:
    if s.z is None:
        return [_encode(zip(s.y.flatten(1).numpy(), model.prior.pmf_table))]
    return [_encode_z(model, s.z), _encode_y(model, s)]


def _encode_z(model: CodecAutoencoder, z: torch.Tensor) -> bytes:
    return _encode(zip(z.flatten(1).numpy(), model.hyper_prior.pmf_table))


def _encode_y(model: CodecAutoencoder, s: Symbols) -> bytes:
    order, groups = _scale_order(s.scale_index)
    flat = s.y.numpy().ravel()
    return _encode((flat[order[start : start + n]], model.gaussian_table[k]) for k, start, n in groups)


def stream_symbols(s: Symbols) -> list[np.ndarray]:
    """Each stream's symbols in the order its symbol check reads them (raster order)."""
    return [s.y.numpy()] if s.z is None else [s.z.numpy(), s.y.numpy()]


def decode_streams(model: CodecAutoencoder, f: aez.AezFile) -> Symbols:
    """A checked file's streams → its symbols. AezError if a stream is damaged (does not decode,
    holds other bytes than its symbols' code, or decodes to symbols that fail their check)."""
    c, h, w = model.latent_shape(f.height, f.width)
    factorized = model.config.prior == "factorized"
    expected = 1 if factorized else 2
    if len(f.streams) != expected:
        raise CodecError(f"a {model.config.prior} model's file has {expected} stream(s), this one {len(f.streams)}")
    if factorized and f.step != aez.STEP_ONE:
        raise AezError(f"the header's quantization step is {aez.step_value(f.step):g}, but a factorized-prior "
                       "model's file codes at step 1 only")
    names = ["latent"] if factorized else ["hyper-latent", "latent"]

    def check(i: int, symbols: np.ndarray) -> None:
        if f.symbol_checks is not None and aez.symbol_check(symbols, f.check_seed) != f.symbol_checks[i]:
            raise AezError(f"the file is damaged: its {names[i]} stream decodes to other symbols than were "
                           "written (their check does not match)")

    def rows(stream: bytes, tables: torch.Tensor, shape: tuple[int, ...], what: str) -> np.ndarray:
        out = np.empty((len(tables), shape[-2] * shape[-1]), dtype=np.int16)
        _decode(stream, [(t, out.shape[1]) for t in tables], what, out.__setitem__)
        return out.reshape(shape)

    if factorized:
        y = rows(f.streams[0], model.prior.pmf_table, (c, h, w), names[0])
        check(0, y)
        return Symbols(torch.from_numpy(y), None, None, None)
    hz, wz = -(-h // HYPER_FACTOR), -(-w // HYPER_FACTOR)
    z = rows(f.streams[0], model.hyper_prior.pmf_table, (-1, hz, wz), names[0])
    check(0, z)
    z = torch.from_numpy(z)
    mean, index = _hyper_params(model, z, h, w, step=f.step)
    order, groups = _scale_order(index)
    y = np.empty(c * h * w, dtype=np.int16)

    def put(i: int, chunk: np.ndarray) -> None:
        _, start, n = groups[i]
        y[order[start : start + n]] = chunk

    _decode(f.streams[1], [(model.gaussian_table[k], n) for k, _, n in groups], names[1], put)
    y = y.reshape(c, h, w)
    check(1, y)
    return Symbols(torch.from_numpy(y), z, mean, index, aez.step_value(f.step))


# ---------------------------------------------------------------------------------------
# Whole files.

class Encoding:
    """One image's encoder pass with one model: everything a file needs that does not depend on
    the quantization step, so that files at many steps (rate.py's search) cost one pass.

        enc = Encoding(model, x, "codec-c16-hp", sha256)   # x: RGB (1, 3, H, W) in [0, 1]
        len(enc.file(1.3))      # the .aez file at step 1.3: its bytes, without decoding it
        enc.compressed(1.3)     # the file and what it decodes to (what compress returns)

    latent: the latent u (C, h, w) to code instead of the encoder's (search.py finds one);
    the file codes it exactly as it would the encoder's, for the same decoder.
    """

    @torch.no_grad()
    def __init__(self, model: CodecAutoencoder, x: torch.Tensor, model_id: str = "", weights_sha256: str = "",
                 latent: torch.Tensor | None = None):
        if not isinstance(model, CodecAutoencoder):
            raise TypeError(f"{model_id} is a {model.family} model; only codec models write files")
        self.height, self.width = x.shape[-2:]
        if self.height * self.width > aez.MAX_CODEC_PIXELS:
            raise ValueError(f"the image is {self.width}×{self.height} = {self.height * self.width:,} pixels; the codec "
                             f"takes at most {aez.MAX_CODEC_PIXELS:,}: downscale it first")
        self.model, self.model_id, self.weights_sha256 = model, model_id, weights_sha256
        if latent is None:
            latent = model.encode(pad_to_multiple(x, model.downsampling_factor))[0]
        elif tuple(latent.shape) != model.latent_shape(self.height, self.width):
            raise ValueError(f"the latent is {tuple(latent.shape)}; this image's is {model.latent_shape(self.height, self.width)}")
        self.u = latent.float()  # (C, h, w)
        self.z = self.mean = self.scale = self.z_stream = None
        if model.config.prior == "hyperprior":
            self.z = _clamp(model.hyper_analysis(pad_to_multiple(self.u[None], HYPER_FACTOR)).float()[0])
            self.mean, self.scale = _hyper_params(model, self.z, *self.u.shape[-2:])
            self.z_stream = _encode_z(model, self.z)

    def symbols(self, step: float = 1.0) -> Symbols:
        code = aez.step_code(step)
        if self.z is None:
            if code != aez.STEP_ONE:
                raise ValueError("a factorized-prior model codes at its trained step only (step 1)")
            return Symbols(_clamp(self.u), None, None, None)
        delta = aez.step_value(code)
        return Symbols(_clamp((self.u - self.mean) / delta), self.z, self.mean,
                       scale_index(self.model, self.scale, code), delta)

    def _file(self, s: Symbols) -> tuple[bytes, list[bytes]]:
        streams = encode_streams(self.model, s) if s.z is None else [self.z_stream, _encode_y(self.model, s)]
        f = aez.AezFile(self.model_id, self.weights_sha256, self.height, self.width, streams, aez.step_code(s.step))
        seed = aez.check_seed(f)
        f.symbol_checks = [aez.symbol_check(a, seed) for a in stream_symbols(s)]
        return aez.pack(f), streams

    def file(self, step: float = 1.0) -> bytes:
        """The .aez file at quantization step `step` (rounded to a multiple of 1/4096)."""
        return self._file(self.symbols(step))[0]

    @torch.no_grad()
    def compressed(self, step: float = 1.0) -> Compressed:
        s = self.symbols(step)
        data, streams = self._file(s)
        _, estimated = self.model.latent_bits(self.u[None], noisy=False, step=s.step)
        return Compressed(data=data, image=image_of(self.model, s, self.height, self.width), latent=latent_of(s),
                          bits_map=bits_map(self.model, s, self.height, self.width),
                          stream_bytes=[len(b) for b in streams], estimated_bits=float(estimated), step=s.step)


@torch.no_grad()
def compress(model: CodecAutoencoder, x: torch.Tensor, model_id: str, weights_sha256: str,
             step: float = 1.0) -> Compressed:
    """x: RGB (1, 3, H, W) in [0, 1], H·W ≤ aez.MAX_CODEC_PIXELS → an .aez file and what it decodes
    to. step: the quantization step Δ (hyperprior models; 1 is the trained model's, within
    aez.STEP_RANGE); rate.compress_to picks a model and step for a target size or quality."""
    return Encoding(model, x, model_id, weights_sha256).compressed(step)


def load_codec(model_id: str) -> tuple[CodecAutoencoder, str]:
    """A shipped codec model and its weights' sha256, for decompress (CodecError if there is none)."""
    try:
        info = model_info(model_id)
    except KeyError:
        raise CodecError(f"the file was made with model {model_id!r}, which is not in the weights folder") from None
    if not family_of(info).entropy_coded:
        raise CodecError(f"the file names {model_id!r}, a {info.get('family')} model, not a codec")
    return load_pretrained(model_id), info["sha256"]


@torch.no_grad()
def decompress(data: bytes, load: Callable[[str], tuple[CodecAutoencoder, str]] = load_codec,
               expect_model: str | None = None) -> Decompressed:
    """An .aez file's bytes → the image. `load` maps the file's model id to (model, sha256);
    expect_model refuses files of any other model. Raises aez.AezError (an unreadable or
    damaged file) or CodecError (a file for another or an unknown model)."""
    header = aez.unpack(data)
    if expect_model is not None and header.model_id != expect_model:
        raise CodecError(f"this file was made with {header.model_id!r}, not {expect_model!r}")
    model, sha = load(header.model_id)
    if not sha.startswith(header.weights_sha256):
        raise CodecError(f"this file was made with other weights of {header.model_id!r} "
                         f"(sha256 {header.weights_sha256}…, installed {sha[:16]}…)")
    s = decode_streams(model, header)
    return Decompressed(image_of(model, s, header.height, header.width), header.model_id, header)
