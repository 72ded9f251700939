"""ferbias.data.decode on files written here: 16-bit, palette, alpha, float, EXIF, bad bytes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from ferbias.data import images
from ferbias.data.decode import ALPHA_BACKGROUND, ImageReadError, decode_gray
from ferbias.data.schema import make_manifest
from synthetic import synthetic_face


def _face16() -> np.ndarray:
    """A 16-bit face using the whole 0-65535 range (8-bit face x 257)."""
    return synthetic_face(48).astype(np.uint16) * 257


@pytest.mark.parametrize("suffix", [".png", ".tiff"])
def test_sixteen_bit_gray_is_rescaled_not_clipped(tmp_path, suffix):
    face = synthetic_face(48)
    path = tmp_path / f"face16{suffix}"
    Image.fromarray(_face16()).save(path)
    assert Image.open(path).mode.startswith("I;16")
    decoded = decode_gray(path)
    np.testing.assert_array_equal(decoded, face)
    assert (decoded == 255).mean() < 0.01  # Pillow's convert("L") made 99% of it white
    assert (np.asarray(Image.open(path).convert("L")) == 255).mean() > 0.9


def test_sixteen_bit_png_written_by_opencv_and_pgm(tmp_path):
    face = synthetic_face(48)
    png = tmp_path / "cv16.png"
    cv2.imwrite(str(png), _face16())
    np.testing.assert_array_equal(decode_gray(png), face)
    pgm = tmp_path / "face12.pgm"  # a 12-bit PGM (maxval 4095): Pillow widens it to 16 bits
    values = np.rint(face.astype(float) * 4095 / 255).astype(">u2")
    pgm.write_bytes(b"P5\n48 48\n4095\n" + values.tobytes())
    assert np.abs(decode_gray(pgm).astype(int) - face).max() <= 1


def test_sixteen_bit_rgb_png_matches_its_eight_bit_gray(tmp_path):
    face = synthetic_face(48)
    rgb8 = np.stack([face, face // 2, 255 - face], axis=-1)
    path = tmp_path / "rgb16.png"
    cv2.imwrite(str(path), (rgb8[..., ::-1].astype(np.uint16) * 257))  # OpenCV writes BGR
    expected = np.asarray(Image.fromarray(rgb8).convert("L"))
    np.testing.assert_array_equal(decode_gray(path), expected)


def test_palette_images_with_and_without_transparency(tmp_path):
    face = synthetic_face(48)
    plain = tmp_path / "palette.png"
    Image.fromarray(face).convert("P").save(plain)
    assert Image.open(plain).mode == "P"
    np.testing.assert_array_equal(decode_gray(plain), np.asarray(Image.open(plain).convert("L")))
    colours = np.zeros((4, 4), np.uint8)
    colours[:, 2:] = 1  # right half: palette entry 1, declared transparent
    image = Image.fromarray(colours, mode="P")
    image.putpalette([40, 40, 40, 200, 10, 10] + [0] * 762)
    transparent = tmp_path / "transparent.png"
    image.save(transparent, transparency=1)
    decoded = decode_gray(transparent)
    assert (decoded[:, :2] == 40).all()
    assert (decoded[:, 2:] == ALPHA_BACKGROUND).all()


def test_alpha_is_composited_not_dropped(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = np.random.default_rng(0).integers(0, 256, (8, 8, 3))  # garbage under alpha 0
    rgba[:4, :, :3], rgba[:4, :, 3] = 100, 255  # top: opaque gray 100
    rgba[4:6, :, :3], rgba[4:6, :, 3] = 0, 128  # middle: half-transparent black
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    decoded = decode_gray(path)
    assert (decoded[:4] == 100).all()
    assert (decoded[4:6] == round(ALPHA_BACKGROUND * (1 - 128 / 255))).all()
    assert (decoded[6:] == ALPHA_BACKGROUND).all()
    la = tmp_path / "la.png"
    Image.fromarray(rgba[..., [0, 3]], mode="LA").save(la)
    np.testing.assert_array_equal(decode_gray(la)[:4], 100)
    assert (decode_gray(la)[6:] == ALPHA_BACKGROUND).all()


def test_float_tiff_in_unit_range_and_out_of_it(tmp_path):
    face = synthetic_face(48)
    unit = tmp_path / "unit.tiff"
    Image.fromarray(face.astype(np.float32) / 255).save(unit)
    assert Image.open(unit).mode == "F"
    np.testing.assert_array_equal(decode_gray(unit), face)
    wide = tmp_path / "wide.tiff"
    Image.fromarray(face.astype(np.float32) * 10).save(wide)
    with pytest.raises(ImageReadError, match=r"wide\.tiff.*expected \[0, 1\]"):
        decode_gray(wide)


def test_exif_orientation_is_applied(tmp_path):
    face = np.zeros((20, 40), np.uint8)
    face[:, :20] = 200  # bright left half
    image = Image.fromarray(face)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=100)
    decoded = decode_gray(path)
    assert decoded.shape == (40, 20)
    assert decoded[:18].mean() > 150 and decoded[22:].mean() < 50  # bright half now on top


def test_garbage_bytes_raise_naming_the_file(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    with pytest.raises(ImageReadError, match=r"noise\.png"):
        decode_gray(path)


def test_prepare_keeps_16_bit_and_palette_files_as_good_images(tmp_path):
    face = synthetic_face(48)
    sixteen, palette = tmp_path / "a16.png", tmp_path / "p.png"
    Image.fromarray(_face16()).save(sixteen)
    Image.fromarray(face).convert("P").save(palette)
    rows = [
        {"sample_id": f"manifest:{p.name}", "source": "manifest", "path": str(p)}
        for p in (sixteen, palette)
    ]
    prepared = images.prepare(make_manifest(rows), face_crop=False, use_cache=False)
    assert prepared.failures.empty
    np.testing.assert_array_equal(prepared.pixels[0], face)
