import io

import numpy as np
import pytest
import torch
from PIL import Image

from autoencoder import data
from autoencoder.data import ImageError, decode_image


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_rgba_is_composited_on_white():
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    out = decode_image(encode(img, "PNG"))
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    assert (out == 255).all()


def test_palette_with_transparency_and_plain_palette():
    p = Image.new("P", (5, 3), 1)
    p.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    assert (decode_image(encode(p, "PNG"))[0, 0] == [10, 200, 30]).all()
    p.info["transparency"] = 1
    assert (decode_image(encode(p, "PNG", transparency=1))[0, 0] == [255, 255, 255]).all()


def test_sixteen_bit_grayscale_is_scaled_not_clipped():
    a = np.full((6, 6), 32768, dtype=np.uint16)
    out = decode_image(encode(Image.fromarray(a), "PNG"))
    assert out.shape == (6, 6, 3)
    assert abs(int(out[0, 0, 0]) - 128) <= 1  # half of 65535 → half of 255, not 255


def test_cmyk_grayscale_and_bw():
    assert decode_image(encode(Image.new("CMYK", (3, 3), (0, 0, 0, 0)), "JPEG"))[1, 1].min() > 240  # white
    assert (decode_image(encode(Image.new("L", (3, 3), 77), "PNG")) == 77).all()
    assert decode_image(encode(Image.new("1", (3, 3), 1), "BMP")).shape == (3, 3, 3)


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° on display
    out = decode_image(encode(img, "JPEG", exif=exif))
    assert out.shape[:2] == (40, 20)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"])
def test_accepted_formats(fmt):
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (9, 11, 3), dtype=np.uint8))
    assert decode_image(encode(img, fmt)).shape == (9, 11, 3)


def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 255, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    assert decode_image(buf.getvalue())[0, 0, 0] > 200


@pytest.mark.parametrize("payload, message", [
    (b"this is not an image", "not an image"),
    (b"", r"the file is empty \(0 bytes\)"),
])
def test_not_an_image(payload, message):
    with pytest.raises(ImageError, match=message):
        decode_image(payload)


def test_truncated_file():
    full = encode(Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)), "PNG")
    with pytest.raises(ImageError, match="damaged or truncated"):
        decode_image(full[: len(full) // 2])


def test_decompression_bomb_is_refused_before_decoding():
    bomb = encode(Image.new("L", (10000, 6000)), "PNG")  # 60 MP of zeros: a few kB on disk
    assert len(bomb) < 200_000
    with pytest.raises(ImageError, match="megapixels"):
        decode_image(bomb)


@pytest.mark.parametrize("size, message", [((1, 1), "at least"), ((1, 50), "at least"), ((3000, 40), "wider than")])
def test_degenerate_sizes(size, message):
    with pytest.raises(ImageError, match=message):
        decode_image(encode(Image.new("RGB", size), "PNG"))


def test_limit_size_and_center_square():
    img = np.zeros((300, 1200, 3), np.uint8)
    small, changed = data.limit_size(img, 600)
    assert changed and small.shape == (150, 600, 3) and small.flags.writeable  # torch wraps it without a copy
    same, changed = data.limit_size(img, 1200)
    assert not changed and same is img
    square = data.center_square(img, 64)
    assert square.shape == (64, 64, 3) and square.flags.writeable


def test_tensor_conversions_round_trip():
    img = np.random.default_rng(2).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    x = data.to_tensor(img)
    assert x.shape == (1, 3, 5, 7) and float(x.max()) <= 1
    assert np.array_equal(data.to_uint8(x), img)


def test_random_crops_are_seeded_and_sized():
    images = [np.random.default_rng(i).integers(0, 256, (100, 120, 3), dtype=np.uint8) for i in range(3)]
    a = data.RandomCrops(images, 32, (1.0, 0.5), seed=7).sample(5)
    b = data.RandomCrops(images, 32, (1.0, 0.5), seed=7).sample(5)
    c = data.RandomCrops(images, 32, (1.0, 0.5), seed=8).sample(5)
    assert a.shape == (5, 3, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="no image is at least"):
        data.RandomCrops(images, 500, (1.0,), seed=0)


def test_tiles_cover_the_image_row_major():
    img = np.arange(128 * 192 * 3, dtype=np.uint32).reshape(128, 192, 3).astype(np.uint8)
    t = data.tiles(img, 64)
    assert t.shape == (6, 3, 64, 64)
    assert torch.equal(t[1], data.to_tensor(img)[0, :, 0:64, 64:128])


def test_split_train_val_is_deterministic():
    files = [f"{i:03d}" for i in range(25)]
    train, val = data.split_train_val(files, 12)
    assert val == ["011", "023"] and len(train) == 23 and not set(train) & set(val)
    assert data.split_train_val(files, 0) == (files, [])


def test_gallery_loads_without_network():
    names = data.gallery_names()
    assert len(names) >= 4
    for name in names:
        img = data.load_gallery_image(name)
        assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8 and min(img.shape[:2]) >= 256
    with pytest.raises(KeyError):
        data.load_gallery_image("nope")


def test_a_read_only_picture_becomes_a_tensor_without_a_warning():
    import warnings

    picture = np.asarray(Image.new("RGB", (6, 4), (255, 0, 51)))  # read-only, as PIL hands it out
    assert not picture.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns on a view of a read-only array
        x = data.to_tensor(picture)
    assert x.shape == (1, 3, 4, 6) and torch.allclose(x[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.2]))
