"""Fuzz the data layer (hypothesis): odd file names and image bytes never crash a load or a
prepare; every file is a manifest row, a prepared image or failure, or a counted skip with a
reason."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ferbias.data import images
from ferbias.data.decode import ImageReadError, decode_gray
from ferbias.data.sources import load_source
from synthetic import synthetic_face

# Derandomized: the same examples on every run and machine (CI stays reproducible); no database.
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SUFFIXES = [b".jpg", b".png", b".tif", b".bmp", b".webp", b".pgm", b".txt", b""]
MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "I;16", "I", "F", "CMYK"]
FORMATS = ["BMP", "JPEG", "PNG", "TIFF", "WEBP"]


def _name_ok(name: bytes) -> bool:
    return name not in (b".", b"..") and b"/" not in name and b"\0" not in name


names = st.builds(
    lambda stem, suffix: stem + suffix,
    st.binary(min_size=1, max_size=40).filter(_name_ok),
    st.sampled_from(SUFFIXES),
)


@st.composite
def image_bytes(draw) -> bytes:
    """A real image in a random mode, size and format, possibly truncated or with flipped bytes."""
    mode = draw(st.sampled_from(MODES))
    size = (draw(st.integers(1, 40)), draw(st.integers(1, 40)))
    seed = draw(st.integers(0, 2**16))
    values = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(values).convert(mode if mode not in ("I;16", "I", "F") else "L")
    image = image.convert(mode) if mode in ("I", "F") else image
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image).astype(np.uint16) * 257)
    buffer = io.BytesIO()
    fmt = "TIFF" if mode == "I" else draw(st.sampled_from(FORMATS))  # Pillow 13: no I PNG
    try:
        image.save(buffer, format=fmt)
    except (OSError, ValueError, KeyError):  # this format cannot store this mode
        image.convert("RGB").save(buffer, format=fmt)
    data = buffer.getvalue()
    damage = draw(st.sampled_from(["none", "truncate", "flip"]))
    if damage == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if damage == "flip":
        position = draw(st.integers(0, len(data) - 1))
        return data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :]
    return data


contents = st.one_of(image_bytes(), st.binary(max_size=300))


@FUZZ
@given(data=image_bytes())
def test_decode_returns_gray_uint8_or_raises_image_read_error(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.img"
        path.write_bytes(data)
        try:
            gray = decode_gray(path)
        except ImageReadError as error:
            assert str(path) in str(error)
        else:
            assert gray.dtype == np.uint8 and gray.ndim == 2 and gray.size > 0


@FUZZ
@given(files=st.lists(st.tuples(names, contents), max_size=6), links=st.lists(names, max_size=2))
def test_a_folder_of_odd_files_loads_and_prepares_with_every_file_accounted_for(files, links):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "fer"
        folder = root / "train" / "happy"
        folder.mkdir(parents=True)
        Image.fromarray(synthetic_face(48)).save(folder / "Training_0.jpg")
        written = {b"Training_0.jpg"}
        for name, data in files:
            if name not in written:
                with open(os.fsencode(folder) + b"/" + name, "wb") as handle:
                    handle.write(data)
                written.add(name)
        for name in links:  # dangling links and links to one another
            if name not in written:
                target = next(iter(written - {name}), b"nowhere")
                os.symlink(b"../happy/" + target, os.fsencode(folder) + b"/" + name)
                written.add(name)
        result = load_source("fer2013", root, gender_labels=None)
        prepared = images.prepare(result.manifest, use_cache=False, workers=1)
    visible = {name for name in written if not name.startswith(b".")}
    assert len(result.manifest) + len(result.skipped) == len(visible)
    assert result.skipped["reason"].str.len().gt(0).all()
    assert "fer2013:train/happy/Training_0.jpg" in set(prepared.sample_ids)
    assert len(prepared.sample_ids) + len(prepared.failures) == len(result.manifest)
    assert prepared.failures["reason"].str.len().gt(0).all()
    assert prepared.pixels.shape[1:] == (48, 48) and prepared.pixels.dtype == np.uint8
