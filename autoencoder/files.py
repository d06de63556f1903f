"""Reading and writing files a user names, safely: every read opens the file once, checks
what it is from that open file's metadata and reads a bounded number of bytes; every write
goes to a temporary file beside its target and is renamed into place, never over an existing
file unless asked.

Used by the weights loader (pretrained.py), the image decoder (data.py) and the compress /
decompress commands (compress.py).
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class FileRefused(OSError):
    """A file refused for what it is or for its size: str() is the reason alone (callers name
    the file as the user gave it), .filename the path (for a last-resort message)."""

    def __init__(self, reason: str, path: str | Path):
        super().__init__(reason)
        self.filename = str(path)

    def __str__(self) -> str:
        return self.args[0]


def kind_of(mode: int) -> str:
    """What st_mode describes, in words: 'a regular file', 'a FIFO (named pipe)', …"""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str | Path) -> tuple[int, os.stat_result]:
    """Open `path` for reading and check, from the open file's own metadata, that it is a
    regular file; returns (file descriptor, its stat). The open is non-blocking, so a FIFO with
    no writer cannot hang it (it is then refused by its type), and a device is refused before
    a byte is read. FileRefused (an OSError) says why, without the path (callers name the file)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except ValueError as e:  # a NUL byte in the name, or an unencodable one
        raise FileRefused(f"the name cannot be opened ({e})", repr(path)) from None
    except OSError as e:
        if e.errno == errno.ENXIO:  # what opening a socket answers
            raise FileRefused("it is a socket, not a regular file", path) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"it is {kind_of(info.st_mode)}, not a regular file", path)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a regular file: plain reads from here on
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def read_at_most(fd: int, count: int) -> bytes:
    """Up to `count` bytes from fd's current position (fewer only at the end of the file)."""
    chunks, left = [], count
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 24))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_regular_file(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most max_bytes. Anything else (a device such as
    /dev/zero, a FIFO, a folder, a socket) is refused from the opened file's metadata, before a
    byte is read, so nothing blocks or reads forever; a file over max_bytes is refused from its
    size, and one that grows past it while read is refused too. FileRefused says why (callers
    name the file)."""
    fd, info = open_regular(path)
    try:
        if info.st_size > max_bytes:
            raise FileRefused(f"it is {info.st_size:,} bytes; at most {max_bytes:,} are accepted", path)
        data = read_at_most(fd, max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise FileRefused(f"it grew past {max_bytes:,} bytes while being read", path)
    return data


def write_new(target: Path, data: bytes, replace: bool = False) -> None:
    """Write `data` to `target` atomically: into a temporary file in the same folder, then
    renamed into place, so a crash or a full disk never leaves half a file under the target's
    name. FileExistsError if target exists and not `replace` (checked by the link that puts
    the file in place, so a file created meanwhile is not overwritten either)."""
    fd, temp = tempfile.mkstemp(prefix=f".{target.name[:64]}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            umask = os.umask(0o022)
            os.umask(umask)
            os.fchmod(f.fileno(), 0o666 & ~umask)  # as open() would have made it (mkstemp makes 0600)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(temp, target)
            return
        try:
            os.link(temp, target)  # fails if target exists: no window between a check and a write
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: check, then rename
            if os.path.lexists(target):
                raise FileExistsError(errno.EEXIST, "File exists", str(target)) from None
            os.replace(temp, target)
    finally:
        if os.path.lexists(temp):
            os.unlink(temp)
