"""Real-data tests of image preparation: faces in CFD and JAFFE; FER-2013 prepared and cached."""

from __future__ import annotations

import numpy as np
import pytest

from ferbias.data import images
from ferbias.data.sources import load_source

pytestmark = pytest.mark.realdata


@pytest.mark.parametrize(
    ("source", "folder", "count"), [("jaffe", "jaffe", 213), ("cfd", "cfd_subset", 312)]
)
def test_face_found_in_95_percent(data_root, source, folder, count):
    manifest = load_source(source, data_root / folder).manifest
    assert len(manifest) == count
    prepared = images.prepare(manifest, use_cache=False, workers=2)
    found = len(prepared.pixels) / len(manifest)
    assert found >= 0.95, prepared.failures
    assert prepared.pixels.shape[1:] == (48, 48)
    # A face crop has texture everywhere (eyes, mouth), not a flat background.
    assert np.median(prepared.pixels.reshape(len(prepared.pixels), -1).std(axis=1)) > 20


@pytest.fixture(scope="session")
def fer2013_prepared(data_root):
    """FER-2013 manifest and arrays, prepared once (from the on-disk cache after the first run)."""
    manifest = load_source("fer2013", data_root / "fer2013").manifest
    return manifest, images.prepare(manifest)


def test_fer2013_prepared_all_and_cache_is_fast(fer2013_prepared):
    manifest, prepared = fer2013_prepared
    assert prepared.pixels.shape == (35887, 48, 48)
    assert prepared.failures.empty
    np.testing.assert_array_equal(prepared.sample_ids, manifest["sample_id"].to_numpy(dtype=str))
    again = images.prepare(manifest)
    assert again.from_cache
    np.testing.assert_array_equal(again.pixels[::997], prepared.pixels[::997])
    first = manifest["path"].iloc[0]
    np.testing.assert_array_equal(prepared.pixels[0], images.load_gray(first))
