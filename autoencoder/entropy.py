"""Learned entropy models, and the integer tables that make their bits the same on every machine.

A codec model turns an image into integer symbols and needs, for each symbol, a probability
table that the encoder and the decoder agree on *exactly*: a range coder fed two tables that
differ by one count decodes garbage from then on, silently. So nothing the coder uses is
computed in floating point at coding time:

* the factorized prior (one learned density per channel, Ballé et al. 2018) is tabulated once,
  when the weights are saved, into integer pmf tables stored with the weights;
* the Gaussian conditional (the scale hyperprior's) uses a fixed ladder of scales, each
  tabulated into an integer pmf table, also stored with the weights;
* the hyper-synthesis network that predicts each symbol's mean and scale runs at coding time
  as an *integer* network (`IntegerNetwork`): weights and activations rounded to fixed-point
  integers, convolved in float64 where sums of integers below 2**53 are exact in any order,
  and the scale index is found by comparing integers with stored integer thresholds.

Training uses the float versions of the same models (`likelihood`), with uniform noise in
place of rounding.

Symbols are coded in [-SUPPORT, SUPPORT]; the encoder clamps anything beyond (and decodes
the clamped value, so the bits and the reconstruction always agree).

Each entropy model owns its coding: `FactorizedPrior.compress` / `decompress` code symbols
channel by channel with its tables, `GaussianConditional` groups them by scale. The bytes come
from `constriction`'s range coder (a queue: symbols decode in the order they were encoded), and
a stream decodes to exactly the symbols it was made from or is refused (`AezError`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import constriction
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .aez import STEP_ONE, AezError

SUPPORT = 255  # symbols in [-255, 255]: 511 table entries
TABLE_SIZE = 2 * SUPPORT + 1
TABLE_TOTAL = 1 << 22  # every integer pmf table sums to this; every entry is ≥ 1
LIKELIHOOD_FLOOR = 1e-9  # training: no symbol costs more than ~30 bits, and log2 stays finite
SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 64.0, 64  # the Gaussian conditional's scale ladder
FIXED_POINT_BITS = 14  # the integer network's activations and weights carry 2**14 as one


def quantize_pmf(pmf: np.ndarray) -> np.ndarray:
    """Float pmfs (..., K), rows summing to ~1 → integer tables summing to TABLE_TOTAL, every
    entry ≥ 1 (any symbol stays codable), the rounding remainder given to each row's mode.
    Order-preserving: a larger weight never gets a smaller count. The mode is taken before the
    rows are normalised, since dividing can round two different weights to one value (a tie
    that would hand the remainder to the smaller one)."""
    pmf = np.clip(np.nan_to_num(pmf.astype(np.float64), nan=0.0), 0.0, None)
    mode = pmf.argmax(axis=-1)
    pmf = pmf / np.maximum(pmf.sum(axis=-1, keepdims=True), 1e-300)
    k = pmf.shape[-1]
    counts = np.floor(pmf * (TABLE_TOTAL - k)).astype(np.int64) + 1
    rest = TABLE_TOTAL - counts.sum(axis=-1)
    np.put_along_axis(counts, mode[..., None], np.take_along_axis(counts, mode[..., None], -1) + rest[..., None], -1)
    return counts


def tabulate(cdf) -> torch.Tensor:
    """Integer pmf tables over the symbols −SUPPORT…SUPPORT from a CDF: cdf maps the K + 1 bin
    edges (float64) to (..., K + 1) values; the tails beyond the end edges fold into the end bins."""
    values = cdf(torch.arange(-SUPPORT - 0.5, SUPPORT + 1.0, 1.0, dtype=torch.float64))
    values[..., 0], values[..., -1] = 0.0, 1.0
    return torch.from_numpy(quantize_pmf((values[..., 1:] - values[..., :-1]).numpy()))


def table_bits(table: torch.Tensor, symbols: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
    """−log2 of each symbol's probability in the integer table(s) it is coded with: what the
    range coder spends on it (to a fraction of a bit per file). symbols (...) already clamped to
    [-SUPPORT, SUPPORT]; table: (..., TABLE_SIZE) broadcast against them, or with `index` (...)
    a stack (K, TABLE_SIZE) from which index picks each symbol's table (read entry by entry: a
    gathered copy of the tables would take C·h·w·TABLE_SIZE integers, 4 GB for a 1 MP image)."""
    if index is None:
        table = table.expand(*symbols.shape, table.shape[-1])
        counts = torch.gather(table, -1, (symbols.long() + SUPPORT)[..., None])[..., 0]
    else:
        counts = table[index.long(), symbols.long() + SUPPORT]
    return -torch.log2(counts.double() / TABLE_TOTAL)


def to_symbols(values: torch.Tensor) -> torch.Tensor:
    """Float values (any shape) → the symbols that code them: rounded, clamped to [-SUPPORT, SUPPORT], int16."""
    return torch.round(values).clamp(-SUPPORT, SUPPORT).to(torch.int16)


# ---------------------------------------------------------------------------------------
# Range coding with constriction: integer tables → bytes, and back.

def _categorical(table: torch.Tensor):
    """An integer pmf table → constriction's model. The float64 copy of the integers is exact,
    and constriction's own quantization of it is deterministic, so both sides build the same model."""
    return constriction.stream.model.Categorical(table.numpy().astype(np.float64), perfect=False)


def _encode(chunks: Iterable[tuple[np.ndarray, torch.Tensor]]) -> bytes:
    """(symbols, table) pairs, symbols int in [-SUPPORT, SUPPORT] → one stream."""
    encoder = constriction.stream.queue.RangeEncoder()
    for symbols, table in chunks:
        encoder.encode((np.asarray(symbols, dtype=np.int32) + SUPPORT), _categorical(table))
    return encoder.get_compressed().tobytes()


def _decode(stream: bytes, plan: Iterable[tuple[torch.Tensor, int]], what: str,
            put: Callable[[int, np.ndarray], None]) -> None:
    """Decode `stream` as the (table, count) pairs of `plan`, handing chunk i (int16 symbols) to
    put(i, chunk); AezError if the stream does not decode, or holds anything but exactly the
    code of what it decodes to (coded again, the symbols must give the stream byte for byte:
    appended or changed bytes cannot pass, whatever constriction makes of them). `what` names
    the stream in the error."""
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


# ---------------------------------------------------------------------------------------
# Factorized prior: one non-parametric density per channel.

class FactorizedPrior(nn.Module):
    """The univariate density model of Ballé et al. 2018 ("Variational image compression with
    a scale hyperprior", appendix 6.1), one per channel: a monotone function c(x) built from
    softplus-positive matrices and tanh gates is the density's cumulative logit, so the
    probability of the unit bin around x is sigmoid(c(x + ½)) − sigmoid(c(x − ½)).
    """

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0):
        super().__init__()
        self.channels = channels
        dims = (1, *filters, 1)
        scale = init_scale ** (1 / (len(dims) - 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(dims) - 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(dims) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))
        # Filled by tabulate() before the weights are saved; the range coder reads only these.
        self.register_buffer("pmf_table", torch.zeros(channels, TABLE_SIZE, dtype=torch.int32))

    def _cumulative_logits(self, x: torch.Tensor) -> torch.Tensor:
        """x: (C, 1, N) → c(x): (C, 1, N), increasing in x."""
        logits = x
        for i, matrix in enumerate(self.matrices):
            logits = torch.matmul(F.softplus(matrix), logits) + self.biases[i]
            if i < len(self.factors):
                logits = logits + torch.tanh(self.factors[i]) * torch.tanh(logits)
        return logits

    def likelihood(self, u: torch.Tensor) -> torch.Tensor:
        """u: (B, C, H, W), noisy or rounded values → probability of each one's unit bin, same shape."""
        b, c, h, w = u.shape
        flat = u.float().permute(1, 0, 2, 3).reshape(c, 1, -1)  # (C, 1, B·H·W)
        lower = self._cumulative_logits(flat - 0.5)
        upper = self._cumulative_logits(flat + 0.5)
        # Subtract on the side of the sigmoid where it is flat (far tails lose no precision).
        sign = -torch.sign(lower + upper).detach()
        p = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        return p.clamp_min(LIKELIHOOD_FLOOR).reshape(c, b, h, w).permute(1, 0, 2, 3)

    @torch.no_grad()
    def tabulate(self) -> None:
        """Fill pmf_table from the learned densities (float64)."""
        twin = self._double()
        self.pmf_table.copy_(tabulate(lambda edges: torch.sigmoid(
            twin._cumulative_logits(edges.expand(self.channels, 1, -1)))[:, 0, :]))

    def _double(self) -> FactorizedPrior:
        twin = FactorizedPrior(self.channels, tuple(m.shape[1] for m in self.matrices[:-1]))
        twin.load_state_dict(self.state_dict())
        return twin.double()

    def bits(self, symbols: torch.Tensor) -> torch.Tensor:
        """Symbols (C, h, w) in [-SUPPORT, SUPPORT] → what the range coder spends on each, in bits (C, h, w)."""
        return table_bits(self.pmf_table[:, None, None, :], symbols)

    def compress(self, symbols: torch.Tensor) -> bytes:
        """Symbols int (C, h, w) in [-SUPPORT, SUPPORT] → one stream: channel by channel, each in
        raster order with its channel's table."""
        return _encode(zip(symbols.flatten(1).numpy(), self.pmf_table))

    def decompress(self, stream: bytes, height: int, width: int, what: str) -> torch.Tensor:
        """compress's stream → the symbols, int16 (C, height, width). AezError if the stream is
        damaged (`_decode`); `what` names it."""
        out = np.empty((self.channels, height * width), dtype=np.int16)
        _decode(stream, [(table, height * width) for table in self.pmf_table], what, out.__setitem__)
        return torch.from_numpy(out.reshape(self.channels, height, width))


# ---------------------------------------------------------------------------------------
# Gaussian conditional: symbols coded with a zero-mean Gaussian of a predicted scale.

def scale_ladder() -> torch.Tensor:
    """The SCALE_LEVELS scales (log-spaced, float64) that coding snaps predicted scales to."""
    return torch.exp(torch.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), SCALE_LEVELS, dtype=torch.float64))


def gaussian_likelihood(residual: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Probability of the unit bin around `residual` (value − mean) under N(0, scale²)."""
    scale = scale.clamp_min(SCALE_MIN)
    r = residual.abs()
    normal = torch.distributions.Normal(0.0, 1.0)
    # Φ((½ − |r|)/σ) − Φ((−½ − |r|)/σ), written with the upper tail for precision.
    p = normal.cdf((0.5 - r) / scale) - normal.cdf((-0.5 - r) / scale)
    return p.clamp_min(LIKELIHOOD_FLOOR)


def gaussian_tables() -> tuple[torch.Tensor, torch.Tensor]:
    """Integer pmf tables for the scale ladder (SCALE_LEVELS, TABLE_SIZE), tails folded into the
    end bins, and the SCALE_LEVELS − 1 boundaries between neighbouring scales (geometric midpoints)."""
    scales = scale_ladder()
    tables = tabulate(lambda edges: 0.5 * torch.erfc(-edges[None, :] / (scales[:, None] * math.sqrt(2.0))))
    return tables, torch.sqrt(scales[1:] * scales[:-1])


_SCALE_CAP = 1 << 40  # |scale| at fixed point above every (bound · step): comparisons stay in int64


class GaussianConditional:
    """Symbols coded under a zero-mean Gaussian of a given scale, snapped to the scale ladder.

    tables: the ladder's integer pmf tables (SCALE_LEVELS, TABLE_SIZE); bounds: the boundaries
    between neighbouring scales at fixed point, int64 (SCALE_LEVELS − 1,) at 2**(2·FIXED_POINT_BITS).
    Both come from `tabulated()` and are saved with the weights of the model that uses them, so
    this object holds no state of its own. A stream codes the symbols grouped by scale index
    (all symbols of scale 0, then scale 1, …, each group in raster order), which the decoder can
    repeat because it knows every scale index before it reads a symbol.
    """

    def __init__(self, tables: torch.Tensor, bounds: torch.Tensor):
        self.tables, self.bounds = tables, bounds

    @staticmethod
    def tabulated() -> tuple[torch.Tensor, torch.Tensor]:
        """The tables and fixed-point bounds a model saves (see the class docstring)."""
        tables, bounds = gaussian_tables()
        return tables, torch.round(bounds * 2.0 ** (2 * FIXED_POINT_BITS)).long()

    def scale_index(self, scale: torch.Tensor, step: int) -> torch.Tensor:
        """Scales σ at fixed point 2**(2·FIXED_POINT_BITS), int64 ≥ 0 (any shape), and the step Δ
        as aez stores it (Δ·STEP_ONE) → the index of σ/Δ on the scale ladder (uint8, same
        shape), by integer comparisons: bound·Δ ≤ σ ⟺ bound_int · step ≤ σ_int · STEP_ONE."""
        bounds = (self.bounds * step).contiguous()
        scaled = (scale.clamp_max(_SCALE_CAP) * STEP_ONE).flatten().contiguous()
        return torch.searchsorted(bounds, scaled, right=True).reshape(scale.shape).to(torch.uint8)

    def bits(self, symbols: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Symbols in [-SUPPORT, SUPPORT] and their scale indices (same shape) → bits each costs."""
        return table_bits(self.tables, symbols, index=index)

    def compress(self, symbols: torch.Tensor, index: torch.Tensor) -> bytes:
        """Symbols int (any shape) in [-SUPPORT, SUPPORT], each coded with the table of its scale index → one stream."""
        order, groups = self._order(index)
        flat = symbols.numpy().ravel()
        return _encode((flat[order[start : start + n]], self.tables[k]) for k, start, n in groups)

    def decompress(self, stream: bytes, index: torch.Tensor, what: str) -> torch.Tensor:
        """compress's stream and the same scale indices → the symbols, int16 (index's shape).
        AezError if the stream is damaged (`_decode`); `what` names it."""
        order, groups = self._order(index)
        out = np.empty(index.numel(), dtype=np.int16)

        def put(i: int, chunk: np.ndarray) -> None:
            _, start, n = groups[i]
            out[order[start : start + n]] = chunk

        _decode(stream, [(self.tables[k], n) for k, _, n in groups], what, put)
        return torch.from_numpy(out.reshape(index.shape))

    @staticmethod
    def _order(index: torch.Tensor) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        """The coding order: positions sorted by scale index (stable, so raster order within a
        scale), and each scale present as (scale, start, count) in that order."""
        flat = index.numpy().ravel()
        order = np.argsort(flat, kind="stable")
        counts = np.bincount(flat, minlength=SCALE_LEVELS)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        return order, [(k, int(starts[k]), int(counts[k])) for k in range(SCALE_LEVELS) if counts[k]]


# ---------------------------------------------------------------------------------------
# Integer network: the hyper-synthesis evaluated bit-exactly at coding time.

class IntegerNetwork(nn.Module):
    """A fixed-point copy of a stack of Conv2d / ConvTranspose2d / ReLU layers.

    Weights and biases are stored as integers at scale 2**FIXED_POINT_BITS (weights) and
    2**(2·FIXED_POINT_BITS) (biases, which add to products of weight and activation).
    Activations are integers at 2**FIXED_POINT_BITS. Each layer convolves integers in float64:
    every partial sum is an integer below 2**53, so the result is exact whatever order the
    convolution adds in, on any CPU and any thread count. Between layers the sum is divided by
    2**FIXED_POINT_BITS and floored, also exact. The output is returned as integers at scale
    2**(2·FIXED_POINT_BITS), for comparisons with integer thresholds.
    """

    def __init__(self, layers: nn.Sequential):
        super().__init__()
        self.kinds: list[str] = []
        self.strides: list[tuple] = []
        for layer in layers:
            if isinstance(layer, nn.ReLU):
                self.kinds.append("relu")
                continue
            if not isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                raise TypeError(f"IntegerNetwork takes convolutions and ReLUs, not {type(layer).__name__}")
            self.kinds.append("convT" if isinstance(layer, nn.ConvTranspose2d) else "conv")
            self.strides.append((layer.stride, layer.padding, getattr(layer, "output_padding", 0)))
            self.register_buffer(f"weight{len(self.strides) - 1}", torch.zeros_like(layer.weight, dtype=torch.int32))
            self.register_buffer(f"bias{len(self.strides) - 1}", torch.zeros_like(layer.bias, dtype=torch.int64))

    @torch.no_grad()
    def copy_from(self, layers: nn.Sequential) -> None:
        """Round the float network's weights to fixed point (done once, before saving)."""
        one = 2.0**FIXED_POINT_BITS
        convs = [m for m in layers if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        for i, conv in enumerate(convs):
            getattr(self, f"weight{i}").copy_(torch.round(conv.weight.double() * one).int())
            getattr(self, f"bias{i}").copy_(torch.round(conv.bias.double() * one * one).long())

    @torch.no_grad()
    def forward(self, x: torch.Tensor, fixed_point: bool = False) -> torch.Tensor:
        """x: integer-valued (B, C, h, w) (any dtype) → int64 output at scale 2**(2·FIXED_POINT_BITS).
        fixed_point: x is already at scale 2**FIXED_POINT_BITS (integers that stand for x / 2**14:
        another integer network's output floored to that scale, or a dequantized latent)."""
        one = 2.0**FIXED_POINT_BITS
        a = x.double() if fixed_point else x.double() * one  # activations at scale 2**14, exact for integers
        acc, conv_index = None, 0
        for kind in self.kinds:
            if kind == "relu":
                a = torch.floor(torch.clamp_min(acc, 0.0) / one)  # back to scale 2**14, exact
                acc = None
                continue
            if acc is not None:  # two convolutions in a row: rescale without an activation
                a = torch.floor(acc / one)
            weight = getattr(self, f"weight{conv_index}").double()
            bias = getattr(self, f"bias{conv_index}").double()
            stride, padding, output_padding = self.strides[conv_index]
            if kind == "conv":
                acc = _conv_by_matmul(a, weight, bias, stride, padding)
            else:
                acc = _conv_transpose_as_conv(a, weight, bias, stride, padding, output_padding)
            conv_index += 1
        if acc is None:
            raise ValueError("an IntegerNetwork must end with a convolution")
        if acc.abs().max() >= 2.0**52:
            raise OverflowError("integer network left the exact range of float64")
        return acc.long()


def _conv_transpose_as_conv(x, weight, bias, stride, padding, output_padding) -> torch.Tensor:
    """conv_transpose2d as stride_h × stride_w plain convolutions, one per output phase (polyphase):
    output row o = stride·m + r only receives kernel taps t ≡ r + padding (mod stride), from
    input rows m + c − j. The same sums of the same integer products, without multiplying the
    zeros a zero-inserted input would hold."""
    (sh, sw), (ph, pw), (oh, ow) = stride, padding, output_padding
    b, _, h, w = x.shape
    kh, kw = weight.shape[-2:]
    out_h, out_w = (h - 1) * sh - 2 * ph + kh + oh, (w - 1) * sw - 2 * pw + kw + ow
    out = x.new_zeros(b, weight.shape[1], out_h, out_w)

    def phase(r, s, p, k, size, out_size):
        first = (r + p) % s
        taps = list(range(first, k, s))
        count = -(-(out_size - r) // s)  # outputs in this phase
        start = (r + p - first) // s - (len(taps) - 1)  # input index that output m = 0 starts from
        before, after = max(0, -start), max(0, start + count + len(taps) - 1 - size)
        return taps, count, start + before, before, after

    for rh in range(sh):
        taps_h, n_h, top, pad_top, pad_bottom = phase(rh, sh, ph, kh, h, out_h)
        for rw in range(sw):
            taps_w, n_w, left, pad_left, pad_right = phase(rw, sw, pw, kw, w, out_w)
            if n_h <= 0 or n_w <= 0:
                continue
            kernel = weight[:, :, taps_h][:, :, :, taps_w].flip(-2, -1).transpose(0, 1)  # (out, in, Jh, Jw)
            padded = F.pad(x, (pad_left, pad_right, pad_top, pad_bottom))
            window = padded[..., top : top + n_h + len(taps_h) - 1, left : left + n_w + len(taps_w) - 1]
            out[..., rh::sh, rw::sw] = _conv_by_matmul(window, kernel, bias, (1, 1), (0, 0))
    return out


def _conv_by_matmul(x, weight, bias, stride, padding) -> torch.Tensor:
    """conv2d as unfold + one float64 matrix product (BLAS), several times faster on CPU than
    PyTorch's float64 convolution; exact for integers, like any order of integer sums."""
    b, _, h, w = x.shape
    out_channels, _, kh, kw = weight.shape
    columns = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # (B, C·kh·kw, L)
    out = torch.matmul(weight.reshape(out_channels, -1), columns) + bias[:, None]  # (B, out, L)
    oh = (h + 2 * padding[0] - kh) // stride[0] + 1
    ow = (w + 2 * padding[1] - kw) // stride[1] + 1
    return out.reshape(b, out_channels, oh, ow)
