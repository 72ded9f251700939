"""Model registry: the study's CNN layer by layer, and every model's output shape."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ferbias.models import count_parameters, create_model, forward_mflops, list_models


def test_paper_cnn_exact_parameter_count():
    assert count_parameters(create_model("paper-cnn", num_classes=6)) == 980_422
    # dropout adds no parameters
    assert count_parameters(create_model("paper-cnn", num_classes=6, dropout=True)) == 980_422


def test_paper_cnn_layer_shapes():
    model = create_model("paper-cnn", num_classes=6).eval()
    x = torch.zeros(2, 1, 48, 48)
    shapes = []
    for block in model.features:
        x = block(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(32, 24, 24), (64, 12, 12), (128, 6, 6), (256, 3, 3)]
    convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    dense = [m for m in model.classifier if isinstance(m, nn.Linear)]
    assert [(d.in_features, d.out_features) for d in dense] == [(2304, 256), (256, 6)]
    assert model(torch.zeros(2, 1, 48, 48)).shape == (2, 6)


def test_paper_cnn_study_dropout():
    def rates(model):
        return [m.p for m in model.modules() if isinstance(m, nn.Dropout) and m.p > 0]

    assert rates(create_model("paper-cnn", num_classes=6, dropout=True)) == [
        0.10,
        0.15,
        0.20,
        0.25,
        0.5,
    ]
    assert rates(create_model("paper-cnn", num_classes=6)) == []


@pytest.mark.parametrize("name", list_models())
def test_every_model_follows_the_emotion_set(name):
    model = create_model(name, num_classes=4, seed=0, **({"width": 8} if "resnet" in name else {}))
    assert model.eval()(torch.rand(3, 1, 48, 48)).shape == (3, 4)


def test_mini_xception_is_small_and_costs_are_counted():
    model = create_model("mini-xception", num_classes=7)
    assert 50_000 < count_parameters(model) < 65_000
    assert forward_mflops(create_model("paper-cnn", num_classes=6)) == pytest.approx(66.2, abs=0.1)


def test_seeded_models_are_reproducible():
    a = create_model("paper-cnn", num_classes=6, seed=1).state_dict()
    b = create_model("paper-cnn", num_classes=6, seed=1).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_unknown_model_lists_valid_names():
    with pytest.raises(KeyError, match="paper-cnn"):
        create_model("alexnet", num_classes=6)
