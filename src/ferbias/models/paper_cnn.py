"""The study's network, layer for layer as its Keras model (980,422 trainable parameters).

Input 1x48x48 in [0, 1]; four blocks Conv2d 3x3 'same' (32, 64, 128, 256 filters) -> BatchNorm ->
ReLU -> MaxPool 2x2; Flatten (256 * 3 * 3 = 2304); Dense 256 -> ReLU -> Dense ``num_classes``.
Keras defaults are kept so results compare with the study: Glorot-uniform kernels, zero biases,
BatchNorm momentum 0.99 (PyTorch ``momentum=0.01``) and epsilon 1e-3.
"""

from __future__ import annotations

from torch import Tensor, nn

from ferbias.models.registry import MODELS

FILTERS = (32, 64, 128, 256)
HIDDEN_UNITS = 256
# The study's dropout: after each of the four pooling layers, and before the last dense layer.
STUDY_BLOCK_DROPOUT = (0.10, 0.15, 0.20, 0.25)
STUDY_DENSE_DROPOUT = 0.5
BAD_BATCHNORM = "paper-cnn option batchnorm={value!r}; expected one of {valid}"
# Keras BatchNorm: moving averages with momentum 0.99 (PyTorch momentum=0.01), epsilon 1e-3.
# Its averages start at mean 0 / variance 1 and need ~1,000 steps to forget that, so eval-mode
# outputs of short runs are poor (as in Keras); batchnorm="torch" (momentum 0.1) settles in ~50.
BATCHNORM = {"keras": {"momentum": 0.01, "eps": 1e-3}, "torch": {"momentum": 0.1, "eps": 1e-5}}


def conv_block(in_channels: int, out_channels: int, dropout: float, bn: dict) -> nn.Sequential:
    """Conv 3x3 'same' -> BatchNorm -> ReLU -> MaxPool 2x2 (-> Dropout when ``dropout`` > 0)."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.BatchNorm2d(out_channels, **bn),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    ]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class PaperCNN(nn.Module):
    """The study's CNN; ``dropout=True`` adds the study's dropout layers."""

    def __init__(
        self, num_classes: int = 6, dropout: bool = False, batchnorm: str = "keras", image_size=48
    ) -> None:
        super().__init__()
        block_rates = STUDY_BLOCK_DROPOUT if dropout else (0.0,) * len(FILTERS)
        channels = (1, *FILTERS)
        self.features = nn.Sequential(
            *(
                conv_block(channels[i], channels[i + 1], block_rates[i], BATCHNORM[batchnorm])
                for i in range(len(FILTERS))
            )
        )
        side = image_size // 2 ** len(FILTERS)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(FILTERS[-1] * side * side, HIDDEN_UNITS),
            nn.ReLU(inplace=True),
            nn.Dropout(STUDY_DENSE_DROPOUT if dropout else 0.0),
            nn.Linear(HIDDEN_UNITS, num_classes),
        )
        keras_init(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


def keras_init(model: nn.Module) -> None:
    """Keras defaults: Glorot-uniform kernels and zero biases for every conv and dense layer."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


@MODELS.register("paper-cnn")
def paper_cnn(*, num_classes: int, dropout: bool = False, batchnorm: str = "keras") -> nn.Module:
    """The study's CNN (Keras BatchNorm by default; ``batchnorm="torch"`` settles faster)."""
    if batchnorm not in BATCHNORM:
        raise ValueError(BAD_BATCHNORM.format(value=batchnorm, valid=sorted(BATCHNORM)))
    return PaperCNN(num_classes=num_classes, dropout=dropout, batchnorm=batchnorm)
