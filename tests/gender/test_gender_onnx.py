"""The onnx-cc0 labeller: preprocessing, batching, registry, and real CFD faces of known gender."""

from __future__ import annotations

import numpy as np
import pytest

from ferbias.gender import create_labeller, list_labellers
from ferbias.gender.onnx_cc0 import (
    CHANNEL_MEANS,
    OnnxCC0Labeller,
    crop_and_resize,
    to_network_input,
)
from synthetic import synthetic_face

CFD_FACES = [  # neutral faces of six self-reported races, gender from the folder
    "female/CFD-AF-213-126-N.jpg",
    "female/CFD-BF-010-001-N.jpg",
    "female/CFD-IF-609-408-N.jpg",
    "female/CFD-LF-202-065-N.jpg",
    "female/CFD-WF-035-024-N.jpg",
    "male/CFD-AM-205-153-N.jpg",
    "male/CFD-BM-011-016-N.jpg",
    "male/CFD-IM-628-176-N.jpg",
    "male/CFD-LM-202-072-N.jpg",
    "male/CFD-WM-010-001-N.jpg",
]


def test_registry_lists_labellers_and_refuses_unknown():
    assert {"onnx-cc0", "ensemble"} <= set(list_labellers())
    with pytest.raises(KeyError, match="onnx-cc0"):
        create_labeller("no-such-labeller")


def test_crop_resize_and_normalisation():
    faces = np.stack([synthetic_face(seed=i) for i in range(3)])
    chips = crop_and_resize(faces, crop_fraction=0.75, shift=0.05)
    assert chips.shape == (3, 32, 32) and chips.dtype == np.uint8
    inputs = to_network_input(chips)
    assert inputs.shape == (3, 3, 32, 32) and inputs.dtype == np.float32
    expected = (chips[1, 4, 5] - CHANNEL_MEANS) / 256.0
    np.testing.assert_allclose(inputs[1, :, 4, 5], expected, rtol=1e-6)
    with pytest.raises(ValueError, match="crop_fraction"):
        crop_and_resize(faces, crop_fraction=1.0, shift=0.1)


def test_batching_does_not_change_probabilities():
    faces = np.stack([synthetic_face(seed=i) for i in range(5)])
    whole = OnnxCC0Labeller(batch_size=512).predict_p_female(faces)
    pieces = OnnxCC0Labeller(batch_size=2).predict_p_female(faces)
    np.testing.assert_allclose(whole, pieces, rtol=1e-5)
    assert ((whole >= 0) & (whole <= 1)).all()
    with pytest.raises(ValueError, match="uint8"):
        OnnxCC0Labeller().predict_p_female(faces.astype(np.float32))


@pytest.mark.realdata
def test_onnx_labeller_on_real_cfd_faces(data_root):
    from ferbias.data.images import prepare
    from ferbias.data.sources import load_source

    manifest = load_source("cfd", data_root / "cfd_subset").manifest
    manifest = manifest[manifest["sample_id"].isin([f"cfd:{f}" for f in CFD_FACES])]
    assert len(manifest) == len(CFD_FACES)
    prepared = prepare(manifest, on_no_face="report", use_cache=False, workers=1)
    assert len(prepared.failures) == 0
    truth = manifest.set_index("sample_id").loc[prepared.sample_ids, "gender"].to_numpy()
    p_female = OnnxCC0Labeller().predict_p_female(prepared.pixels)
    correct = np.where(p_female >= 0.5, "female", "male") == truth
    assert correct.sum() >= 9, p_female  # ~95% on all of CFD (README); 10 faces: allow one miss
