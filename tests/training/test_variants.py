"""Each variant's optimiser, loss (L2 / label smoothing), dropout and augmentation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ferbias.models import create_model
from ferbias.training.fit import l2_penalty, make_optimizer, train_step
from ferbias.training.variants import Recipe, get_variant, list_variants

STUDY = [
    "baseline",
    "augment",
    "dropout",
    "dropout+augment",
    "lr",
    "weight-decay",
    "l2-0.001",
    "l2-0.01",
]


def test_all_study_and_standard_variants_registered():
    assert set(STUDY) <= set(list_variants())
    assert {"standard", "standard+dropout"} <= set(list_variants())


@pytest.mark.parametrize("name", STUDY)
def test_study_defaults(name):
    recipe = get_variant(name).recipe
    assert (recipe.lr, recipe.batch_size, recipe.epochs, recipe.schedule) == (
        1e-3,
        64,
        20,
        "constant",
    )
    assert recipe.label_smoothing == 0


@pytest.mark.parametrize(
    ("name", "optimizer", "weight_decay", "l2", "dropout", "augmentation"),
    [
        ("baseline", torch.optim.Adam, 0.0, 0.0, False, None),
        ("augment", torch.optim.Adam, 0.0, 0.0, False, "study"),
        ("dropout", torch.optim.Adam, 0.0, 0.0, True, None),
        ("dropout+augment", torch.optim.Adam, 0.0, 0.0, True, "study"),
        ("lr", torch.optim.Adam, 0.0, 0.0, False, None),
        ("weight-decay", torch.optim.AdamW, 0.01, 0.0, False, None),
        ("l2-0.001", torch.optim.Adam, 0.0, 0.001, False, None),
        ("l2-0.01", torch.optim.Adam, 0.0, 0.01, False, None),
        ("standard", torch.optim.AdamW, 0.05, 0.0, False, "standard"),
        ("standard+dropout", torch.optim.AdamW, 0.05, 0.0, True, "standard"),
    ],
)
def test_variant_spec(name, optimizer, weight_decay, l2, dropout, augmentation):
    variant = get_variant(name)
    model = create_model("paper-cnn", num_classes=6, **variant.model_options)
    opt = make_optimizer(model, variant.recipe)
    assert type(opt) is optimizer
    group = opt.param_groups[0]
    assert group["weight_decay"] == weight_decay
    if variant.recipe.optimizer == "adam":
        assert group["eps"] == 1e-7  # Keras's Adam epsilon
    assert variant.recipe.l2 == l2
    assert variant.recipe.augmentation == augmentation
    has_dropout = any(isinstance(m, nn.Dropout) and m.p > 0 for m in model.modules())
    assert has_dropout == dropout


def test_coupled_weight_decay_with_adam_is_rejected():
    with pytest.raises(ValueError, match="adamw"):
        Recipe(optimizer="adam", weight_decay=0.01)


def test_l2_penalty_is_sum_of_squared_kernels():
    model = create_model("paper-cnn", num_classes=6, seed=0)
    expected = sum(
        m.weight.pow(2).sum() for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)
    )
    assert torch.allclose(l2_penalty(model), expected)
    all_params = sum(p.pow(2).sum() for p in model.parameters())
    assert l2_penalty(model) < all_params  # biases and BatchNorm are not penalised


def test_l2_adds_lambda_times_squared_kernels_to_the_loss_gradient():
    torch.manual_seed(0)
    images, targets = torch.rand(4, 1, 48, 48), torch.tensor([0, 1, 2, 3])
    grads = {}
    for l2 in (0.0, 0.01):
        model = create_model("paper-cnn", num_classes=6, seed=0)
        recipe = Recipe(lr=0.0, l2=l2)
        train_step(model, make_optimizer(model, recipe), images, targets, recipe)
        grads[l2] = {n: p.grad.clone() for n, p in model.named_parameters()}
    model = create_model("paper-cnn", num_classes=6, seed=0)
    for name, param in model.named_parameters():
        diff = grads[0.01][name] - grads[0.0][name]
        is_kernel = name.endswith("weight") and param.ndim in (2, 4)
        expected = 2 * 0.01 * param.detach() if is_kernel else torch.zeros_like(param)
        assert torch.allclose(diff, expected, atol=1e-6), name
