"""Real-data tests of face geometry: every face of a photo, and crops from a given box."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferbias.data import faces, images
from ferbias.data.schema import make_manifest

pytestmark = pytest.mark.realdata

FEMALE = "cfd_subset/female/CFD-AF-202-122-N.jpg"
MALE_FOLDER = "cfd_subset/male"


def test_all_faces_of_a_photo_largest_first(data_root):
    # Central 320 px of two CFD photos (the face fills ~80%), the second shrunk to 70%.
    one = images.load_gray(data_root / FEMALE)[120:440, 100:420]
    other = images.load_gray(sorted((data_root / MALE_FOLDER).iterdir())[0])[120:440, 100:420]
    small = faces.resize_square(other, 224)
    pair = np.full((320, 320 + 224), 128, np.uint8)
    pair[:, :320] = one
    pair[48:272, 320:] = small
    found = faces.detect_faces(pair)
    assert len(found) == 2
    assert found[0].side > found[1].side
    assert found[0].centre_x < 320 < found[1].centre_x  # the larger face is the left photo
    assert faces.detect_face(pair) == found[0]


def test_box_of_a_detected_face_reproduces_its_crop(data_root, tmp_path):
    """A manifest row carrying the detector's box gets (nearly) the detected crop, without
    detection; the eye angle is then measured at full resolution rather than at 256 px."""
    path = data_root / FEMALE
    gray = images.load_gray(path)
    face = faces.detect_face(gray)
    detected = faces.crop_face(gray, face, 48)
    box = face.box()
    row = {"sample_id": images.face_sample_id("cfd", FEMALE, 0, box), "source": "cfd"}
    row |= {"path": str(path), "face_index": 0, **dict(zip(images.BOX_COLUMNS, box, strict=True))}
    prepared = images.prepare(make_manifest([row]), use_cache=False)
    assert prepared.failures.empty
    from_box = prepared.pixels[0].astype(float)
    assert abs(faces.face_from_box(gray, box).angle - face.angle) < 2.0
    assert np.mean(np.abs(from_box - detected)) < 4.0
    assert pd.Series(prepared.sample_ids).str.fullmatch(r"cfd:.*#0@\d+,\d+,\d+,\d+").all()
