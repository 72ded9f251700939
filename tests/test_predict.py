"""predict_proba: shapes, probabilities, batch invariance, train mode restored."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import synthetic_face
from ferbias.models import create_model
from ferbias.predict import predict_proba


def test_probabilities_are_batch_invariant_and_mode_restored():
    pixels = np.stack([synthetic_face(seed=i) for i in range(10)])
    model = create_model("paper-cnn", num_classes=6, seed=0, dropout=True).train()
    full = predict_proba(model, pixels, batch_size=16)
    split = predict_proba(model, pixels, batch_size=3)
    assert full.shape == (10, 6) and full.dtype == np.float32
    assert np.allclose(full.sum(1), 1, atol=1e-5)
    assert np.allclose(full, split, atol=1e-5)  # eval mode: no dropout, running BN stats
    assert model.training


def test_empty_and_bad_inputs():
    model = create_model("mini-xception", num_classes=4)
    assert predict_proba(model, np.zeros((0, 48, 48), np.uint8), 8).shape == (0, 4)
    with pytest.raises(ValueError, match="uint8"):
        predict_proba(model, np.zeros((2, 48, 48), np.float32), 8)
