"""The `.aez` file: a codec model's coded streams and everything needed to decode them.

docs/aez-format.md describes the layout field by field and what each check does and does not
protect. In short (all integers little-endian), format version 2:

    magic b"\\x89AEZ" · version (2) · model id (length byte, UTF-8) · 8 bytes of the weights'
    sha256 · height, width · quantization step (uint16, Δ = step / 4096) · k streams · each
    stream's length · each stream's symbol check · the streams · CRC-32 of every byte before it

A stream's *symbol check* is the CRC-32 of the symbols it decodes to, seeded with the CRC-32
of the header up to the stream count (so it covers the model, size and step as well): the
file CRC catches damage in transit, the symbol checks catch a stream that decodes to other
symbols (codec.py). Version 1 (no step, no symbol checks) is still read: files written before
version 2 keep opening, with the weaker protection docs/aez-format.md states.

Reading checks, in this order, and refuses with one `AezError` sentence: the size against
the smallest possible file, the magic, the version, the CRC, the id, the image size (the same
limits as any decoded image, and MAX_CODEC_PIXELS), the step, the stream count and that the
stream lengths add up to exactly the bytes present. Nothing is allocated from a header field
before it has passed its check.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from .data import ImageError, check_size

MAGIC = b"\x89AEZ"
VERSION = 2
READABLE_VERSIONS = (1, 2)
MAX_ID_BYTES = 64
MAX_STREAMS = 4
SHA_PREFIX_BYTES = 8
MAX_CODEC_PIXELS = 8_000_000  # codec.py decodes big images in tiles: memory stays bounded (docs/aez-format.md)
STEP_ONE = 4096  # the stored step is Δ · STEP_ONE: Δ = 1 is 4096, exact in binary
STEP_RANGE = (0.25, 4.0)  # the steps a file may hold (rate.py searches within it)
_FIXED = struct.Struct("<4sBB")  # magic, version, id length
_SIZE_V1 = struct.Struct("<IIB")  # height, width, stream count
_SIZE = struct.Struct("<IIHB")  # height, width, step, stream count
_CRC = struct.Struct("<I")
PER_STREAM_BYTES = 8  # its length and its symbol check
SMALLEST_FILE = _FIXED.size + 1 + SHA_PREFIX_BYTES + _SIZE_V1.size + 4 + _CRC.size
LONGEST_HEADER = _FIXED.size + MAX_ID_BYTES + SHA_PREFIX_BYTES + _SIZE.size + PER_STREAM_BYTES * MAX_STREAMS


class AezError(ValueError):
    """A file that is not a readable .aez file; the message says what is wrong with it."""


@dataclass
class AezFile:
    model_id: str
    weights_sha256: str  # hex; only its first SHA_PREFIX_BYTES bytes are stored
    height: int
    width: int
    streams: list[bytes]
    step: int = STEP_ONE  # the quantization step Δ, times STEP_ONE
    symbol_checks: list[int] | None = None  # one per stream; None in a version-1 file
    check_seed: int = 0  # CRC-32 of the header up to the stream count (symbol_check's seed)
    version: int = VERSION


def header_bytes(model_id: str, streams: int = 0) -> int:
    """Bytes a file spends on everything but its streams: header and CRC, plus PER_STREAM_BYTES
    for each of `streams` streams (0: those aside)."""
    return (_FIXED.size + len(model_id.encode()) + SHA_PREFIX_BYTES + _SIZE.size + _CRC.size
            + PER_STREAM_BYTES * streams)


def step_value(step: int) -> float:
    """The stored step → Δ (exact: a multiple of 1/4096)."""
    return step / STEP_ONE


def step_code(delta: float) -> int:
    """Δ → the nearest step a file can hold; ValueError outside STEP_RANGE."""
    code = round(delta * STEP_ONE)
    if not STEP_RANGE[0] * STEP_ONE <= code <= STEP_RANGE[1] * STEP_ONE:
        raise ValueError(f"the quantization step {delta:g} is outside {STEP_RANGE[0]:g}…{STEP_RANGE[1]:g}")
    return code


def symbol_check(symbols: np.ndarray, seed: int) -> int:
    """The check a stream's decoded symbols must match: CRC-32 of them as int16 little-endian
    (C order), seeded with the header's CRC."""
    return zlib.crc32(np.ascontiguousarray(symbols, dtype="<i2").tobytes(), seed)


def _header(f: AezFile) -> bytes:
    """The header up to the stream count (version 2): what the symbol checks are seeded with."""
    name = f.model_id.encode()
    if not 1 <= len(name) <= MAX_ID_BYTES:
        raise ValueError(f"a model id must be 1…{MAX_ID_BYTES} bytes of UTF-8, got {len(name)}")
    if not 1 <= len(f.streams) <= MAX_STREAMS:
        raise ValueError(f"an .aez file holds 1…{MAX_STREAMS} streams, got {len(f.streams)}")
    return b"".join([
        _FIXED.pack(MAGIC, VERSION, len(name)), name, bytes.fromhex(f.weights_sha256)[:SHA_PREFIX_BYTES],
        _SIZE.pack(f.height, f.width, f.step, len(f.streams)),
    ])


def check_seed(f: AezFile) -> int:
    """The seed of f's symbol checks: CRC-32 of its header up to the stream count (not the streams' lengths)."""
    return zlib.crc32(_header(f))


def pack(f: AezFile) -> bytes:
    """A version-2 file; f.symbol_checks must be filled (symbol_check of each stream's symbols, seeded with check_seed(f))."""
    if f.symbol_checks is None or len(f.symbol_checks) != len(f.streams):
        raise ValueError("every stream needs its symbol check")
    body = b"".join([_header(f), *(struct.pack("<I", len(s)) for s in f.streams),
                     *(struct.pack("<I", c) for c in f.symbol_checks), *f.streams])
    return body + _CRC.pack(zlib.crc32(body))


def declared_length(head: bytes) -> int | None:
    """The whole file's length as the header at the start of `head` declares it (header, stream
    table, streams and CRC), so a reader can read that much and one byte more instead of a whole
    file of unknown size; None where `head` holds no complete header of a readable version
    (unpack then says what is wrong)."""
    if len(head) < _FIXED.size:
        return None
    magic, version, id_length = _FIXED.unpack_from(head)
    if magic != MAGIC or version not in READABLE_VERSIONS:
        return None
    size, per_stream = (_SIZE, PER_STREAM_BYTES) if version >= 2 else (_SIZE_V1, 4)
    at = _FIXED.size + id_length + SHA_PREFIX_BYTES + size.size  # past the stream count, its last field
    if len(head) < at:
        return None
    count = head[at - 1]
    if not 1 <= count <= MAX_STREAMS or len(head) < at + 4 * count:
        return None
    return at + per_stream * count + sum(struct.unpack_from(f"<{count}I", head, at)) + _CRC.size


def unpack(data: bytes) -> AezFile:
    """Parse and check an .aez file (bytes). Raises AezError, never anything else."""
    if len(data) < SMALLEST_FILE:
        raise AezError(f"too short to be an .aez file ({len(data)} bytes; the smallest is {SMALLEST_FILE})")
    magic, version, id_length = _FIXED.unpack_from(data, 0)
    if magic != MAGIC:
        raise AezError("not an .aez file (wrong magic bytes)")
    if version not in READABLE_VERSIONS:
        raise AezError(f"an .aez file of format version {version}; this program reads versions "
                       f"{', '.join(map(str, READABLE_VERSIONS))}")
    (stored_crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
    if zlib.crc32(data[: -_CRC.size]) != stored_crc:
        raise AezError("the file is damaged (its CRC-32 does not match: truncated or changed bytes)")
    if not 1 <= id_length <= MAX_ID_BYTES:
        raise AezError(f"the model id length {id_length} is outside 1…{MAX_ID_BYTES}")
    at = _FIXED.size
    try:
        model_id = data[at : at + id_length].decode()
    except UnicodeDecodeError:
        raise AezError("the model id is not UTF-8") from None
    if not model_id.isprintable():
        raise AezError("the model id has unprintable characters")
    at += id_length
    sha = data[at : at + SHA_PREFIX_BYTES].hex()
    at += SHA_PREFIX_BYTES
    size = _SIZE if version >= 2 else _SIZE_V1
    if len(data) < at + size.size + _CRC.size:
        raise AezError("the header is cut short")
    if version >= 2:
        height, width, step, count = size.unpack_from(data, at)
    else:
        (height, width, count), step = size.unpack_from(data, at), STEP_ONE
    at += size.size
    seed = zlib.crc32(data[:at])
    try:
        check_size(width, height)
    except ImageError as e:
        raise AezError(f"the header's image size is not usable: {e}") from None
    if width * height > MAX_CODEC_PIXELS:
        raise AezError(f"the header says {width}×{height} = {width * height:,} pixels; "
                       f"codec files hold at most {MAX_CODEC_PIXELS:,}")
    if not STEP_RANGE[0] * STEP_ONE <= step <= STEP_RANGE[1] * STEP_ONE:
        raise AezError(f"the header's quantization step {step / STEP_ONE:g} is outside "
                       f"{STEP_RANGE[0]:g}…{STEP_RANGE[1]:g}")
    if not 1 <= count <= MAX_STREAMS:
        raise AezError(f"the header says {count} streams; an .aez file holds 1…{MAX_STREAMS}")
    per_stream = 4 if version == 1 else PER_STREAM_BYTES
    if len(data) < at + per_stream * count + _CRC.size:
        raise AezError("the stream table is cut short")
    lengths = struct.unpack_from(f"<{count}I", data, at)
    at += 4 * count
    checks = None
    if version >= 2:
        checks = list(struct.unpack_from(f"<{count}I", data, at))
        at += 4 * count
    if at + sum(lengths) + _CRC.size != len(data):
        raise AezError(f"the stream lengths add up to {sum(lengths):,} bytes but the file holds "
                       f"{len(data) - at - _CRC.size:,}")
    streams = []
    for n in lengths:
        streams.append(data[at : at + n])
        at += n
    return AezFile(model_id, sha, height, width, streams, step, checks, seed, version)
