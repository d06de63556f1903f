"""Real compression with a codec model: image → integer symbols → range-coded bytes → `.aez` file,
and back.

    result = compress(model, x, "codec-c16-hp", sha256)   # x: RGB (1, 3, H, W) in [0, 1]
    result.data            # the .aez file's bytes (docs/aez-format.md describes the layout)
    result.image           # exactly what decompress(result.data) gives (same symbols, same decoder)
    decompress(result.data).image

This module is the file around the streams; what the streams hold is the model's prior's
(models.PRIORS: one class per prior owns its symbols, streams, step rule and bits map, and
entropy.py its tables and range coding). Encoder and decoder derive every probability table
from integers stored in the weights, so a file decodes to the same symbols in another process
or on another machine. A hyperprior model writes [hyper-latent z, latent y]; a factorized
model [y].

Quantization step. A file may code the latent with a step Δ ≠ 1 (in units of the trained step;
`rate.py` picks it to meet a size) where the prior allows it (`any_step`: the hyperprior, whose
y = round((u − μ)/Δ) is coded under the Gaussian of scale σ/Δ); the decoder gets û = y·Δ + μ.
Δ = 1 codes exactly what the trained model always did.

A damaged stream is refused, never decoded into another picture: each stream must decode to
the symbols the encoder wrote, to the last byte (the decoded symbols are coded again and must
give the stream, byte for byte), and to the CRC-32 of those symbols stored in the header
(aez.symbol_check, which also covers the header's model, size and step).

Memory. Decoding runs the integer hyper-synthesis and the image decoder in tiles (with the
margins their convolutions need, so tiles give the whole image's pixels) once an image needs
more than models.WHOLE_IMAGE_BYTES of a model's working memory: what a file can make the decoder
allocate is bounded by its pixel count (aez.MAX_CODEC_PIXELS) times a few bytes, plus one tile
(docs/aez-format.md gives the figures).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from . import aez
from .aez import AezError
from .manifest import model_info
from .models import (
    CodecAutoencoder,
    Symbols,
    crop_to,
    pad_to_multiple,
    tile_side,
    tiles,
)
from .pretrained import load_pretrained


class CodecError(ValueError):
    """A file that cannot be decoded: for another model, or for no known model."""


@dataclass
class Compressed:
    data: bytes  # the .aez file
    image: torch.Tensor  # (1, 3, H, W) in [0, 1]: the decoded image
    latent: torch.Tensor  # (C, h, w) float: the rounded latent the decoder gets (û, in trained quantization steps)
    bits_map: torch.Tensor  # (H, W): bits spent on each pixel (latent and side information, spread over their blocks)
    stream_bytes: list[int]  # the coded streams' lengths, in file order
    estimated_bits: float  # what the model's likelihoods predict for the rounded latent
    step: float = 1.0  # the quantization step Δ the file codes with


@dataclass
class Decompressed:
    image: torch.Tensor  # (1, 3, H, W) in [0, 1]
    model_id: str
    header: aez.AezFile


# ---------------------------------------------------------------------------------------
# Memory: what decoding one pixel costs (models.tile_side sizes the tiles that keep it bounded by it).

def decoder_bytes_per_pixel(model: CodecAutoencoder) -> tuple[float, float, float]:
    """Working memory of decoding, in bytes per image pixel, by stage: (side information: a
    hyperprior's integer hyper-synthesis, decoder before the post-filter, post-filter). Estimates from the layer widths (float64
    activations and im2col columns of the integer network at 1/64 of the pixels; float32
    activations of the decoder, and its input and output images); a slow test measures each
    shipped model (peak resident memory of each stage at 1024×1024) and checks that they are
    upper bounds: measured 173–222, 63–87 and 420 (post-filter of 32 channels) bytes a pixel."""
    c = model.config
    hyper = model.side_decoding_bytes_per_pixel()
    blocks = 64 + 4 * (192 + 3 * c.width + c.latent_channels) / 64
    post = 24 + 14 * c.refine_width
    return hyper, blocks, post


# ---------------------------------------------------------------------------------------
# Symbols: the deterministic part of encoding and decoding.

@torch.no_grad()
def symbols_of(model: CodecAutoencoder, x: torch.Tensor, step: float = 1.0) -> Symbols:
    """x: RGB (1, 3, H, W) in [0, 1] → the symbols the range coder writes."""
    return Encoding(model, x).symbols(step)


def latent_of(s: Symbols) -> torch.Tensor:
    """Symbols → the rounded latent û (C, h, w) the decoder gets: y·Δ + μ (round(u) for a factorized prior)."""
    return _latent_window(s, slice(None), slice(None))


def _latent_window(s: Symbols, rows: slice, cols: slice) -> torch.Tensor:
    y = s.y[:, rows, cols].float() * s.step
    return y if s.mean is None else y + s.mean[:, rows, cols]


@torch.no_grad()
def image_of(model: CodecAutoencoder, s: Symbols, height: int, width: int, tile: int | None = None) -> torch.Tensor:
    """Symbols → the decoded image (1, 3, height, width) in [0, 1]. An image that fits one tile
    (`tile` latent positions a side; default: models.tile_side for this model) is decoded whole; a
    bigger one tile by tile, each with the margins decoder_reach says its pixels depend on, so
    the tiles give the whole image's pixels (to float rounding)."""
    _, h, w = s.y.shape
    _, blocks_bpp, post_bpp = decoder_bytes_per_pixel(model)
    latent_margin, pixel_margin = model.transform.decoder_reach()
    extra = latent_margin + -(-pixel_margin // 8)  # latent positions around a tile
    if tile is None:
        tile = min(tile_side(h, w, blocks_bpp * 64, extra), tile_side(h, w, post_bpp * 64))
    if h <= tile and w <= tile:
        return crop_to(model.decode(latent_of(s)[None]), height, width).clamp(0, 1)
    out = torch.empty(1, 3, height, width)
    for r0, r1 in tiles(h, tile):
        for c0, c1 in tiles(w, tile):
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
    """(height, width): the bits spent on each pixel, each latent position's over its 8×8 pixels
    and side information over the blocks it describes (a hyper-latent position's over 32×32):
    the map sums to the coded bits (padding aside)."""
    f = model.downsampling_factor
    upsampled = model.coded_bits_per_pixel(s).float().repeat_interleave(f, 0).repeat_interleave(f, 1)
    return upsampled[:height, :width]


def decode_streams(model: CodecAutoencoder, f: aez.AezFile) -> Symbols:
    """A checked file's streams → its symbols. CodecError if the file has another number of streams
    than the model writes; AezError if its step is one the model cannot code, or a stream is
    damaged (does not decode, holds other bytes than its symbols' code, or decodes to symbols
    that fail their check)."""
    names = model.stream_names
    if len(f.streams) != len(names):
        raise CodecError(f"a {model.words} model's file has {len(names)} stream(s), this one {len(f.streams)}")
    if f.step != aez.STEP_ONE and not model.any_step:
        raise AezError(f"the header's quantization step is {aez.step_value(f.step):g}, but a {model.words} "
                       "model's file codes at step 1 only")

    def check(i: int, symbols: np.ndarray) -> None:
        if f.symbol_checks is not None and aez.symbol_check(symbols, f.check_seed) != f.symbol_checks[i]:
            raise AezError(f"the file is damaged: its {names[i]} stream decodes to other symbols than were "
                           "written (their check does not match)")

    _, h, w = model.latent_shape(f.height, f.width)
    return model.decode_symbols(f.streams, h, w, f.step, check)


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
        self.side = model.side_information(self.u)  # what the prior codes at every step (a hyperprior's z and its stream)

    def symbols(self, step: float = 1.0) -> Symbols:
        code = aez.step_code(step)
        if code != aez.STEP_ONE and not self.model.any_step:
            raise ValueError(f"a {self.model.words} model codes at its trained step only (step 1)")
        return self.model.symbols(self.u, self.side, code)

    def _file(self, s: Symbols) -> tuple[bytes, list[bytes]]:
        streams = self.model.encode_streams(s, self.side)
        f = aez.AezFile(self.model_id, self.weights_sha256, self.height, self.width, streams, aez.step_code(s.step))
        seed = aez.check_seed(f)
        f.symbol_checks = [aez.symbol_check(a, seed) for a in self.model.stream_symbols(s)]
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
    to. step: the quantization step Δ (models whose prior has `any_step`; 1 is the trained model's, within
    aez.STEP_RANGE); rate.compress_to picks a model and step for a target size or quality."""
    return Encoding(model, x, model_id, weights_sha256).compressed(step)


def load_codec(model_id: str) -> tuple[CodecAutoencoder, str]:
    """A shipped codec model and its weights' sha256, for decompress (CodecError if there is none)."""
    try:
        info = model_info(model_id)
    except KeyError:
        raise CodecError(f"the file was made with model {model_id!r}, which is not in the weights folder") from None
    if not info.kind.entropy_coded:
        raise CodecError(f"the file names {model_id!r}, a {info.family} model, not a codec")
    return load_pretrained(model_id), info.sha256


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
