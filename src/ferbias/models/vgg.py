"""A VGG for 48x48 faces in the style of Khaireddin and Chen (2021), width configurable.

Four stages of two 3x3 conv-BN-ReLU layers (``width`` x 1, 2, 4, 8 filters) each followed by
max pooling, then two dense layers with dropout. The paper used ``width=64`` and 4096-unit dense
layers (73.28% on FER-2013, 7 classes); the default here, ``width=32`` with 512 units, costs a
quarter of the convolution FLOPs so that seeds x groups grids stay practical on a CPU.
"""

from __future__ import annotations

from torch import Tensor, nn

from ferbias.models.registry import MODELS

STAGES = 4
CONVS_PER_STAGE = 2


def stage(in_channels: int, out_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(CONVS_PER_STAGE):
        layers += [
            nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        ]
    layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class VGGFer(nn.Module):
    def __init__(self, num_classes: int, width: int, hidden: int, dropout: float) -> None:
        super().__init__()
        channels = [1] + [width * 2**i for i in range(STAGES)]
        self.features = nn.Sequential(*(stage(channels[i], channels[i + 1]) for i in range(STAGES)))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels[-1] * 3 * 3, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


@MODELS.register("vgg-fer")
def vgg_fer(*, num_classes: int, width: int = 32, hidden: int = 512, dropout: float = 0.4):
    """VGG-style network; ``width`` filters in the first stage, doubling per stage."""
    return VGGFer(num_classes, width, hidden, dropout)
