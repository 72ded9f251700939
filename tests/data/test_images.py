"""Unit tests for ferbias.data.images: decoding, failures, resizing, the on-disk cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ferbias.data import faces, images
from ferbias.data.schema import make_manifest
from ferbias.data.sources import load_source
from synthetic import synthetic_face


def _manifest(paths, source="manifest") -> pd.DataFrame:
    rows = [
        {"sample_id": f"{source}:{i}", "source": source, "path": str(p)}
        for i, p in enumerate(paths)
    ]
    return make_manifest(rows)


def _write(path, array, **save) -> str:
    Image.fromarray(array).save(path, **save)
    return str(path)


def test_load_gray_reads_gray_rgb_and_palette_tiff(tmp_path):
    face = synthetic_face(64)
    rgb = np.stack([face, face // 2, 255 - face], axis=-1)
    gray_png = _write(tmp_path / "gray.png", face)
    rgb_jpg = _write(tmp_path / "rgb.jpg", rgb, quality=95)
    palette = tmp_path / "palette.tiff"
    Image.fromarray(face).convert("P").save(palette)
    assert Image.open(palette).mode == "P"
    np.testing.assert_array_equal(images.load_gray(gray_png), face)
    decoded = images.load_gray(rgb_jpg)
    assert decoded.shape == (64, 64) and decoded.dtype == np.uint8
    expected = np.asarray(Image.open(rgb_jpg).convert("L"))
    np.testing.assert_array_equal(decoded, expected)
    np.testing.assert_array_equal(
        images.load_gray(palette), np.asarray(Image.open(palette).convert("L"))
    )


def test_truncated_jpeg_raises_naming_the_file_and_is_reported(tmp_path):
    good = _write(tmp_path / "good.jpg", synthetic_face(128), quality=95)
    data = Path(good).read_bytes()
    bad = tmp_path / "truncated.jpg"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(images.ImageReadError, match=r"truncated\.jpg"):
        images.load_gray(bad)
    prepared = images.prepare(_manifest([good, bad]), face_crop=False, use_cache=False)
    assert prepared.pixels.shape == (1, 48, 48)
    assert list(prepared.sample_ids) == ["manifest:0"]
    assert prepared.failures["sample_id"].tolist() == ["manifest:1"]
    assert "cannot decode" in prepared.failures["reason"].iloc[0]


def test_csv_references_and_bad_row(tmp_path):
    first = synthetic_face(48, seed=1)
    csv = tmp_path / "fer2013.csv"
    pd.DataFrame(
        {
            "emotion": [0, 3],
            "pixels": [" ".join(map(str, first.ravel())), "1 2 3"],
            "Usage": ["Training", "PublicTest"],
        }
    ).to_csv(csv, index=False)
    np.testing.assert_array_equal(images.load_gray(f"{csv}::0"), first)
    with pytest.raises(
        images.ImageReadError, match=r"fer2013\.csv::1': 3 values in \[1, 3\]; expected .*2304"
    ):
        images.load_gray(f"{csv}::1")


def test_prepare_resizes_tight_crops(tmp_path):
    big = _write(tmp_path / "big.png", synthetic_face(96))
    small = _write(tmp_path / "small.png", synthetic_face(32))
    prepared = images.prepare(_manifest([big, small]), face_crop=False, use_cache=False)
    assert prepared.pixels.shape == (2, 48, 48) and prepared.pixels.dtype == np.uint8
    assert prepared.failures.empty
    resized = images.prepare(_manifest([big]), size=24, face_crop=False, use_cache=False)
    assert resized.pixels.shape == (1, 24, 24)


def test_no_face_is_reported_or_centre_cropped(tmp_path):
    blank = _write(tmp_path / "blank.png", np.full((120, 160), 128, np.uint8))
    reported = images.prepare(_manifest([blank]), face_crop=True, use_cache=False)
    assert len(reported.pixels) == 0
    assert reported.failures["reason"].tolist() == [images.NO_FACE]
    centred = images.prepare(
        _manifest([blank]), face_crop=True, on_no_face="center", use_cache=False
    )
    assert centred.pixels.shape == (1, 48, 48)
    assert centred.failures["reason"].tolist() == [images.NO_FACE_CENTRE]
    with pytest.raises(ValueError, match="on_no_face"):
        images.prepare(_manifest([blank]), on_no_face="drop")


def test_cache_hit_is_identical(tmp_path):
    paths = [_write(tmp_path / f"{i}.png", synthetic_face(64, seed=i)) for i in range(20)]
    manifest = _manifest(paths)
    cache = tmp_path / "cache"
    cold = images.prepare(manifest, face_crop=False, cache_dir=cache)
    hot = images.prepare(manifest, face_crop=False, cache_dir=cache)
    assert not cold.from_cache and hot.from_cache
    assert hot.cache_path == cold.cache_path and hot.cache_path.suffix == ".npz"
    np.testing.assert_array_equal(hot.pixels, cold.pixels)
    np.testing.assert_array_equal(hot.sample_ids, cold.sample_ids)
    with np.load(hot.cache_path, allow_pickle=False) as data:  # readable without pickle
        assert data["pixels"].shape == (20, 48, 48)


def test_cache_key_changes_with_settings_and_files(tmp_path):
    path = _write(tmp_path / "a.png", synthetic_face(64))
    manifest = _manifest([path])
    flags = np.array([False])
    key = images.cache_key(manifest, flags, 48, "report")
    assert key == images.cache_key(manifest, flags, 48, "report")
    assert key != images.cache_key(manifest, flags, 32, "report")
    assert key != images.cache_key(manifest, flags, 48, "center")
    assert key != images.cache_key(manifest, np.array([True]), 48, "report")
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert key != images.cache_key(manifest, flags, 48, "report")


def test_face_crop_default_follows_the_source(tmp_path):
    manifest = _manifest([_write(tmp_path / "a.png", synthetic_face(64))], source="ckplus48")
    assert images.prepare(manifest, use_cache=False).failures.empty  # tight crop: resized only
    photos = pd.concat([manifest, _manifest([manifest["path"][0]], source="my-photos")])
    flags = images._face_crop_flags(photos.reset_index(drop=True), None)
    assert flags.tolist() == [False, True]


def test_cache_root_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FERBIAS_CACHE", str(tmp_path / "c"))
    assert images.cache_root() == tmp_path / "c"


def test_worker_pool_matches_serial(tmp_path):
    paths = [
        _write(tmp_path / f"{i}.png", synthetic_face(56, seed=i))
        for i in range(images.PARALLEL_MIN_ROWS)
    ]
    manifest = _manifest(paths)
    serial = images.prepare(manifest, face_crop=False, use_cache=False, workers=1)
    pooled = images.prepare(manifest, face_crop=False, use_cache=False, workers=2)
    np.testing.assert_array_equal(serial.pixels, pooled.pixels)
    np.testing.assert_array_equal(serial.sample_ids, pooled.sample_ids)


def _boxed(paths_and_boxes, source="photos") -> pd.DataFrame:
    rows = []
    for i, (path, box) in enumerate(paths_and_boxes):
        row = {"sample_id": images.face_sample_id(source, Path(path).name, i, box or (0, 0, 0, 0))}
        row |= {"source": source, "path": str(path), "face_index": i}
        row |= dict(zip(images.BOX_COLUMNS, box or (None,) * 4, strict=True))
        rows.append(row)
    return make_manifest(rows)


def _two_tone(tmp_path) -> str:
    """A 200 x 400 photo: left half dark (30), right half bright (220)."""
    photo = np.full((200, 400), 220, np.uint8)
    photo[:, :200] = 30
    return _write(tmp_path / "two.png", photo)


def test_face_sample_id_format():
    box = (10.4, 20.6, 99.5, 100.0)
    assert images.face_sample_id("expw", "a/b.jpg", 2, box) == "expw:a/b.jpg#2@10,21,100,100"


def test_boxes_are_cropped_from_not_detected(tmp_path):
    photo = _two_tone(tmp_path)
    manifest = _boxed([(photo, (50, 50, 60, 60)), (photo, (260, 60, 60, 60)), (photo, None)])
    assert manifest["face_x"].dtype == "Float64" and manifest["face_index"].dtype == "Int64"
    prepared = images.prepare(manifest, use_cache=False)
    # The two boxed faces of one photo are two rows; the row without a box is detected (none).
    assert list(prepared.sample_ids) == list(manifest["sample_id"][:2])
    assert prepared.failures["reason"].tolist() == [images.NO_FACE]
    dark, bright = prepared.pixels
    assert dark.max() <= 31 and bright.min() >= 219


def test_bad_and_partial_boxes(tmp_path):
    photo = _two_tone(tmp_path)
    prepared = images.prepare(_boxed([(photo, (500, 10, 40, 40))]), use_cache=False)
    assert len(prepared.pixels) == 0
    reason = prepared.failures["reason"].iloc[0]
    assert "two.png" in reason and "face box" in reason and "400x200" in reason
    partial = _boxed([(photo, (10, 10, 40, 40))]).drop(columns=["face_h"])
    with pytest.raises(ValueError, match="face_h"):
        images.prepare(partial, use_cache=False)


def test_cache_key_covers_the_box(tmp_path):
    photo = _two_tone(tmp_path)
    flags = np.array([True])
    first = images.cache_key(_boxed([(photo, (50, 50, 60, 60))]), flags, 48, "report")
    moved = _boxed([(photo, (50, 50, 60, 60))]).assign(face_x=51.0)
    assert first != images.cache_key(moved, flags, 48, "report")
    no_box = _manifest([photo])
    plain = images.cache_key(no_box, flags, 48, "report")
    assert plain == images.cache_key(
        no_box.assign(face_x=pd.NA, face_y=pd.NA, face_w=pd.NA, face_h=pd.NA), flags, 48, "report"
    )
    assert plain != images.cache_key(no_box, flags, 48, "report", color="rgb")
    assert plain != images.cache_key(no_box, flags, 48, "report", crop_scale=1.6)


def test_rgb_crops_at_any_size(tmp_path):
    photo = np.zeros((120, 240, 3), np.uint8)
    photo[:, :120] = (200, 20, 10)  # red left half
    photo[:, 120:] = (10, 20, 200)  # blue right half
    path = _write(tmp_path / "colour.png", photo)
    manifest = _boxed([(path, (30, 30, 50, 50)), (path, (150, 30, 50, 50))])
    prepared = images.prepare(manifest, size=112, color="rgb", use_cache=False)
    assert prepared.pixels.shape == (2, 112, 112, 3)
    red, blue = prepared.pixels.reshape(2, -1, 3).mean(axis=1)
    np.testing.assert_allclose(red, (200, 20, 10), atol=1)
    np.testing.assert_allclose(blue, (10, 20, 200), atol=1)
    gray = images.prepare(_manifest([path]), size=32, color="rgb", face_crop=False, use_cache=False)
    assert gray.pixels.shape == (1, 32, 32, 3)
    with pytest.raises(ValueError, match="color"):
        images.prepare(manifest, color="bgr")


def test_crop_scale_widens_the_crop(tmp_path):
    photo = np.full((300, 300), 200, np.uint8)
    photo[100:200, 100:200] = 20  # a dark 100 px square on light ground
    path = _write(tmp_path / "square.png", photo)
    box = (100, 100, 100, 100)
    tight = images.prepare(_boxed([(path, box)]), crop_scale=1.0, use_cache=False).pixels[0]
    wide = images.prepare(_boxed([(path, box)]), crop_scale=2.0, use_cache=False).pixels[0]
    assert (tight < 100).mean() > 0.85  # shifted up 8%: mostly the square
    assert 0.2 < (wide < 100).mean() < 0.3  # a quarter of a crop twice the side


def test_a_user_manifest_carries_face_boxes_to_prepare(tmp_path):
    photo = _two_tone(tmp_path)
    table = pd.DataFrame(
        {
            "path": ["two.png", "two.png", "two.png"],
            "face_index": ["0", "1", ""],
            "face_x": ["50", "260.4", ""],
            "face_y": ["50", "60", ""],
            "face_w": ["60", "60", ""],
            "face_h": ["60", "60", ""],
        }
    )
    table.to_csv(tmp_path / "boxes.csv", index=False)
    manifest = load_source("manifest", tmp_path / "boxes.csv").manifest
    assert manifest["sample_id"].tolist() == [
        "manifest:two.png#0@50,50,60,60",
        "manifest:two.png#1@260,60,60,60",
        "manifest:two.png",
    ]
    assert manifest["face_index"].tolist()[:2] == [0, 1] and manifest["path"][0] == photo
    prepared = images.prepare(manifest, use_cache=False)
    assert len(prepared.pixels) == 2 and prepared.failures["reason"].tolist() == [images.NO_FACE]
    table.loc[0, "face_w"] = "wide"
    table.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"bad\.csv, row 0: face_w 'wide'"):
        load_source("manifest", tmp_path / "bad.csv")


@pytest.mark.parametrize("shape", [(1, 5000), (2, 3000), (4000, 3)])
def test_detection_survives_extreme_aspect_ratios(shape):
    assert faces.detect_faces(np.full(shape, 128, dtype=np.uint8)) == []
