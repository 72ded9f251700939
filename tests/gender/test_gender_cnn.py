"""ferbias-gender weights files, the labeller built on them, and the ensemble."""

from __future__ import annotations

import numpy as np
import pytest

from ferbias.gender import create_labeller
from ferbias.gender.base import Thresholds
from ferbias.gender.cnn import DEFAULT_WEIGHTS, FerbiasGenderLabeller, save_weights, sigmoid
from ferbias.models import create_model
from synthetic import synthetic_face


@pytest.fixture
def weights(tmp_path):
    model = create_model("mini-xception", num_classes=2, seed=0)
    return save_weights(model, tmp_path / "g.safetensors", model_name="mini-xception")


def test_labeller_from_weights_gives_probabilities(weights):
    faces = np.stack([synthetic_face(seed=i) for i in range(4)])
    labeller = FerbiasGenderLabeller(weights=weights)
    p = labeller.predict_p_female(faces)
    assert p.shape == (4,) and ((p >= 0) & (p <= 1)).all()
    assert labeller.version.startswith("g.safetensors@")


def test_weights_store_fp16_and_model_options(tmp_path):
    import torch
    from safetensors.torch import load_file

    model = create_model("vgg-fer", num_classes=2, seed=0, width=4, hidden=8).eval()
    path = save_weights(
        model,
        tmp_path / "v.safetensors",
        model_name="vgg-fer",
        model_options={"width": 4, "hidden": 8},
    )
    stored = load_file(str(path))
    assert stored["features.0.0.weight"].dtype == torch.float16
    assert stored["features.0.1.num_batches_tracked"].dtype == torch.int64
    labeller = FerbiasGenderLabeller(weights=path)
    assert labeller.model_options == {"width": 4, "hidden": 8}
    assert next(labeller.model.parameters()).dtype == torch.float32
    faces = np.stack([synthetic_face(seed=i) for i in range(3)])
    with torch.inference_mode():
        x = torch.as_tensor(faces).unsqueeze(1).float() / 255
        expected = torch.softmax(model(x), 1)[:, 0].numpy()
    assert np.allclose(labeller.predict_p_female(faces), expected, atol=2e-2)


def test_training_faces_filtered_by_age():
    import pandas as pd

    from ferbias.gender.cnn import at_least
    from ferbias.gender.gold import FaceSet

    meta = pd.DataFrame({"age": pd.array([5, 13, None, 40], dtype="Int64")})
    faces = FaceSet("f", np.zeros((4, 48, 48), np.uint8), meta)
    assert at_least(faces, 13).meta["age"].tolist() == [13, pd.NA, 40]
    assert len(at_least(faces, None).meta) == 4


def test_missing_or_foreign_weights_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="ferbias gender train"):
        FerbiasGenderLabeller(weights=tmp_path / "none.safetensors")
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="classes"):
        FerbiasGenderLabeller(weights=tmp_path / "other.safetensors").predict_p_female(
            synthetic_face()[None]
        )


def test_temperature_divides_the_logit(tmp_path):
    model = create_model("mini-xception", num_classes=2, seed=0)
    plain = save_weights(model, tmp_path / "a.safetensors", model_name="mini-xception")
    warm = save_weights(
        model, tmp_path / "b.safetensors", model_name="mini-xception", extra={"temperature": "2.0"}
    )
    faces = np.stack([synthetic_face(seed=i) for i in range(4)])
    z = FerbiasGenderLabeller(weights=plain).predict_logit(faces)
    assert FerbiasGenderLabeller(weights=warm).temperature == 2.0
    assert np.allclose(FerbiasGenderLabeller(weights=warm).predict_p_female(faces), sigmoid(z / 2))


def test_ensemble_combines_its_members_through_the_combiner(weights, tmp_path):
    from ferbias.gender.ensemble import Combiner, member_features
    from ferbias.gender.thresholds import ThresholdChoice

    choice = ThresholdChoice(0.97, Thresholds(0.8, 0.9), True, "test", {"n": 1.0})
    path = Combiner((1.5, 0.5), -0.2, (choice,)).save(tmp_path / "c.json")
    faces = np.stack([synthetic_face(seed=i) for i in range(6)])
    ensemble = create_labeller("ensemble", weights=str(weights), combiner=str(path))
    p_onnx, p_cnn = ensemble.member_p_female(faces)
    expected = sigmoid(member_features(p_onnx, p_cnn) @ np.array([1.5, 0.5]) - 0.2)
    assert np.allclose(ensemble.predict_p_female(faces), expected)
    assert ensemble.combiner.thresholds() == Thresholds(0.8, 0.9)
    assert "combiner=c.json@" in ensemble.version and "onnx-cc0=" in ensemble.version
    with pytest.raises(FileNotFoundError, match="ferbias gender combine"):
        create_labeller("ensemble", weights=str(weights), combiner=str(tmp_path / "none.json"))


@pytest.mark.realdata
def test_packaged_weights_on_real_cfd_faces(data_root):
    from test_gender_onnx import CFD_FACES

    from ferbias.data.images import prepare
    from ferbias.data.sources import load_source

    manifest = load_source("cfd", data_root / "cfd_subset").manifest
    manifest = manifest[manifest["sample_id"].isin([f"cfd:{f}" for f in CFD_FACES])]
    prepared = prepare(manifest, use_cache=False, workers=1)
    truth = manifest.set_index("sample_id").loc[prepared.sample_ids, "gender"].to_numpy()
    p = FerbiasGenderLabeller(weights=DEFAULT_WEIGHTS).predict_p_female(prepared.pixels)
    assert (np.where(p >= 0.5, "female", "male") == truth).mean() >= 0.8, p
