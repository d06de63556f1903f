"""The `.aez` file: a codec model's coded streams and everything needed to decode them.

Layout (all integers little-endian):

    offset  bytes  field
    0       4      magic b"\\x89AEZ" (the high first byte catches text-mode transfers, as PNG's does)
    4       1      format version (1)
    5       1      n, the length of the model id (1…64)
    6       n      model id, UTF-8 (e.g. "codec-c16-hp")
    6+n     8      the first 8 bytes of the model's weights sha256
    14+n    4      image height in pixels
    18+n    4      image width in pixels
    22+n    1      k, the number of coded streams (1…4)
    23+n    4·k    each stream's length in bytes
    …       …      the streams, one after another
    end−4   4      CRC-32 of every byte before it

Reading checks, in this order, and refuses with one `AezError` sentence: the size against
the smallest possible file, the magic, the version, the CRC, the id, the image size (the same
limits as any decoded image, and MAX_CODEC_PIXELS), the stream count and that the stream
lengths add up to exactly the bytes present. Nothing is allocated from a header field before
it has passed its check.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from .data import ImageError, check_size

MAGIC = b"\x89AEZ"
VERSION = 1
MAX_ID_BYTES = 64
MAX_STREAMS = 4
SHA_PREFIX_BYTES = 8
MAX_CODEC_PIXELS = 8_000_000  # a decoder's full-resolution activations cost ~130 bytes a pixel
_FIXED = struct.Struct("<4sBB")  # magic, version, id length
_SIZE = struct.Struct("<IIB")  # height, width, stream count
_CRC = struct.Struct("<I")
SMALLEST_FILE = _FIXED.size + 1 + SHA_PREFIX_BYTES + _SIZE.size + 4 + _CRC.size


class AezError(ValueError):
    """A file that is not a readable .aez file; the message says what is wrong with it."""


@dataclass
class AezFile:
    model_id: str
    weights_sha256: str  # hex; only its first SHA_PREFIX_BYTES bytes are stored
    height: int
    width: int
    streams: list[bytes]


def header_bytes(model_id: str) -> int:
    """Bytes a file spends on everything but its streams (one stream length per stream aside)."""
    return _FIXED.size + len(model_id.encode()) + SHA_PREFIX_BYTES + _SIZE.size + _CRC.size


def pack(f: AezFile) -> bytes:
    name = f.model_id.encode()
    if not 1 <= len(name) <= MAX_ID_BYTES:
        raise ValueError(f"a model id must be 1…{MAX_ID_BYTES} bytes of UTF-8, got {len(name)}")
    if not 1 <= len(f.streams) <= MAX_STREAMS:
        raise ValueError(f"an .aez file holds 1…{MAX_STREAMS} streams, got {len(f.streams)}")
    body = b"".join([
        _FIXED.pack(MAGIC, VERSION, len(name)), name, bytes.fromhex(f.weights_sha256)[:SHA_PREFIX_BYTES],
        _SIZE.pack(f.height, f.width, len(f.streams)), *(struct.pack("<I", len(s)) for s in f.streams), *f.streams,
    ])
    return body + _CRC.pack(zlib.crc32(body))


def unpack(data: bytes) -> AezFile:
    """Parse and check an .aez file (bytes). Raises AezError, never anything else."""
    if len(data) < SMALLEST_FILE:
        raise AezError(f"too short to be an .aez file ({len(data)} bytes; the smallest is {SMALLEST_FILE})")
    magic, version, id_length = _FIXED.unpack_from(data, 0)
    if magic != MAGIC:
        raise AezError("not an .aez file (wrong magic bytes)")
    if version != VERSION:
        raise AezError(f"an .aez file of format version {version}; this program reads version {VERSION}")
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
    if len(data) < at + _SIZE.size + _CRC.size:
        raise AezError("the header is cut short")
    height, width, count = _SIZE.unpack_from(data, at)
    at += _SIZE.size
    try:
        check_size(width, height)
    except ImageError as e:
        raise AezError(f"the header's image size is not usable: {e}") from None
    if width * height > MAX_CODEC_PIXELS:
        raise AezError(f"the header says {width}×{height} = {width * height:,} pixels; "
                       f"codec files hold at most {MAX_CODEC_PIXELS:,}")
    if not 1 <= count <= MAX_STREAMS:
        raise AezError(f"the header says {count} streams; an .aez file holds 1…{MAX_STREAMS}")
    if len(data) < at + 4 * count + _CRC.size:
        raise AezError("the stream table is cut short")
    lengths = struct.unpack_from(f"<{count}I", data, at)
    at += 4 * count
    if at + sum(lengths) + _CRC.size != len(data):
        raise AezError(f"the stream lengths add up to {sum(lengths):,} bytes but the file holds "
                       f"{len(data) - at - _CRC.size:,}")
    streams = []
    for n in lengths:
        streams.append(data[at : at + n])
        at += n
    return AezFile(model_id, sha, height, width, streams)
