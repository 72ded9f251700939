"""ResNet-18 with a CIFAR-style stem for 48x48 inputs (3x3 stride-1 conv, no max pool).

Stages of two BasicBlocks at ``width`` x 1, 2, 4, 8 channels on 48, 24, 12 and 6 pixel maps;
global average pooling and a linear classifier. ``width=64`` is the standard ResNet-18.
"""

from __future__ import annotations

from torch import Tensor, nn

from ferbias.models.registry import MODELS

BLOCKS_PER_STAGE = (2, 2, 2, 2)


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNetFer(nn.Module):
    def __init__(self, num_classes: int, width: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True)
        )
        layers: list[nn.Module] = []
        in_channels = width
        for index, blocks in enumerate(BLOCKS_PER_STAGE):
            out_channels = width * 2**index
            for block in range(blocks):
                stride = 2 if index > 0 and block == 0 else 1
                layers.append(BasicBlock(in_channels, out_channels, stride))
                in_channels = out_channels
        self.stages = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.stages(self.stem(x)))


@MODELS.register("resnet18-fer")
def resnet18_fer(*, num_classes: int, width: int = 64) -> nn.Module:
    """ResNet-18, CIFAR stem; ``width`` channels in the first stage."""
    return ResNetFer(num_classes, width)
