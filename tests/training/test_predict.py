"""predict_proba: shapes, probabilities, batch invariance, model untouched, folded BatchNorm."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ferbias.models import create_model, list_models
from ferbias.training.fit import to_float
from ferbias.training.predict import folded, folded_proba, predict_proba
from synthetic import synthetic_face


def test_probabilities_are_batch_invariant_and_mode_restored():
    pixels = np.stack([synthetic_face(seed=i) for i in range(10)])
    model = create_model("paper-cnn", num_classes=6, seed=0, dropout=True).train()
    full = predict_proba(model, pixels, batch_size=16, precision="fp32")
    split = predict_proba(model, pixels, batch_size=3, precision="fp32")
    assert full.shape == (10, 6) and full.dtype == np.float32
    assert np.allclose(full.sum(1), 1, atol=1e-5)
    assert np.allclose(full, split, atol=1e-5)  # eval mode: no dropout, running BN stats
    assert model.training


def test_empty_and_bad_inputs():
    model = create_model("mini-xception", num_classes=4)
    assert predict_proba(model, np.zeros((0, 48, 48), np.uint8), 8).shape == (0, 4)
    with pytest.raises(ValueError, match="uint8"):
        predict_proba(model, np.zeros((2, 48, 48), np.float32), 8)


@pytest.mark.parametrize("name", list_models())
def test_folded_batchnorm_gives_the_plain_models_probabilities(name):
    model = create_model(name, num_classes=6, seed=0)
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():  # non-trivial running statistics and affine terms
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.5, generator=generator)
            module.running_var.uniform_(0.5, 2.0, generator=generator)
            module.weight.data.uniform_(0.5, 1.5, generator=generator)
    pixels = np.stack([synthetic_face(seed=i) for i in range(4)])
    with torch.inference_mode():
        plain = torch.softmax(model.eval()(to_float(torch.from_numpy(pixels), None, None)), 1)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded(model).modules())
    assert np.allclose(predict_proba(model, pixels, precision="fp32"), plain.numpy(), atol=1e-5)
    bf16 = predict_proba(model, pixels, precision="bf16")
    assert bf16.dtype == np.float32 and np.allclose(bf16.sum(1), 1, atol=1e-5)
    assert np.allclose(bf16, plain.numpy(), atol=0.05)  # bfloat16 keeps 8 bits of mantissa


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_predict_batch_does_not_change_the_probabilities(precision):
    pixels = np.stack([synthetic_face(seed=i) for i in range(300)])
    net = folded(create_model("paper-cnn", num_classes=6, seed=0))
    default = folded_proba(net, pixels, precision=precision)
    for batch_size in (64, 256):
        np.testing.assert_allclose(
            folded_proba(net, pixels, batch_size, precision=precision), default, rtol=0, atol=1e-6
        )
