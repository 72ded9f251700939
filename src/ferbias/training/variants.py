"""The study's model variants as plain data: name -> model options + training recipe.

Study defaults (all study variants): Adam (Keras defaults: lr 1e-3, betas 0.9/0.999, eps 1e-7),
batch 64, 20 epochs, constant learning rate, cross-entropy, best weights by validation accuracy.
The ``standard-*`` variants are what a careful practitioner would use instead (face-appropriate
augmentation, AdamW, label smoothing, warm-up + cosine schedule), to show what the recipe cost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from ferbias.registry import Registry

VARIANTS: Registry[Variant] = Registry("variant")
KERAS_ADAM_EPS = 1e-7  # Keras's Adam epsilon (PyTorch's default is 1e-8)
COUPLED_DECAY = "Recipe.weight_decay needs optimizer='adamw' (decoupled) or 'sgd'; got 'adam'"


@dataclass(frozen=True)
class Recipe:
    """How to train: optimiser, loss, augmentation, schedule, batch size and epochs."""

    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3
    # Decoupled weight decay (Keras 3 Adam ``weight_decay`` == PyTorch AdamW): w -= lr * wd * w,
    # applied to every trainable variable as Keras does by default.
    weight_decay: float = 0.0
    # Keras ``kernel_regularizer=l2(l2)``: loss += l2 * sum(w ** 2) over conv and dense kernels.
    l2: float = 0.0
    label_smoothing: float = 0.0
    augmentation: str | None = None  # name in ferbias.training.augment.AUGMENTATIONS, None = off
    schedule: Literal["constant", "cosine", "onecycle"] = "constant"
    warmup_epochs: float = 0.0  # linear warm-up (cosine schedule)
    epochs: int = 20
    batch_size: int = 64
    monitor: Literal["val_acc", "val_loss"] = "val_acc"  # which epoch's weights are kept
    early_stopping_patience: int | None = None  # epochs without improvement; None = off
    eps: float = KERAS_ADAM_EPS

    def __post_init__(self) -> None:
        if self.weight_decay and self.optimizer == "adam":
            raise ValueError(COUPLED_DECAY)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Variant:
    """A named study variant: options for ``create_model`` plus a training recipe."""

    name: str
    description: str
    model_options: dict[str, Any] = field(default_factory=dict)
    recipe: Recipe = field(default_factory=Recipe)

    def with_overrides(self, **recipe_overrides: Any) -> Variant:
        """The same variant with some recipe fields replaced (e.g. epochs, batch_size)."""
        return replace(self, recipe=replace(self.recipe, **recipe_overrides))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "model_options": dict(self.model_options),
            "recipe": self.recipe.to_dict(),
        }


def get_variant(name: str) -> Variant:
    """The variant registered as ``name`` (unknown names list the valid ones)."""
    return VARIANTS.create(name)


def list_variants() -> list[str]:
    return VARIANTS.names()


def register(variant: Variant) -> None:
    VARIANTS.register(variant.name)(lambda: variant)


STANDARD = Recipe(
    optimizer="adamw",
    lr=2e-3,
    weight_decay=0.05,
    label_smoothing=0.1,
    augmentation="standard",
    schedule="cosine",
    warmup_epochs=1.0,
    eps=1e-8,
)

for _variant in (
    Variant("baseline", "the study's CNN, Adam 1e-3, no augmentation, no dropout"),
    Variant("augment", "baseline + the study's augmentation", recipe=Recipe(augmentation="study")),
    Variant("dropout", "baseline + the study's dropout", {"dropout": True}),
    Variant(
        "dropout+augment",
        "the study's dropout and augmentation",
        {"dropout": True},
        Recipe(augmentation="study"),
    ),
    # The study's "learning-rate model" sets Adam's learning rate to 1e-3 explicitly; Keras's
    # default is also 1e-3, so as specified it trains exactly like ``baseline``.
    Variant("lr", "the study's learning-rate model: Adam lr 1e-3", recipe=Recipe(lr=1e-3)),
    Variant(
        "weight-decay",
        "Adam with decoupled weight decay 0.01",
        recipe=Recipe(optimizer="adamw", weight_decay=0.01),
    ),
    Variant("l2-0.001", "L2 kernel regulariser 0.001 (Keras semantics)", recipe=Recipe(l2=0.001)),
    Variant("l2-0.01", "L2 kernel regulariser 0.01 (Keras semantics)", recipe=Recipe(l2=0.01)),
    Variant("standard", "standard augmentation, AdamW, label smoothing, cosine", recipe=STANDARD),
    Variant(
        "standard+dropout", "standard recipe + the study's dropout", {"dropout": True}, STANDARD
    ),
    Variant(
        "standard+study-augment",
        "standard recipe but the study's augmentation",
        recipe=replace(STANDARD, augmentation="study"),
    ),
):
    register(_variant)
