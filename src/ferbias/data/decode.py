"""Decode one image file to gray or RGB uint8, whatever its bit depth, palette or transparency.

Pillow's own ``convert("L")`` clips 16-bit values at 255 (a 16-bit PNG becomes almost all
white) and drops transparency (the colour under a transparent pixel is whatever the encoder left
there). ``decode_gray`` and ``decode_rgb`` instead:

- rescale high bit depths to 0-255: 16-bit files (PNG, TIFF, PGM/PPM) from 0-65535, TIFF
  integers from their ``BitsPerSample``, 32-bit float TIFFs from 0-1;
- flatten transparency (alpha channels, and palettes with a transparent entry) onto a white
  background, ``ALPHA_BACKGROUND``;
- map palette and colour images to luminance (ITU-R 601-2, Pillow's ``L``) for gray, and gray
  images to three equal channels for RGB;
- apply the EXIF orientation tag, so phone photos stand upright for face detection.

Anything else (truncated or corrupt data, negative or out-of-range values, a mode without a gray
conversion) raises ``ImageReadError`` naming the file and the cause.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageOps

ALPHA_BACKGROUND = 255  # transparent pixels become white, as image viewers show them
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "F"}) | SIXTEEN_BIT_MODES
TIFF_BITS_PER_SAMPLE = 258

UNREADABLE = "cannot decode image {path!r}: {error}; expected a readable JPEG, PNG, TIFF or BMP"
NEGATIVE_VALUES = "{bits}-bit image has negative values (min {low})"
FLOAT_RANGE = "32-bit float image has values in [{low:g}, {high:g}]; expected [0, 1]"


class ImageReadError(OSError):
    """An image file (or CSV row) that cannot be decoded; the message names the file."""


def decode_gray(path: str | os.PathLike) -> np.ndarray:
    """``path`` as a gray uint8 H x W array (see the module docstring for the rules)."""
    return _decode(path, to_gray)


def decode_rgb(path: str | os.PathLike) -> np.ndarray:
    """``path`` as an RGB uint8 H x W x 3 array (see the module docstring for the rules)."""
    return _decode(path, to_rgb)


def _decode(path: str | os.PathLike, convert) -> np.ndarray:
    text = os.fspath(path)
    try:
        with Image.open(text) as image:
            image.load()
            return convert(ImageOps.exif_transpose(image), tiff_bits=_tiff_bits(image))
    except Exception as error:  # Pillow raises many types for corrupt data; all mean "unreadable"
        raise ImageReadError(UNREADABLE.format(path=text, error=error)) from error


def to_gray(image: Image.Image, *, tiff_bits: int | None = None) -> np.ndarray:
    """A decoded Pillow image as gray uint8; ``tiff_bits``: a TIFF's BitsPerSample, if any."""
    if image.mode in SIXTEEN_BIT_MODES:
        return _rescale(np.asarray(image), bits=16)
    if image.mode == "I":  # 32-bit integers: Pillow's container for 16-bit PGM/PPM and TIFFs
        return _rescale(np.asarray(image), bits=tiff_bits or 16)
    if image.mode == "F":
        return _from_unit_floats(np.asarray(image))
    image = _explicit_alpha(image)
    if image.mode in ALPHA_MODES:
        return _flatten(image.convert("RGBA"))
    return np.asarray(image.convert("L"), dtype=np.uint8)


def to_rgb(image: Image.Image, *, tiff_bits: int | None = None) -> np.ndarray:
    """A decoded Pillow image as RGB uint8; gray images get three equal channels."""
    image = _explicit_alpha(image)
    if image.mode in GRAY_MODES:
        return np.repeat(to_gray(image, tiff_bits=tiff_bits)[:, :, None], 3, axis=2)
    if image.mode in ALPHA_MODES:
        return _flatten(image.convert("RGBA"), channels="RGB")
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _explicit_alpha(image: Image.Image) -> Image.Image:
    """Palettes become RGB (or RGBA with a transparent entry); a transparent colour of an L or RGB
    image (PNG tRNS) becomes an alpha channel."""
    if image.mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("L", "RGB") and "transparency" in image.info:
        return image.convert("LA" if image.mode == "L" else "RGBA")
    return image


def _tiff_bits(image: Image.Image) -> int | None:
    """The largest BitsPerSample of a TIFF, else None."""
    tags = getattr(image, "tag_v2", None)
    bits = tags.get(TIFF_BITS_PER_SAMPLE) if tags is not None else None
    if bits is None:
        return None
    return int(max(bits)) if isinstance(bits, tuple) else int(bits)


def _rescale(values: np.ndarray, *, bits: int) -> np.ndarray:
    """Integers of ``bits`` bits mapped linearly from 0..2**bits-1 onto 0..255 (rounded)."""
    values = values.astype(np.float64)
    if values.size and values.min() < 0:
        raise ValueError(NEGATIVE_VALUES.format(bits=bits, low=int(values.min())))
    top = float(2**bits - 1)
    return np.rint(np.clip(values, 0, top) * (255.0 / top)).astype(np.uint8)


def _from_unit_floats(values: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] onto 0..255; anything else is an error (its scale is unknown)."""
    values = values.astype(np.float64)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if not (np.isfinite(low) and np.isfinite(high) and low >= 0.0 and high <= 1.0):
        raise ValueError(FLOAT_RANGE.format(low=low, high=high))
    return np.rint(values * 255.0).astype(np.uint8)


def _flatten(rgba: Image.Image, *, channels: str = "L") -> np.ndarray:
    """``rgba`` alpha-composited onto ``ALPHA_BACKGROUND``, as gray ("L") or "RGB"."""
    colour = np.asarray(rgba.convert("RGB").convert(channels), dtype=np.float64)
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64) / 255.0
    if colour.ndim == 3:
        alpha = alpha[:, :, None]
    return np.rint(colour * alpha + ALPHA_BACKGROUND * (1.0 - alpha)).astype(np.uint8)
