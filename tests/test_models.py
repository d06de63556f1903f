import numpy as np
import pytest
import torch

import autoencoder as ae
from autoencoder.models import ConvAutoencoder, DenseAutoencoder, build_model, values_ratio
from autoencoder.pca import fit_full_resolution, fit_on_crops
from autoencoder.data import decode_image, list_images


def tiny_conv(c=4, **extra):
    return build_model("conv", {"latent_channels": c, "width": 8, "depth": 1, **extra}).eval()


def orthonormal_basis(seed: int = 0) -> torch.Tensor:
    """A random orthonormal basis of the 192 values of an 8×8×3 block, (192, 192)."""
    q, _ = torch.linalg.qr(torch.randn(192, 192, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q.float()


@pytest.mark.parametrize("size", [(1, 1), (7, 13), (64, 64), (1000, 3)])
def test_conv_round_trip_keeps_any_size_and_is_exact_with_every_component(size):
    # A block transform keeping all 192 coefficients of an orthonormal basis is the identity:
    # whatever the size, padding, encoding, decoding and cropping back must return the input.
    model = tiny_conv(c=192)
    model.init_from_pca(torch.rand(192), orthonormal_basis(), torch.ones(192))
    x = torch.rand(2, 3, *size)
    y = ae.reconstruct(model, x)
    assert y.shape == x.shape
    torch.testing.assert_close(y, x, atol=1e-5, rtol=0)


def test_post_filter_keeps_the_size_and_the_range():
    model = tiny_conv(refine_width=4, refine_depth=1)
    torch.nn.init.normal_(model.refine[-1].weight, std=0.5)  # a post-filter that does something
    x = torch.rand(1, 3, 13, 21)
    y = ae.reconstruct(model, x)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1


@pytest.mark.parametrize("size", [(7, 13), (64, 64), (17, 8)])
def test_latent_shape_is_ceil_of_size_over_8(size):
    model = tiny_conv(c=6)
    z = model.encode(ae.pad_to_multiple(torch.rand(1, 3, *size), 8))
    assert tuple(z.shape[1:]) == model.latent_shape(*size) == (6, -(-size[0] // 8), -(-size[1] // 8))


def test_pad_then_crop_is_exact_and_pads_by_replication():
    x = torch.rand(1, 3, 7, 13)
    padded = ae.pad_to_multiple(x, 8)
    assert padded.shape[-2:] == (8, 16)
    assert torch.equal(ae.crop_to(padded, 7, 13), x)
    assert torch.equal(padded[..., 7, :13], x[..., 6, :])  # bottom row repeats the last row
    assert torch.equal(padded[..., :7, 15], x[..., :, 12])
    assert ae.pad_to_multiple(torch.rand(1, 3, 16, 8), 8).shape[-2:] == (16, 8)  # no-op when divisible


def test_conv_encode_refuses_unpadded_input():
    with pytest.raises(ValueError, match="divisible by 8"):
        tiny_conv().encode(torch.rand(1, 3, 7, 8))


@pytest.mark.parametrize("shape", [(1, 3, 32, 32), (1, 3, 64, 65), (1, 1, 64, 64)])
def test_dense_refuses_anything_but_rgb_64(shape):
    model = build_model("dense", {"latent_dim": 64, "width": 4, "depth": 1})
    with pytest.raises(ValueError):
        ae.reconstruct(model, torch.rand(*shape))


@pytest.mark.parametrize("latent_dim", [100, 0])
def test_dense_code_must_be_whole_values_per_patch(latent_dim):
    with pytest.raises(ValueError, match="multiple of 64"):
        build_model("dense", {"latent_dim": latent_dim})


@pytest.mark.parametrize("channels", [4, 32])
def test_dense_model_starts_as_block_pca_of_its_size(channels):
    # PCA-initialised, the dense model's branches add nothing yet: its code of 64 · C values must
    # reconstruct exactly what block-PCA with C coefficients per 8×8 block does (an independent
    # implementation: the conv family's block transform), and its code holds those coefficients.
    from autoencoder.pca import BlockPCA

    pca = BlockPCA(torch.rand(192), orthonormal_basis(1), torch.linspace(2, 1, 192))
    dense = build_model("dense", {"latent_dim": 64 * channels, "width": 8, "depth": 1}).eval()
    dense.init_from_pca(pca.mean, pca.basis, pca.variances)
    x = torch.rand(3, 3, 64, 64)
    expected = torch.cat([ae.reconstruct(pca.as_model(channels), image[None]) for image in x])
    torch.testing.assert_close(ae.reconstruct(dense, x), expected, atol=1e-5, rtol=0)
    code = dense.encode(x).view(3, channels, 8, 8)  # channel-major: one 8×8 map per coefficient
    torch.testing.assert_close(code, pca.as_model(channels).encode(x), atol=1e-5, rtol=0)
    flat = dense.encode(x[:1])[0].detach().numpy()
    np.testing.assert_allclose(dense.latent_maps(flat), code[0].detach().numpy(), atol=1e-5)  # what the latent view draws


def test_registry_and_ratios():
    assert set(ae.MODEL_FAMILIES) == {"conv", "dense", "codec"}
    assert isinstance(build_model("conv", {"latent_channels": 32}), ConvAutoencoder)
    codec = build_model("codec", {"latent_channels": 16, "width": 8, "prior": "factorized"})
    assert values_ratio(codec) == 12 and codec.transform.config.latent_channels == 16
    with pytest.raises(ValueError, match="prior must be"):
        build_model("codec", {"prior": "gaussian-mixture"})
    assert isinstance(build_model("dense", {}), DenseAutoencoder)
    assert values_ratio(build_model("conv", {"latent_channels": 32})) == 6  # the origin design: 64×64×3 → 8×8×32
    assert values_ratio(build_model("dense", {"latent_dim": 2048, "width": 4})) == 6
    with pytest.raises(ValueError, match="unknown model family"):
        build_model("gan", {})
    with pytest.raises(ValueError, match="unknown conv config keys"):
        build_model("conv", {"channels": 3})


@pytest.mark.parametrize("linear_kernel, refine_width", [(1, 0), (3, 0), (3, 4)])
def test_pca_initialised_conv_model_is_exactly_block_pca(image_folder, linear_kernel, refine_width):
    """The untrained model equals projecting each 8×8 block on the top-C PCA basis
    (the nonlinear branches and the post-filter start at zero)."""
    images = [decode_image(p) for p in list_images(image_folder)]
    pca = fit_on_crops(images, (1.0,), crops=64, crop=32)
    model = build_model("conv", {"latent_channels": 5, "width": 8, "depth": 1, "linear_kernel": linear_kernel,
                                 "refine_width": refine_width, "refine_depth": 1})
    model.init_from_pca(pca.mean, pca.basis, pca.variances)
    x = torch.rand(1, 3, 16, 24)
    blocks = torch.nn.functional.pixel_unshuffle(x, 8).permute(0, 2, 3, 1).reshape(-1, 192)
    v = pca.basis[:, :5]
    expected = ((blocks - pca.mean) @ v @ v.T + pca.mean).reshape(1, 2, 3, 192).permute(0, 3, 1, 2)
    expected = torch.nn.functional.pixel_shuffle(expected, 8)
    assert torch.allclose(model(x), expected, atol=1e-5)
    # All 192 components reconstruct perfectly: the basis is orthonormal.
    full = pca.as_model(192)
    assert torch.allclose(full(x), x, atol=1e-4)


def test_full_resolution_block_pca_is_the_pca_of_every_whole_block():
    """The baseline fit equals numpy's PCA of all complete 8×8 blocks (the partial border of a
    13×21 image is left out)."""
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (13, 21, 3), dtype=np.uint8), rng.integers(0, 256, (16, 8, 3), dtype=np.uint8)]
    images = [(im // 4 + np.arange(im.shape[1])[None, :, None] * 5).astype(np.uint8) for im in images]  # some structure
    blocks = np.concatenate([torch.nn.functional.pixel_unshuffle(ae.data.to_tensor(im[: im.shape[0] // 8 * 8,
                                                                                      : im.shape[1] // 8 * 8]), 8)
                             .permute(0, 2, 3, 1).reshape(-1, 192).double().numpy() for im in images])
    assert len(blocks) == 2 + 2  # 1×2 whole blocks in the first image, 2×1 in the second
    pca = fit_full_resolution(images)
    assert np.allclose(pca.mean.numpy(), blocks.mean(0), atol=1e-6)
    expected = np.sort(np.linalg.eigvalsh(np.cov(blocks, rowvar=False)))[::-1]
    assert np.allclose(pca.variances.numpy(), expected, atol=1e-5)
    assert torch.allclose(pca.basis.T @ pca.basis, torch.eye(192), atol=1e-4)


def _pca_model_and_image(image_folder, height, width):
    images = [decode_image(p) for p in list_images(image_folder)]
    pca = fit_on_crops(images, (1.0,), crops=64, crop=32)
    model = pca.as_model(8).requires_grad_(False)  # as loaded: no parameter takes a gradient
    return model, ae.data.to_tensor(images[0][:height, :width])


def _visible_error(model, z, x):
    return float(torch.mean((ae.crop_to(model.decode(z), *x.shape[-2:]) - x) ** 2))


def test_latent_refinement_finds_the_best_code_and_leaves_the_model_alone(image_folder):
    model, x = _pca_model_and_image(image_folder, 24, 40)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    best = model.encode(x)  # block-PCA's projection: the best code for this (linear) decoder
    start = best + 0.02 * torch.randn(best.shape, generator=torch.Generator().manual_seed(0))
    refined = ae.refine_latent(model, x, start, steps=40)
    assert refined.shape == best.shape
    excess = _visible_error(model, refined, x) - _visible_error(model, best, x)  # what the noise still costs
    assert -1e-7 <= excess < 0.1 * (_visible_error(model, start, x) - _visible_error(model, best, x))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_latent_refinement_scores_only_the_pixels_that_are_not_padding(image_folder):
    """At 7×13 the projection also fits the replicated padding; refinement spends the code on
    the visible pixels alone and beats it there."""
    model, x = _pca_model_and_image(image_folder, 7, 13)
    projection = model.encode(ae.pad_to_multiple(x, 8))
    refined = ae.refine_latent(model, x, projection, steps=20)
    assert _visible_error(model, refined, x) < _visible_error(model, projection, x)
    assert ae.roundtrip(model, x, bits=None, refine_steps=2).image.shape == x.shape


def test_linear_path_stays_float32_under_bfloat16_autocast():
    """Mixed-precision training must not round the linear path (it carries nearly all the signal).

    The branches start at zero, so an untrained model is its linear path alone: under bfloat16
    autocast it must give the float32 result, where bfloat16 arithmetic would be off by ~1e-3."""
    model = build_model("conv", {"latent_channels": 16, "width": 8, "depth": 1, "linear_kernel": 3}).eval()
    x = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        for p in (model.encoder_linear.weight, model.decoder_linear.weight):
            p.normal_(0, 0.1)
        full = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model(x)
    assert mixed.dtype == torch.float32
    assert torch.allclose(mixed, full, atol=1e-6)
