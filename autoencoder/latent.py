"""Latents rounded to 8 bits: the first honest codec (as in taesd), and the byte count that
every ratio, bpp and 'equal bytes' comparison in this project uses.

A conv latent (1, C, h, w) is quantized per channel: each channel's min and max are kept as
float16 side information and the values in between are spread over 0…255. A dense latent
(1, D) has one range for the whole vector (per-dimension ranges would cost 4·D bytes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

SIDE_BYTES_PER_RANGE = 4  # a float16 low and a float16 high


@dataclass
class QuantizedLatent:
    codes: np.ndarray  # uint8, the latent's shape without the batch axis
    low: np.ndarray  # float16 (groups,)
    high: np.ndarray  # float16 (groups,)
    bits: int = 8

    @property
    def num_bytes(self) -> int:
        """Payload plus side information, as it would be stored (before any entropy coding)."""
        return self.codes.size * self.bits // 8 + SIDE_BYTES_PER_RANGE * self.low.size


def _groups(z: torch.Tensor) -> torch.Tensor:
    """(1, C, h, w) → (C, h·w); (1, D) → (1, D)."""
    if z.shape[0] != 1:
        raise ValueError(f"quantize one latent at a time (B = 1), got B = {z.shape[0]}")
    return z[0].reshape(z.shape[1], -1) if z.ndim == 4 else z.reshape(1, -1)


def quantize(z: torch.Tensor, bits: int = 8) -> QuantizedLatent:
    if not 1 <= bits <= 8:
        raise ValueError(f"bits must be 1…8, got {bits}")
    g = _groups(z.detach().float().cpu())
    # Round the range to float16 first, so the decoder sees exactly the range that is stored.
    low = g.min(dim=1).values.half().float()
    high = g.max(dim=1).values.half().float()
    high = torch.maximum(high, low + 1e-3)  # a constant channel still needs a nonzero step
    high = high.half().float()
    levels = 2**bits - 1
    codes = ((g - low[:, None]) / (high - low)[:, None] * levels).round().clamp(0, levels)
    return QuantizedLatent(
        codes=codes.to(torch.uint8).numpy().reshape(z.shape[1:]),
        low=low.half().numpy(),
        high=high.half().numpy(),
        bits=bits,
    )


def dequantize(q: QuantizedLatent) -> torch.Tensor:
    """Back to a float latent with the batch axis: (1, C, h, w) or (1, D)."""
    codes = torch.from_numpy(q.codes.astype(np.float32))
    g = codes.reshape(q.low.size, -1)
    low = torch.from_numpy(q.low.astype(np.float32))[:, None]
    high = torch.from_numpy(q.high.astype(np.float32))[:, None]
    return (low + g / (2**q.bits - 1) * (high - low)).reshape(1, *q.codes.shape)
