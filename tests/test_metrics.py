import math

import pytest
import torch

from autoencoder import metrics
from autoencoder.latent import dequantize, quantize


def test_mse_and_psnr_on_known_values():
    x = torch.zeros(2, 3, 4, 4)
    y = torch.full((2, 3, 4, 4), 0.1)
    assert torch.allclose(metrics.mse(x, y), torch.tensor([0.01, 0.01]))
    assert torch.allclose(metrics.psnr(x, y), torch.tensor([20.0, 20.0]))
    y[1] = 0.5  # per image, not pooled
    assert metrics.psnr(x, y)[1].item() == pytest.approx(10 * math.log10(1 / 0.25))
    assert math.isinf(metrics.psnr(x, x)[0].item())


def test_ssim_properties():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 64, 64, generator=g)
    assert metrics.ssim(x, x).item() == pytest.approx(1.0, abs=1e-6)
    noisy = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    slightly = (x + 0.02 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert metrics.ssim(x, noisy).item() < metrics.ssim(x, slightly).item() < 1.0
    assert metrics.ssim(x[..., :10, :10], x[..., :10, :10]) is None  # smaller than the 11×11 window


def test_ms_ssim_needs_161_pixels():
    x = torch.rand(1, 3, 161, 170)
    assert metrics.ms_ssim(x, x).item() == pytest.approx(1.0, abs=1e-5)
    assert metrics.ms_ssim(x[..., :160, :], x[..., :160, :]) is None


def test_quality_returns_plain_floats_and_wants_one_image():
    x, y = torch.zeros(1, 3, 32, 32), torch.full((1, 3, 32, 32), 0.1)
    q = metrics.quality(x, y)
    assert q["psnr"] == pytest.approx(20.0) and q["mse"] == pytest.approx(0.01)
    assert isinstance(q["ssim"], float) and q["ms_ssim"] is None
    with pytest.raises(ValueError):
        metrics.quality(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8))


def test_ssim_and_ms_ssim_match_pytorch_msssim_on_the_default_memory_layout():
    """metrics runs pytorch-msssim in channels-last order for speed; the numbers must be the
    library's own on ordinary (contiguous) tensors."""
    from pytorch_msssim import ms_ssim, ssim

    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 200, 240, generator=g)
    y = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert float(metrics.ssim(x, y)) == pytest.approx(float(ssim(x, y, data_range=1.0)), abs=1e-6)
    assert float(metrics.ms_ssim(x, y)) == pytest.approx(float(ms_ssim(x, y, data_range=1.0)), abs=1e-6)
    assert 0.3 < float(metrics.ssim(x, y)) < 0.95  # noisy, so neither identical nor unrelated


def test_bits_per_pixel():
    assert metrics.bits_per_pixel(4096, 64, 64) == 8.0


def test_quantize_conv_latent_per_channel():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, 4, 5, 6, generator=g) * torch.tensor([10.0, 1.0, 0.1, 0.0])[None, :, None, None]
    q = quantize(z)
    assert q.codes.shape == (4, 5, 6) and q.codes.dtype.name == "uint8"
    assert q.num_bytes == 4 * 5 * 6 + 4 * 4  # payload + two float16 per channel
    back = dequantize(q)
    step = (torch.from_numpy(q.high.astype("float32")) - torch.from_numpy(q.low.astype("float32"))) / 255
    assert back.shape == z.shape
    assert ((back - z).abs().amax(dim=(0, 2, 3)) <= step / 2 + 1e-3 * step + 1e-6).all()
    assert q.codes[0].min() == 0 and q.codes[0].max() == 255  # the full range is used


def test_quantize_dense_latent_and_errors():
    z = torch.linspace(-1, 1, 100)[None]
    q = quantize(z, bits=8)
    assert q.codes.shape == (100,) and q.low.size == 1 and q.num_bytes == 104
    assert (dequantize(q) - z).abs().max() < 2 / 255
    with pytest.raises(ValueError):
        quantize(torch.zeros(2, 4))
    with pytest.raises(ValueError):
        quantize(z, bits=9)


def test_bd_rate_of_a_curve_needing_twice_the_bits_is_plus_100_percent():
    anchor = [(0.2, 25.0), (0.5, 30.0), (1.0, 33.0), (2.0, 36.0)]
    doubled = [(2 * bpp, psnr) for bpp, psnr in anchor]
    assert metrics.bd_rate(doubled, anchor) == pytest.approx(100.0)
    assert metrics.bd_rate(anchor, doubled) == pytest.approx(-50.0)
    assert metrics.bd_rate(anchor, anchor) == pytest.approx(0.0)
    assert metrics.bd_rate(anchor, [(5.0, 40.0), (6.0, 41.0)]) is None  # no common PSNR range


def test_psnr_at_rate_interpolates_in_log_rate_and_refuses_to_extrapolate():
    curve = [(0.25, 28.0), (1.0, 32.0)]
    assert metrics.psnr_at_rate(curve, 0.5) == pytest.approx(30.0)  # halfway in log2 bpp
    assert metrics.psnr_at_rate(curve, 0.2) is None and metrics.psnr_at_rate(curve, 1.5) is None
