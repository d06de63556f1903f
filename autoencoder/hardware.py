"""What the machine is, for choosing training arithmetic and for saying where a number was measured."""

from __future__ import annotations

import ctypes
import platform
import sys
import threading
from pathlib import Path

import torch

CPUINFO = Path("/proc/cpuinfo")
PRECISIONS = ("auto", "float32", "bfloat16")  # training arithmetic; see resolve_precision


def _cpuinfo_field(name: str) -> str | None:
    """The first `name : value` line of /proc/cpuinfo (Linux); None elsewhere."""
    try:
        for line in CPUINFO.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    """The processor's model name, e.g. 'Intel(R) Xeon(R) Processor @ 2.50GHz'."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def native_bfloat16(device: torch.device) -> bool:
    """Whether bfloat16 autocast runs on hardware built for it: a CUDA GPU that supports it,
    or a CPU with AMX (Intel Sapphire Rapids and later). Anywhere else it is emulated and
    slower than float32: on an AVX-512 Xeon without AMX a conv-c64 training step took 2.3×
    as long in bfloat16 as in float32, where one with AMX ran it 2.5–3× faster."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return "amx_bf16" in (_cpuinfo_field("flags") or "").split()
    return False


def resolve_precision(requested: str, device: torch.device) -> str:
    """'auto' → 'bfloat16' where it is native on `device`, else 'float32'. An explicit
    'bfloat16' is kept, with a warning where it will be emulated."""
    native = native_bfloat16(device)
    if requested == "auto":
        return "bfloat16" if native else "float32"
    if requested == "bfloat16" and not native:
        print(f"warning: bfloat16 autocast is emulated on this {device.type} ({cpu_name()}) and trains "
              "slower than float32; --precision auto picks float32 here", file=sys.stderr)
    return requested


def return_free_memory() -> None:
    """Give memory that is free inside the process back to the system (Linux, glibc).

    glibc keeps what a thread frees in that thread's arena for reuse; a server whose script
    runs move between threads keeps growing that way (1.9 GB resident that held 0.6 GB live
    in a measurement here). malloc_trim(0) hands the free pages back: ~0.1 s after a large
    computation, microseconds otherwise. Elsewhere this does nothing.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    if hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


_memory_timer: threading.Timer | None = None
_memory_lock = threading.Lock()


def return_free_memory_soon(delay_s: float = 1.0) -> None:
    """return_free_memory once nothing has asked again for `delay_s` seconds, in a background
    thread: the app asks after every script run without adding the trim (up to ~0.1 s) to it."""
    global _memory_timer
    with _memory_lock:
        if _memory_timer is not None:
            _memory_timer.cancel()
        _memory_timer = threading.Timer(delay_s, return_free_memory)
        _memory_timer.daemon = True
        _memory_timer.start()
