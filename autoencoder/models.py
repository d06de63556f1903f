"""The autoencoder families, their configs, and the one registry that maps a family name to its class.

Input contract for every model: RGB float tensors in [0, 1], shape (B, 3, H, W).
Conv models take any H, W that are multiples of `downsampling_factor` (use
`pad_to_multiple` / `crop_to`, or `autoencoder.reconstruct`, which does both);
dense models take exactly (B, 3, 64, 64).

Reading order: padding helper → conv family → dense family → codec family → registry.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .aez import STEP_ONE
from .entropy import (
    FIXED_POINT_BITS,
    SCALE_LEVELS,
    TABLE_SIZE,
    FactorizedPrior,
    GaussianConditional,
    IntegerNetwork,
    gaussian_likelihood,
    to_symbols,
)

# ---------------------------------------------------------------------------------------
# Padding: the one helper every caller uses to bring an image to a size a model accepts.

def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad (B, C, H, W) on the bottom/right by edge replication up to multiples of `multiple`.

    Replication (not reflection) so that even a 1×1 image can be padded to 8×8, and so that
    the padded border looks like the image rather than like a black frame the model must code.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")


def crop_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Undo `pad_to_multiple`: keep the top-left (height, width) of (B, C, H, W)."""
    return x[..., :height, :width]


def _check_rgb_batch(x: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected an RGB batch of shape (B, 3, H, W), got {tuple(x.shape)}")


# ---------------------------------------------------------------------------------------
# Conv family: fully convolutional, 8× downsampling to C latent channels.

def ranged(default: int, lowest: int, highest: int):
    """A config field of `default` that a manifest may set from `lowest` to `highest`
    (manifest.check_config). The bounds leave room around every shipped model and stop a changed
    manifest from building a model that cannot fit in memory before anything else would refuse it."""
    return dataclasses.field(default=default, metadata={"range": (lowest, highest)})


def one_of(default: str, choices: Callable[[], Iterable[str]]):
    """A config field of `default` that a manifest may set to one of the names `choices()` gives
    (manifest.check_config): a registry's names, asked when a manifest is checked (the registry
    is defined further down, and a test may add to it)."""
    return dataclasses.field(default=default, metadata={"choices": choices})


@dataclass
class ConvConfig:
    latent_channels: int = ranged(16, 1, 256)  # C: the latent is (C, H/8, W/8); ratio in values = 192 / C
    width: int = ranged(128, 1, 512)  # channels of the nonlinear branches (they run at H/8, W/8)
    depth: int = ranged(2, 0, 8)  # residual blocks per branch
    linear_kernel: int = ranged(1, 1, 3)  # 1: the linear path is a block transform; 3: it also sees the 8 neighbouring blocks
    refine_width: int = ranged(0, 0, 128)  # 0: none; > 0: channels of the full-resolution post-filter (class docstring)
    refine_depth: int = ranged(0, 0, 8)  # residual blocks in that post-filter


class ResBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


def _full_precision(x: torch.Tensor):
    """Switch autocast off: the linear path carries nearly all of the signal, and in bfloat16
    (8-bit mantissa) its rounding alone caps a lossless 192-coefficient transform at ~55 dB and
    costs block-PCA-64 ~0.1 dB (measured on a gallery photo). Mixed precision training runs only
    the nonlinear branches, which add small corrections, in bfloat16."""
    return torch.autocast(x.device.type, enabled=False)


def _branch(in_channels: int, width: int, depth: int, out_channels: int) -> nn.Sequential:
    """3×3 conv stack whose last layer starts at zero, so the branch adds nothing at init."""
    last = nn.Conv2d(width, out_channels, 3, padding=1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1),
        *[ResBlock(width) for _ in range(depth)],
        nn.ReLU(),
        last,
    )


class ConvAutoencoder(nn.Module):
    """8×8 blocks → C values each, a linear path plus a nonlinear correction.

    The linear path is pixel-unshuffle(8) → conv (192 → C) and back. With `linear_kernel` = 1
    it is exactly a block transform; the shipped models use 3, a lapped transform that reads
    and writes the 8 neighbouring blocks too (24×24 pixels per latent position), so block edges
    can blend, for ~11 % more multiply-adds at C = 64 and less at smaller C. Initialised from block-PCA
    (`init_from_pca`, neighbour taps zero) the model *starts* at the best block code of its size.
    The nonlinear branches see 3×3 neighbouring blocks as well and learn what a linear code
    cannot: spending the C values where the image needs them. Their last layers start at zero,
    so training begins at the linear optimum and only improves on it.

    With `refine_width` > 0 a small full-resolution post-filter (also zero at start) corrects
    the decoded image pixel by pixel: seams, ringing and edges that a per-block output draws
    coarsely. At 32 channels and one residual block it is ~20 k multiply-adds per pixel, two
    thirds of the rest of the model at C = 64 (~31 k), but its full-resolution activations
    make it the slow part on a CPU (`bench`: a 1024² round trip in ~0.55 s, ~0.16 s without).
    Only conv-c32 and conv-c64 use it, where the remaining error is mostly fine structure.
    """

    family = "conv"
    downsampling_factor = 8
    any_size = True  # fully convolutional: any H, W once padded to multiples of 8
    entropy_coded = False  # its bytes are the 8-bit latent
    block_values = 3 * 8 * 8  # 192 input values per latent position

    def __init__(self, config: ConvConfig):
        super().__init__()
        self.config = config
        c, w, d = config.latent_channels, config.width, config.depth
        # Branch inputs are normalised so their first convs see unit-scale values: blocks are
        # centred on the mean block, latents divided by each PCA coefficient's std. Both are
        # set by init_from_pca and saved with the weights.
        self.register_buffer("block_mean", torch.full((self.block_values,), 0.5))
        self.register_buffer("latent_scale", torch.ones(c))
        k = config.linear_kernel
        self.encoder_linear = nn.Conv2d(self.block_values, c, k, padding=k // 2, padding_mode="replicate")
        self.encoder_branch = _branch(self.block_values, w, d, c)
        self.decoder_linear = nn.Conv2d(c, self.block_values, k, padding=k // 2, padding_mode="replicate")
        self.decoder_branch = _branch(c, w, d, self.block_values)
        r = config.refine_width
        self.refine = _branch(3, r, config.refine_depth, 3) if r else None

    @torch.no_grad()
    def init_from_pca(self, mean: torch.Tensor, basis: torch.Tensor, variances: torch.Tensor) -> None:
        """mean: (192,), basis: (192, K) orthonormal columns and variances (K,), sorted, K ≥ C."""
        c = self.config.latent_channels
        self.block_mean.copy_(mean)
        self.latent_scale.copy_(variances[:c].clamp_min(1e-8).sqrt())
        components = basis[:, :c].T.contiguous()  # (C, 192)
        centre = self.config.linear_kernel // 2  # neighbouring taps start at zero: a block transform
        self.encoder_linear.weight.zero_()
        self.encoder_linear.weight[:, :, centre, centre] = components
        self.encoder_linear.bias.copy_(-components @ mean)
        self.decoder_linear.weight.zero_()
        self.decoder_linear.weight[:, :, centre, centre] = components.T
        self.decoder_linear.bias.copy_(mean)

    def _check_input(self, x: torch.Tensor) -> None:
        _check_rgb_batch(x)
        f = self.downsampling_factor
        if x.shape[-2] % f or x.shape[-1] % f:
            raise ValueError(
                f"conv models need H and W divisible by {f}, got {tuple(x.shape[-2:])}: "
                "pad with autoencoder.pad_to_multiple (autoencoder.reconstruct does it for you)"
            )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1], H and W multiples of 8 → latent (B, C, H/8, W/8)."""
        self._check_input(x)
        blocks = F.pixel_unshuffle(x, self.downsampling_factor)  # (B, 192, H/8, W/8)
        centred = blocks - self.block_mean[:, None, None]
        scale = self.latent_scale[:, None, None]
        correction = self.encoder_branch(centred).float()  # may run in bfloat16 under autocast
        with _full_precision(x):
            return self.encoder_linear(blocks) + scale * correction  # (B, C, H/8, W/8)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent (B, C, h, w) → image (B, 3, 8h, 8w), not clamped (use reconstruct for [0, 1])."""
        return self.post_filter(self.decode_blocks(z))

    def decode_blocks(self, z: torch.Tensor) -> torch.Tensor:
        """decode before the post-filter: latent (B, C, h, w) → image (B, 3, 8h, 8w)."""
        normalised = z / self.latent_scale[:, None, None]
        correction = self.decoder_branch(normalised).float()
        with _full_precision(z):
            blocks = self.decoder_linear(z) + correction  # (B, 192, h, w)
        return F.pixel_shuffle(blocks, self.downsampling_factor)  # (B, 3, 8h, 8w)

    def post_filter(self, image: torch.Tensor) -> torch.Tensor:
        """The full-resolution post-filter (identity without one): (B, 3, H, W) → same;
        centred input, residual output."""
        if self.refine is None:
            return image
        return image + self.refine(image - 0.5).float()

    def decoder_reach(self) -> tuple[int, int]:
        """How far the decoder looks: decode_blocks' pixels in a block depend on the latent
        positions up to the first number away (3×3 convolutions: the branch's first and last
        plus two per residual block; the linear path's kernel), and the post-filter's pixels on
        the pixels up to the second number away. codec.py decodes big images in tiles with
        these margins; a test checks that tiles give the whole image's pixels."""
        c = self.config
        return max(c.linear_kernel // 2, 2 + 2 * c.depth), (2 + 2 * c.refine_depth if c.refine_width else 0)

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        f = self.downsampling_factor
        return (self.config.latent_channels, -(-height // f), -(-width // f))

    def latent_maps(self, z: np.ndarray) -> np.ndarray:
        """The latent as the latent view draws it, (C, h, w): already maps."""
        return z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


# ---------------------------------------------------------------------------------------
# Dense (MLP) family: a 64×64×3 image coded by fully connected layers only, MLP-Mixer style.

@dataclass
class DenseConfig:
    latent_dim: int = ranged(2048, 1, 16384)  # D: ratio in values = 12288 / D; D / 64 values per 8×8 patch
    width: int = ranged(256, 1, 512)  # features per patch inside the mixer blocks (64 · width ≥ D: no layer narrower than the code)
    depth: int = ranged(2, 0, 8)  # mixer blocks on each side
    image_size: int = ranged(64, 8, 256)


PATCH = 8  # the dense models see a 64×64 image as 64 patches of 8×8×3 = 192 values


class MixerBlock(nn.Module):
    """One MLP-Mixer block on (B, T, W): an MLP across the T patches (the same for every
    feature), then an MLP across the W features (the same for every patch), each residual."""

    def __init__(self, tokens: int, width: int):
        super().__init__()
        self.token_norm, self.feature_norm = nn.LayerNorm(width), nn.LayerNorm(width)
        self.token_mlp = nn.Sequential(nn.Linear(tokens, 2 * tokens), nn.GELU(), nn.Linear(2 * tokens, tokens))
        self.feature_mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.token_mlp(self.token_norm(x).transpose(1, 2)).transpose(1, 2)  # (B, T, W)
        return x + self.feature_mlp(self.feature_norm(x))


def _mixer(in_features: int, tokens: int, width: int, depth: int, out_features: int) -> nn.Sequential:
    """in_features per patch → mixer blocks → out_features per patch; the last layer starts at
    zero, so the branch adds nothing at init (as the conv family's `_branch`)."""
    last = nn.Linear(width, out_features)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(nn.Linear(in_features, width), *[MixerBlock(tokens, width) for _ in range(depth)],
                         nn.LayerNorm(width), last)


class DenseAutoencoder(nn.Module):
    """64×64×3 → D values → 64×64×3 with fully connected layers only.

    The image is cut into T = 64 patches of 8×8×3 = 192 values. Each side has
    * a linear path, a 192 → D/64 map shared by all patches and initialised from block-PCA
      (`init_from_pca`), so the model starts at the best linear patch code of its size; and
    * a residual MLP-Mixer branch (starting at zero) whose token MLPs connect all 64 patches
      of the image, so it can spend the code where this image needs it.
    The code is (B, D), channel-major: reshaped to (D/64, 8, 8) it is one 8×8 map per value of
    a patch. Weights are shared across patches, so the file stays a few MB whatever D is; an
    unshared 12288 → D layer would cost 12288 · D weights (100 MB at D = 2048) and every
    layer narrower than D throws code away before it is made (the first dense design's flaw).
    """

    family = "dense"
    any_size = False  # exactly one 64×64 image; never padded
    entropy_coded = False
    block_values = 3 * PATCH * PATCH  # 192

    def __init__(self, config: DenseConfig):
        super().__init__()
        self.config = config
        side = config.image_size
        if side % PATCH:
            raise ValueError(f"dense image_size must be a multiple of {PATCH}, got {side}")
        self.tokens = (side // PATCH) ** 2
        if config.latent_dim <= 0 or config.latent_dim % self.tokens:
            raise ValueError(f"dense latent_dim must be a positive multiple of {self.tokens} (one value or more "
                             f"per patch), got {config.latent_dim}")
        c, w, d, t = config.latent_dim // self.tokens, config.width, config.depth, self.tokens
        self.patch_channels = c
        self.register_buffer("block_mean", torch.full((self.block_values,), 0.5))
        self.register_buffer("latent_scale", torch.ones(c))
        self.encoder_linear = nn.Linear(self.block_values, c)
        self.encoder_branch = _mixer(self.block_values, t, w, d, c)
        self.decoder_linear = nn.Linear(c, self.block_values)
        self.decoder_branch = _mixer(c, t, w, d, self.block_values)

    @torch.no_grad()
    def init_from_pca(self, mean: torch.Tensor, basis: torch.Tensor, variances: torch.Tensor) -> None:
        """mean: (192,), basis: (192, K) orthonormal columns and variances (K,), sorted, K ≥ D/64."""
        c = self.patch_channels
        components = basis[:, :c].T.contiguous()  # (c, 192)
        self.block_mean.copy_(mean)
        self.latent_scale.copy_(variances[:c].clamp_min(1e-8).sqrt())
        self.encoder_linear.weight.copy_(components)
        self.encoder_linear.bias.copy_(-components @ mean)
        self.decoder_linear.weight.copy_(components.T)
        self.decoder_linear.bias.copy_(mean)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 64, 64) in [0, 1] → latent (B, latent_dim)."""
        _check_rgb_batch(x)
        s = self.config.image_size
        if tuple(x.shape[-2:]) != (s, s):
            raise ValueError(
                f"dense models take exactly {s}×{s} images, got {x.shape[-2]}×{x.shape[-1]}: "
                f"resize or crop to {s}×{s} first (or use a conv model, which takes any size)"
            )
        patches = F.pixel_unshuffle(x, PATCH).flatten(2).transpose(1, 2)  # (B, T, 192)
        correction = self.encoder_branch(patches - self.block_mean).float()  # (B, T, c)
        with _full_precision(x):
            z = self.encoder_linear(patches) + self.latent_scale * correction  # (B, T, c)
        return z.transpose(1, 2).flatten(1)  # (B, c·T), channel-major

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent (B, latent_dim) → image (B, 3, 64, 64), not clamped."""
        z = z.view(-1, self.patch_channels, self.tokens).transpose(1, 2)  # (B, T, c)
        correction = self.decoder_branch(z / self.latent_scale).float()
        with _full_precision(z):
            patches = self.decoder_linear(z) + correction  # (B, T, 192)
        side = self.config.image_size // PATCH
        return F.pixel_shuffle(patches.transpose(1, 2).reshape(-1, self.block_values, side, side), PATCH)

    def latent_shape(self, height: int, width: int) -> tuple[int]:
        return (self.config.latent_dim,)

    def latent_maps(self, z: np.ndarray) -> np.ndarray:
        """A code (D,) as D/64 maps of 8×8 (one value of every patch, drawn where the patch is):
        (D/64, 8, 8), the shape of a conv latent of a 64×64 image, so the latent view draws both alike."""
        side = self.config.image_size // PATCH
        return z.reshape(self.patch_channels, side, side)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


# ---------------------------------------------------------------------------------------
# Codec family: a conv model's transform made into a real compressor. Its latent is scaled so
# that one quantization step is 1, rounded to integers, and an entropy model ("prior") says how
# many bits each integer costs and codes them (entropy.py); `codec.py` writes the file around
# its streams. One subclass of CodecAutoencoder per prior, found by name in PRIORS.

@dataclass
class CodecConfig(ConvConfig):
    prior: str = one_of("hyperprior", lambda: PRIORS)  # a name in PRIORS: "factorized" (one learned density per channel), "hyperprior" (mean–scale), "checkerboard" (hyperprior + context)
    hyper_channels: int = ranged(32, 1, 256)  # channels of the hyper-latent z, at H/32 (hyperprior only)
    hyper_width: int = ranged(96, 1, 512)  # channels inside the hyper-analysis and hyper-synthesis


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity in the backward pass (straight-through)."""
    return x + (torch.round(x) - x).detach()


def _perturb(v: torch.Tensor, noisy: bool) -> torch.Tensor:
    """What the rate is measured on: v plus uniform noise in [-½, ½) in training (noisy), else round(v)."""
    return v + torch.empty_like(v).uniform_(-0.5, 0.5) if noisy else torch.round(v)


HYPER_FACTOR = 4  # the hyper-latent is the latent downsampled twice by 2: (Nz, h/4, w/4)
HYPER_MARGIN = 2  # hyper-latent positions around a tile that the integer hyper-synthesis reads (reach < 2)
DECODE_TILE_BYTES = 100_000_000  # the working memory one decoding tile may take, by decoder_bytes_per_pixel
WHOLE_IMAGE_BYTES = 256_000_000  # an image whose decoding needs no more is decoded whole (Kodak, the app's photos)


def tiles(size: int, tile: int) -> list[tuple[int, int]]:
    """[start, stop) ranges of at most `tile` covering 0…size."""
    return [(a, min(a + tile, size)) for a in range(0, size, tile)]


def tile_side(h: int, w: int, bytes_per_unit: float, margin: int = 0) -> int:
    """Tiles for an (h, w) grid of units costing bytes_per_unit each: the whole grid (one tile)
    when it fits WHOLE_IMAGE_BYTES, else the largest square whose side plus `margin` on every
    side fits DECODE_TILE_BYTES (at least 1)."""
    if h * w * bytes_per_unit <= WHOLE_IMAGE_BYTES:
        return max(h, w)
    return max(1, int(math.sqrt(DECODE_TILE_BYTES / bytes_per_unit)) - 2 * margin)


@dataclass
class Symbols:
    """What the range coder codes, and what the decoder rebuilds the latent from: û = y·step + mean."""
    y: torch.Tensor  # int16 (C, h, w), in [-SUPPORT, SUPPORT]: the latent's symbols
    z: torch.Tensor | None  # int16: side information coded first (a hyperprior's hyper-latent (Nz, h/4, w/4)), else None
    mean: torch.Tensor | None  # float32 (C, h, w): predicted means (a hyperprior's), else None (0)
    scale_index: torch.Tensor | None  # uint8 (C, h, w): the table that codes each y symbol, where a prior picks one per symbol
    step: float = 1.0  # the quantization step Δ: the decoder gets y·Δ + mean


class CodecAutoencoder(nn.Module, metaclass=ABCMeta):
    """A ConvAutoencoder transform + per-channel gains + a learned entropy model.

    encode(x) gives the latent in units of the quantization step, u = transform.encode(x) · gain
    (B, C, H/8, W/8); the prior turns it into integer symbols and codes them; decode(û) =
    transform.decode(û / gain). Trained with loss = λ·255²·MSE + bits per pixel (train.py),
    uniform noise standing in for rounding in the rate term and straight-through rounding in
    front of the decoder.

    The entropy model is a subclass's: CodecAutoencoder(config) builds the class PRIORS names
    for config.prior. That class builds its modules (under the names its weights are saved
    with) and owns everything that depends on them: the training rate (latent_bits), the integer
    tables (prepare_for_coding), the symbols of a latent at a quantization step, the streams
    that code them, what they are called and which steps they allow, the bits map, and its share
    of the decoding memory. codec.py writes and reads the file around them without knowing
    which prior it codes with.
    """

    family = "codec"
    downsampling_factor = 8
    any_size = True
    entropy_coded = True  # its bytes are a range-coded .aez file (codec.py)
    words: str  # how the app names the prior ("mean–scale hyperprior")
    any_step: bool  # codes at any quantization step Δ (rate control's ladder); else at the trained step only
    stream_names: tuple[str, ...]  # its file's streams, in file order (as a damaged one is named)

    def __new__(cls, config: CodecConfig):
        if cls is not CodecAutoencoder:  # a prior's own class, built by name
            return super().__new__(cls)
        if config.prior not in PRIORS:
            raise ValueError(f"prior must be {' or '.join(map(repr, PRIORS))}, got {config.prior!r}")
        return super().__new__(PRIORS[config.prior])

    def __init__(self, config: CodecConfig):
        super().__init__()
        if PRIORS.get(config.prior) is not type(self):
            raise ValueError(f"a {type(self).__name__} cannot code with prior {config.prior!r}")
        self.config = config
        conv_fields = {f.name for f in dataclasses.fields(ConvConfig)}
        self.transform = ConvAutoencoder(ConvConfig(**{k: v for k, v in vars(config).items() if k in conv_fields}))
        self.log_gain = nn.Parameter(torch.zeros(config.latent_channels))  # channel k's quantization step: exp(−log_gain[k])

    @classmethod
    def from_transform(cls, conv: ConvAutoencoder, step: float, **codec_fields) -> CodecAutoencoder:
        """A codec around a trained conv model, every channel's quantization step set to `step`."""
        model = cls(CodecConfig(**vars(conv.config), **codec_fields))
        model.transform.load_state_dict(conv.state_dict())
        with torch.no_grad():
            model.log_gain.fill_(-math.log(step))
        return model

    def with_prior(self, prior: str) -> CodecAutoencoder:
        """This model's transform and gains, and every module the other prior shares with this
        one's (a hyperprior's, under a checkerboard context), coding with `prior`; its own modules
        start fresh. ValueError if this model has modules `prior` has no place for."""
        model = CodecAutoencoder(CodecConfig(**{**vars(self.config), "prior": prior}))
        unexpected = model.load_state_dict(self.state_dict(), strict=False).unexpected_keys
        if unexpected:
            raise ValueError(f"a {model.words} model has no place for this model's {', '.join(unexpected)}")
        return model

    def freeze_transform(self) -> None:
        """Train the entropy model only: the transform and gains keep their values, so the
        decoder's pixels for a given latent stay those of the model it started from."""
        self.transform.requires_grad_(False)
        self.log_gain.requires_grad_(False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1], H and W multiples of 8 → u (B, C, H/8, W/8), in quantization steps."""
        return self.transform.encode(x) * self.log_gain.exp()[:, None, None]

    def decode(self, u: torch.Tensor) -> torch.Tensor:
        """Rounded latent û (B, C, h, w) → image (B, 3, 8h, 8w), not clamped."""
        return self.transform.decode(u / self.log_gain.exp()[:, None, None])

    def decode_blocks(self, u: torch.Tensor) -> torch.Tensor:
        """decode before the post-filter (codec.py decodes big images in tiles: decode =
        post_filter(decode_blocks(u)))."""
        return self.transform.decode_blocks(u / self.log_gain.exp()[:, None, None])

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        return self.transform.latent_shape(height, width)

    def latent_maps(self, z: np.ndarray) -> np.ndarray:
        return self.transform.latent_maps(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction from the rounded latent (validation, `reconstruct`)."""
        return self.rate_distortion(x, noisy=False)[0]

    def rate_distortion(self, x: torch.Tensor, noisy: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 3, H, W) → (reconstruction, total bits of the batch as a 0-d tensor). Training
        (noisy): the rate of the latent plus uniform noise. noisy=False: the likelihood estimate
        of the bits of the rounded latent, which `codec.py` compares with the real bytes."""
        u_hat, bits = self.latent_bits(self.encode(x).float(), noisy)
        return self.decode(u_hat), bits

    # What each prior defines.

    @abstractmethod
    def latent_bits(self, u: torch.Tensor, noisy: bool = True, step: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """u (B, C, h, w) → (the rounded latent the decoder gets, straight-through; total bits).
        step: the quantization step Δ in units of the trained one (ValueError where the prior
        has only Δ = 1); the bits are those of the symbols at that step."""

    @abstractmethod
    def rounded_bits(self, u: torch.Tensor, step: float,
                     rounding: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """u (1, C, h, w) → (bits under the entropy model, the latent the decoder gets), every
        coded value passed through `rounding` (torch.round, or search.py's differentiable soft
        rounding): the loss an encoder-side search of the latent minimises."""

    @abstractmethod
    def prepare_for_coding(self) -> None:
        """Tabulate the entropy model into the integer tables the range coder uses (before saving)."""

    @abstractmethod
    def side_information(self, u: torch.Tensor):
        """The latent u (C, h, w) → what the prior codes for it at every step (codec.Encoding
        computes it once for the files at many steps), or None."""

    @abstractmethod
    def symbols(self, u: torch.Tensor, side, step: int) -> Symbols:
        """The latent u (C, h, w), its side_information and the step Δ as aez stores it (Δ·STEP_ONE)
        → the symbols the streams code."""

    @abstractmethod
    def encode_streams(self, s: Symbols, side) -> list[bytes]:
        """Symbols (and the side_information they were made with) → the streams, in file order."""

    @abstractmethod
    def stream_symbols(self, s: Symbols) -> list[np.ndarray]:
        """Each stream's symbols in the order its symbol check reads them (raster order)."""

    @abstractmethod
    def decode_symbols(self, streams: list[bytes], height: int, width: int, step: int,
                       check: Callable[[int, np.ndarray], None]) -> Symbols:
        """The streams of a latent of (height, width) positions at step Δ·STEP_ONE → its symbols.
        check(i, symbols) is called on each stream's symbols (stream_symbols' arrays) as soon as
        they are decoded, before anything is computed from them; AezError for a damaged stream."""

    @abstractmethod
    def coded_bits_per_pixel(self, s: Symbols) -> torch.Tensor:
        """(h, w) float64: the bits coded for each latent position, per pixel of its 8×8 block, side
        information spread over the blocks it describes; sums to the coded bits / 64."""

    @abstractmethod
    def side_decoding_bytes_per_pixel(self) -> float:
        """Working memory of decoding the side information, in bytes per image pixel (codec.decoder_bytes_per_pixel)."""


class FactorizedCodec(CodecAutoencoder):
    """The factorized prior (Ballé et al. 2018): the symbols are round(u), every channel coded with
    one learned density, in one stream, at the trained step only."""

    words = "factorized prior"
    any_step = False
    stream_names = ("latent",)

    def __init__(self, config: CodecConfig):
        super().__init__(config)
        self.prior = FactorizedPrior(config.latent_channels)

    def latent_bits(self, u: torch.Tensor, noisy: bool = True, step: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        if step != 1.0:
            raise ValueError("a factorized-prior model codes at its trained step only")
        return ste_round(u), -torch.log2(self.prior.likelihood(_perturb(u, noisy))).sum()

    def rounded_bits(self, u, step, rounding):
        if step != 1.0:
            raise ValueError("a factorized-prior model codes at its trained step only")
        rounded = rounding(u)
        return -torch.log2(self.prior.likelihood(rounded)).sum(), rounded

    @torch.no_grad()
    def prepare_for_coding(self) -> None:
        self.prior.tabulate()

    def side_information(self, u: torch.Tensor) -> None:
        return None  # the symbols are the latent's alone

    def symbols(self, u: torch.Tensor, side: None, step: int) -> Symbols:
        return Symbols(to_symbols(u), None, None, None)

    def encode_streams(self, s: Symbols, side: None) -> list[bytes]:
        return [self.prior.compress(s.y)]

    def stream_symbols(self, s: Symbols) -> list[np.ndarray]:
        return [s.y.numpy()]

    def decode_symbols(self, streams: list[bytes], height: int, width: int, step: int,
                       check: Callable[[int, np.ndarray], None]) -> Symbols:
        y = self.prior.decompress(streams[0], height, width, self.stream_names[0])
        check(0, y.numpy())
        return Symbols(y, None, None, None)

    def coded_bits_per_pixel(self, s: Symbols) -> torch.Tensor:
        return self.prior.bits(s.y).sum(0) / self.downsampling_factor**2

    def side_decoding_bytes_per_pixel(self) -> float:
        return 0.0


@dataclass
class HyperLatent:
    """A hyperprior's side information for one latent: what the files at every step share."""
    z: torch.Tensor  # int16 (Nz, h/4, w/4): the hyper-latent's symbols
    mean: torch.Tensor  # float32 (C, h, w): the means the integer hyper-synthesis predicts
    scale: torch.Tensor  # int64 (C, h, w) ≥ 0: its scales at fixed point 2**(2·FIXED_POINT_BITS)
    stream: bytes  # z's stream


class HyperpriorCodec(CodecAutoencoder):
    """The mean–scale hyperprior (Minnen et al. 2018): a hyper-latent z, coded with a factorized
    prior, predicts every latent value's mean μ and scale σ; the symbols y = round((u − μ)/Δ) are
    coded under N(0, (σ/Δ)²) by the Gaussian conditional, and the decoder gets û = y·Δ + μ. Two
    streams, z then y; any step Δ (rate.py picks one to meet a size), 1 being the trained one.
    The hyper-synthesis runs at coding time as an integer network, so every machine finds the
    same means and scale indices."""

    words = "mean–scale hyperprior"
    any_step = True
    stream_names = ("hyper-latent", "latent")

    def __init__(self, config: CodecConfig):
        super().__init__(config)
        c, n, w = config.latent_channels, config.hyper_channels, config.hyper_width
        self.hyper_analysis = nn.Sequential(  # (B, C, h, w) → (B, Nz, h/4, w/4)
            nn.Conv2d(c, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, w, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(w, n, 5, stride=2, padding=2),
        )
        self.hyper_synthesis = nn.Sequential(  # (B, Nz, h/4, w/4) → (B, 2C, h, w): means, scales
            nn.ConvTranspose2d(n, w, 5, stride=2, padding=2, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(w, w, 5, stride=2, padding=2, output_padding=1), nn.ReLU(),
            nn.Conv2d(w, 2 * c, 3, padding=1),
        )
        self.hyper_prior = FactorizedPrior(n)
        # What the range coder reads (filled by prepare_for_coding, saved with the weights):
        self.hyper_synthesis_int = IntegerNetwork(self.hyper_synthesis)
        self.register_buffer("gaussian_table", torch.zeros(SCALE_LEVELS, TABLE_SIZE, dtype=torch.int32))
        self.register_buffer("scale_bounds_int", torch.zeros(SCALE_LEVELS - 1, dtype=torch.int64))

    @property
    def gaussian(self) -> GaussianConditional:
        """The Gaussian conditional over this model's saved tables."""
        return GaussianConditional(self.gaussian_table, self.scale_bounds_int)

    def hyper_parameters(self, z: torch.Tensor, shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
        """Float hyper-synthesis: z (B, Nz, h/4, w/4) → means and scales (B, C, h, w) each."""
        params = self.hyper_synthesis(z)[..., : shape[-2], : shape[-1]]
        mean, scale = params.float().chunk(2, dim=1)
        return mean, scale.abs()

    def latent_bits(self, u: torch.Tensor, noisy: bool = True, step: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """The residual u − μ is rounded in steps of Δ and costs its bits under N(0, (σ/Δ)²) in those
        steps (codec.py codes files at any step; 1.0 is the trained model, unchanged)."""
        z = _perturb(self.hyper_analysis(pad_to_multiple(u, HYPER_FACTOR)).float(), noisy)
        mean, scale = self.conditional_parameters(u, z, step, ste_round)
        residual = (u - mean) / step
        return ste_round(residual) * step + mean, self._bits(_perturb(residual, noisy), scale / step, z)

    def conditional_parameters(self, u: torch.Tensor, z: torch.Tensor, step: float,
                               rounding: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The float mean and scale (B, C, h, w) each value of u (B, C, h, w) is coded with, given z:
        the hyper-synthesis's here; a context model corrects them from the values decoded before
        (rounded in steps of Δ by `rounding`, as the decoder will have them)."""
        return self.hyper_parameters(z, u.shape)

    def _bits(self, coded: torch.Tensor, scale: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Total bits of the coded residuals (in steps of Δ) under N(0, scale²) (scale in those
        steps), and of the coded hyper-latent z under the hyper-prior."""
        return -torch.log2(gaussian_likelihood(coded, scale)).sum() - torch.log2(self.hyper_prior.likelihood(z)).sum()

    def rounded_bits(self, u, step, rounding):
        z = rounding(self.hyper_analysis(pad_to_multiple(u, HYPER_FACTOR)))  # (1, Nz, h/4, w/4): as the encoder codes it
        mean, scale = self.conditional_parameters(u, z, step, rounding)
        residual = rounding((u - mean) / step)
        return self._bits(residual, scale / step, z), residual * step + mean

    @torch.no_grad()
    def prepare_for_coding(self) -> None:
        self.hyper_prior.tabulate()
        self.hyper_synthesis_int.copy_from(self.hyper_synthesis)
        tables, bounds = GaussianConditional.tabulated()
        self.gaussian_table.copy_(tables)
        self.scale_bounds_int.copy_(bounds)

    def integer_hyper_parameters(self, z: torch.Tensor, h: int, w: int, step: int | None = None,
                                 tile: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer z (Nz, h/4, w/4) → means (C, h, w) float32 and, with `step` (Δ·STEP_ONE), scale
        indices (C, h, w) uint8, else the scales at fixed point (C, h, w) int64. Bit-exact on any
        machine: the integer network's output is compared with integer thresholds. Computed in
        tiles of `tile` hyper-latent positions (default: tile_side, by this model's decoding
        memory) with HYPER_MARGIN around each: integers, so tiles give exactly the whole image's values."""
        c = self.config.latent_channels
        mean = torch.empty(c, h, w, dtype=torch.float32)
        second = torch.empty(c, h, w, dtype=torch.uint8 if step is not None else torch.int64)
        gaussian = self.gaussian
        hz, wz = z.shape[-2:]
        tile = tile or tile_side(hz, wz, self.side_decoding_bytes_per_pixel() * 1024, HYPER_MARGIN)
        for r0, r1 in tiles(hz, tile):
            for c0, c1 in tiles(wz, tile):
                a, b = max(r0 - HYPER_MARGIN, 0), min(r1 + HYPER_MARGIN, hz)
                d, e = max(c0 - HYPER_MARGIN, 0), min(c1 + HYPER_MARGIN, wz)
                acc = self.hyper_synthesis_int(z[None, :, a:b, d:e])[0]  # int64 (2C, ·, ·) at scale 2**(2·bits)
                rows, cols = slice(4 * r0, min(4 * r1, h)), slice(4 * c0, min(4 * c1, w))
                acc = acc[:, 4 * (r0 - a) : 4 * (r0 - a) + rows.stop - rows.start,
                          4 * (c0 - d) : 4 * (c0 - d) + cols.stop - cols.start]
                mean_acc, scale_acc = acc.chunk(2, dim=0)
                mean[:, rows, cols] = (mean_acc.double() / 2.0 ** (2 * FIXED_POINT_BITS)).float()
                scale = scale_acc.abs()
                second[:, rows, cols] = scale if step is None else gaussian.scale_index(scale, step)
        return mean, second

    def side_information(self, u: torch.Tensor) -> HyperLatent:
        z = to_symbols(self.hyper_analysis(pad_to_multiple(u[None], HYPER_FACTOR)).float()[0])
        mean, scale = self.integer_hyper_parameters(z, *u.shape[-2:])
        return HyperLatent(z, mean, scale, self.hyper_prior.compress(z))

    def symbols(self, u: torch.Tensor, side: HyperLatent, step: int) -> Symbols:
        delta = step / STEP_ONE
        return Symbols(to_symbols((u - side.mean) / delta), side.z, side.mean,
                       self.gaussian.scale_index(side.scale, step), delta)

    def encode_streams(self, s: Symbols, side: HyperLatent) -> list[bytes]:
        return [side.stream, self.gaussian.compress(s.y, s.scale_index)]

    def stream_symbols(self, s: Symbols) -> list[np.ndarray]:
        return [s.z.numpy(), s.y.numpy()]

    def decode_symbols(self, streams: list[bytes], height: int, width: int, step: int,
                       check: Callable[[int, np.ndarray], None]) -> Symbols:
        z = self.hyper_prior.decompress(streams[0], -(-height // HYPER_FACTOR), -(-width // HYPER_FACTOR),
                                        self.stream_names[0])
        check(0, z.numpy())
        mean, index = self.integer_hyper_parameters(z, height, width, step=step)
        y = self.gaussian.decompress(streams[1], index, self.stream_names[1])
        check(1, y.numpy())
        return Symbols(y, z, mean, index, step / STEP_ONE)

    def coded_bits_per_pixel(self, s: Symbols) -> torch.Tensor:
        f = self.downsampling_factor
        per_pixel = self.gaussian.bits(s.y, s.scale_index).sum(0) / f**2  # (h, w)
        z_bits = self.hyper_prior.bits(s.z).sum(0) / (f * HYPER_FACTOR) ** 2  # (h/4, w/4), over 32×32 pixels each
        h, w = per_pixel.shape
        return per_pixel + z_bits.repeat_interleave(HYPER_FACTOR, 0).repeat_interleave(HYPER_FACTOR, 1)[:h, :w]

    def side_decoding_bytes_per_pixel(self) -> float:
        """The integer hyper-synthesis: float64 activations and im2col columns, at 1/64 of the pixels."""
        c = self.config
        return 8 * (16 * c.hyper_width + 6 * c.latent_channels) / 64


CONTEXT_MARGIN = 2  # latent positions around a tile that the 5×5 checkerboard context reads


def anchors(h: int, w: int) -> torch.Tensor:
    """bool (h, w): the checkerboard's anchor positions, (i + j) even; the rest are non-anchors."""
    return (torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2 == 0


def _fixed_point(values: torch.Tensor, bits: int) -> torch.Tensor:
    """Float values → floor(values · 2**bits), int64: exact (float32 → float64 and a power of two lose nothing)."""
    return torch.floor(values.double() * 2.0**bits).long()


def _floor_shift(acc: torch.Tensor) -> torch.Tensor:
    """int64 at scale 2**(2·FIXED_POINT_BITS) → int64 at 2**FIXED_POINT_BITS, floored (an integer network's input)."""
    return torch.div(acc, 1 << FIXED_POINT_BITS, rounding_mode="floor")


class CheckerboardCodec(HyperpriorCodec):
    """The hyperprior plus a checkerboard context (He et al. 2021, "Checkerboard context model
    for efficient learned image compression"). Half the latent positions, the anchors ((i + j)
    even), are coded with the hyperprior's mean and scale; the other half with a mean and scale
    corrected by an entropy-parameters network that reads the hyperprior's prediction and a 5×5
    convolution over the decoded anchors (non-anchors zero, so it sees anchors only). The
    correction starts at zero: before fine-tuning, the model codes exactly like its hyperprior.

    Three streams: z, the anchors' symbols, the non-anchors' symbols (each channel by channel in
    raster order, grouped by scale). Both context networks run at coding time as integer
    networks on fixed-point inputs, so encoder and decoder find the same table for every symbol
    on any machine, at any step Δ."""

    words = "hyperprior with checkerboard context"
    stream_names = ("hyper-latent", "latent anchors", "latent non-anchors")

    def __init__(self, config: CodecConfig):
        super().__init__(config)
        c, w = config.latent_channels, config.hyper_width
        self.context = nn.Sequential(nn.Conv2d(c, 2 * c, 5, padding=2))  # anchors' û (B, C, h, w) → (B, 2C, h, w)
        self.entropy_parameters = nn.Sequential(  # (B, 4C, h, w): means, scales, context → corrections (B, 2C, h, w)
            nn.Conv2d(4 * c, w, 1), nn.ReLU(),
            nn.Conv2d(w, w, 1), nn.ReLU(),
            nn.Conv2d(w, 2 * c, 1),
        )
        nn.init.zeros_(self.entropy_parameters[-1].weight)
        nn.init.zeros_(self.entropy_parameters[-1].bias)
        self.context_int = IntegerNetwork(self.context)
        self.entropy_parameters_int = IntegerNetwork(self.entropy_parameters)

    def conditional_parameters(self, u, z, step, rounding):
        """The hyperprior's at anchors; at non-anchors corrected from the anchors rounded in steps
        of Δ (what the decoder has when it decodes them)."""
        mean, scale = self.hyper_parameters(z, u.shape)
        anchor = anchors(*u.shape[-2:]).to(u.device)
        decoded_anchors = torch.where(anchor, rounding((u - mean) / step) * step + mean, 0.0)
        correction = self.entropy_parameters(torch.cat([mean, scale, self.context(decoded_anchors)], dim=1))
        mean_fix, scale_fix = correction.float().chunk(2, dim=1)
        return torch.where(anchor, mean, mean + mean_fix), torch.where(anchor, scale, (scale + scale_fix).abs())

    @torch.no_grad()
    def prepare_for_coding(self) -> None:
        super().prepare_for_coding()
        self.context_int.copy_from(self.context)
        self.entropy_parameters_int.copy_from(self.entropy_parameters)

    def context_parameters(self, y: torch.Tensor, side: HyperLatent, step: int,
                           tile: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The anchors' symbols y (C, h, w) (non-anchors ignored), the hyperprior's prediction and
        the step Δ·STEP_ONE → every position's mean (C, h, w) float32 and scale index (uint8):
        the hyperprior's at anchors, corrected at non-anchors. Integers throughout: the anchors'
        û = y·Δ + μ at fixed point 2**FIXED_POINT_BITS (y·step·2**14 / STEP_ONE is exact, STEP_ONE
        being a power of two below 2**14), the corrections at 2**(2·FIXED_POINT_BITS). In tiles
        of `tile` positions (default: tile_side) with CONTEXT_MARGIN around each: integers, so the
        tiles give exactly the whole image's values."""
        c, h, w = y.shape
        anchor = anchors(h, w)
        mean_fp = _fixed_point(side.mean, FIXED_POINT_BITS)  # (C, h, w) at 2**14
        decoded = torch.where(anchor, y.long() * step * (1 << FIXED_POINT_BITS) // STEP_ONE + mean_fp, 0)
        inputs = torch.cat([mean_fp, _floor_shift(side.scale)])  # (2C, h, w) at 2**14
        correction = torch.empty(2 * c, h, w, dtype=torch.int64)
        tile = tile or tile_side(h, w, self.context_decoding_bytes_per_position(), CONTEXT_MARGIN)
        for r0, r1 in tiles(h, tile):
            for c0, c1 in tiles(w, tile):
                a, b = max(r0 - CONTEXT_MARGIN, 0), min(r1 + CONTEXT_MARGIN, h)
                d, e = max(c0 - CONTEXT_MARGIN, 0), min(c1 + CONTEXT_MARGIN, w)
                context = self.context_int(decoded[None, :, a:b, d:e], fixed_point=True)[0]  # (2C, ·, ·) at 2**28
                context = context[:, r0 - a : r0 - a + r1 - r0, c0 - d : c0 - d + c1 - c0]
                features = torch.cat([inputs[:, r0:r1, c0:c1], _floor_shift(context)])[None]  # (1, 4C, ·, ·) at 2**14
                correction[:, r0:r1, c0:c1] = self.entropy_parameters_int(features, fixed_point=True)[0]
        mean_fix, scale_fix = correction.chunk(2, dim=0)
        mean_acc = _fixed_point(side.mean, 2 * FIXED_POINT_BITS) + mean_fix
        mean = torch.where(anchor, side.mean, (mean_acc.double() / 2.0 ** (2 * FIXED_POINT_BITS)).float())
        scale = torch.where(anchor, side.scale, (side.scale + scale_fix).abs())
        return mean, self.gaussian.scale_index(scale, step)

    def symbols(self, u: torch.Tensor, side: HyperLatent, step: int) -> Symbols:
        delta = step / STEP_ONE
        anchor_symbols = to_symbols((u - side.mean) / delta)  # right at anchors; the rest are recomputed below
        mean, index = self.context_parameters(anchor_symbols, side, step)
        return Symbols(to_symbols((u - mean) / delta), side.z, mean, index, delta)

    def encode_streams(self, s: Symbols, side: HyperLatent) -> list[bytes]:
        anchor = anchors(*s.y.shape[-2:])
        return [side.stream] + [self.gaussian.compress(s.y[:, part], s.scale_index[:, part]) for part in (anchor, ~anchor)]

    def stream_symbols(self, s: Symbols) -> list[np.ndarray]:
        anchor = anchors(*s.y.shape[-2:])
        return [s.z.numpy(), s.y[:, anchor].numpy(), s.y[:, ~anchor].numpy()]

    def decode_symbols(self, streams: list[bytes], height: int, width: int, step: int,
                       check: Callable[[int, np.ndarray], None]) -> Symbols:
        z = self.hyper_prior.decompress(streams[0], -(-height // HYPER_FACTOR), -(-width // HYPER_FACTOR),
                                        self.stream_names[0])
        check(0, z.numpy())
        mean, scale = self.integer_hyper_parameters(z, height, width)
        anchor = anchors(height, width)
        y = torch.zeros(self.config.latent_channels, height, width, dtype=torch.int16)
        y[:, anchor] = self.gaussian.decompress(streams[1], self.gaussian.scale_index(scale[:, anchor], step),
                                                self.stream_names[1])
        check(1, y[:, anchor].numpy())
        mean, index = self.context_parameters(y, HyperLatent(z, mean, scale, streams[0]), step)
        y[:, ~anchor] = self.gaussian.decompress(streams[2], index[:, ~anchor], self.stream_names[2])
        check(2, y[:, ~anchor].numpy())
        return Symbols(y, z, mean, index, step / STEP_ONE)

    def context_decoding_bytes_per_position(self) -> float:
        """The integer context networks' working memory per latent position: float64 activations,
        the 5×5 im2col columns, and the int64 maps they read and write."""
        c, w = self.config.latent_channels, self.config.hyper_width
        return 8 * (26 * c + 2 * c + 4 * c + 2 * w + 2 * c) + 8 * 6 * c

    def side_decoding_bytes_per_pixel(self) -> float:
        """The larger of the hyper-synthesis's and the context's (they run one after the other)."""
        return max(super().side_decoding_bytes_per_pixel(), self.context_decoding_bytes_per_position() / 64)


PRIORS: dict[str, type[CodecAutoencoder]] = {  # config "prior" → the class that codes with it
    "factorized": FactorizedCodec,
    "hyperprior": HyperpriorCodec,
    "checkerboard": CheckerboardCodec,
}


def prior_words(name: str) -> str:
    """How the app names the prior called `name` in a config (the name itself if no class has it)."""
    return PRIORS[name].words if name in PRIORS else name


def on_rate_ladder(prior: str | None) -> bool:
    """Whether a codec model with the prior called `prior` (a manifest entry's or an evaluation
    row's) codes at any quantization step: the models rate control picks from, and the charts
    draw as the ladder."""
    return prior in PRIORS and PRIORS[prior].any_step


# ---------------------------------------------------------------------------------------
# Registry: the one table of families. The manifest names families only; this order is the
# manifest's, the app's and the charts' order.

PREVIEW_SIDE = 64  # the app describes the latent of a 64×64 patch (the original notebook's image size)


def is_finite_number(value) -> bool:
    """An int or float (not a bool) that is finite: what every numeric manifest field must be."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Family:
    """A model family, and the one place that knows families by name: what differs between them
    is asked of this object (what it builds, which config field sets its bottleneck, whether its
    bytes are a real file, how its code is described, what its manifest entry holds), never
    switched on by name elsewhere. A new family is a model class, a config and one entry here."""
    name: str
    model: type[nn.Module]
    config: type
    label: str  # how the app names it
    colour: str  # its colour in every chart
    symbol: str  # its marker shape in plotly charts (charts tell families apart by shape, not colour only)
    size_key: str  # the config field that sets the bottleneck
    image_to_image: bool = False  # any size in, the same size out from an 8-bit latent: denoisers and anomaly scores
    starts_from: tuple[str, ...] = ()  # families a training run must start from (--init-from); none: block-PCA
    latent_note: str = ""  # what the latent view should say of how its code is drawn
    entry_fields: tuple[str, ...] = ()  # manifest.ModelEntry fields of this family's own (manifest_fields, check_entry)

    @property
    def any_size(self) -> bool:
        return self.model.any_size

    @property
    def entropy_coded(self) -> bool:
        """Its bytes are a real range-coded file (.aez), not the 8-bit latent."""
        return self.model.entropy_coded

    def describe(self, entry) -> tuple[str, float]:
        """(what the latent of a 64×64 patch looks like, its bits per pixel) of a manifest entry
        (a manifest.ModelEntry: the manifest imports this module, never the other way)."""
        channels, f = entry.bottleneck, self.model.downsampling_factor
        side = PREVIEW_SIDE // f
        return f"{side}×{side}×{channels} latent per {PREVIEW_SIDE}×{PREVIEW_SIDE} px", channels * 8 / f**2

    def manifest_fields(self, config: dict, lmbda: float | None) -> dict:
        """What a trained model's manifest entry says of it beyond the fields every entry has
        (keyword arguments of manifest.ModelEntry: its size and this family's entry_fields)."""
        return {"size": config[self.size_key]}

    def check_entry(self, entry) -> None:
        """This family's own fields of a manifest entry; ValueError says what is wrong."""


class DenseFamily(Family):
    def describe(self, entry) -> tuple[str, float]:
        dim, side = entry.bottleneck, entry.config.get("image_size", PREVIEW_SIDE)
        return f"{dim}-value code per {side}×{side} px", dim * 8 / side**2


class CodecFamily(Family):
    def describe(self, entry) -> tuple[str, float]:
        latent, _ = super().describe(entry)
        prior = prior_words(entry.prior)
        return f"{latent}, entropy-coded ({prior}, λ = {entry.lmbda})", float(entry.reference_rate or 0.0)

    def manifest_fields(self, config: dict, lmbda: float | None) -> dict:
        return {**super().manifest_fields(config, lmbda), "prior": config["prior"], "lmbda": lmbda}

    def check_entry(self, entry) -> None:
        if entry.prior != entry.config.get("prior", self.config.prior):
            raise ValueError(f"its prior {entry.prior!r} differs from its config's")
        if not is_finite_number(entry.lmbda) or entry.lmbda <= 0:
            raise ValueError(f"its lmbda must be a positive number, got {entry.lmbda!r}")


MODEL_FAMILIES: dict[str, Family] = {f.name: f for f in (  # in the order the manifest, the app and the charts use
    Family("conv", ConvAutoencoder, ConvConfig, "conv (any size)", "#d62728", "circle", "latent_channels",
           image_to_image=True),
    DenseFamily("dense", DenseAutoencoder, DenseConfig, "dense (64×64 only)", "#9467bd", "hexagon", "latent_dim",
                latent_note="The dense code as its per-patch maps: map k holds value k of every 8×8 patch, where "
                            "the patch is (the MLP mixes all patches, so a value can carry more than its own patch). "),
    CodecFamily("codec", CodecAutoencoder, CodecConfig, "codec (real files)", "#000000", "star", "latent_channels",
                starts_from=("conv", "codec"), entry_fields=("prior", "lmbda")),
)}


def family_of(entry) -> Family:
    """The family of a mapping with a "family" (training options, a row of eval's results); a
    manifest.ModelEntry says its own (`entry.kind`)."""
    return MODEL_FAMILIES[entry["family"]]


def build_model(family: str, config: dict) -> nn.Module:
    """Construct an untrained model of `family` from a plain config dict (as saved)."""
    if family not in MODEL_FAMILIES:
        raise ValueError(f"unknown model family {family!r}; known: {sorted(MODEL_FAMILIES)}")
    model_cls, config_cls = MODEL_FAMILIES[family].model, MODEL_FAMILIES[family].config
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = set(config) - known
    if unknown:
        raise ValueError(f"unknown {family} config keys {sorted(unknown)}; known: {sorted(known)}")
    return model_cls(config_cls(**config))


def values_ratio(model: nn.Module) -> float:
    """Input values per latent value (192 / C for conv and codec, 12288 / latent_dim for dense)."""
    side = PREVIEW_SIDE if model.any_size else model.config.image_size  # a 64×64 image: whole 8×8 blocks
    return 3 * side * side / math.prod(model.latent_shape(side, side))
