"""mini-Xception (Arriaga, Ploeger and Valdenegro 2017), the model behind the ``fer`` package.

Two plain 3x3 convs (8 filters, 'valid'), four residual modules of depthwise-separable convs
(16, 32, 64, 128 filters) with a strided 1x1 shortcut, then a 3x3 conv to ``num_classes`` maps and
global average pooling: about 56k parameters for 6 classes, as in the paper (~66% on FER-2013,
7 classes).
"""

from __future__ import annotations

from torch import Tensor, nn

from ferbias.models.registry import MODELS

STEM_FILTERS = 8
MODULE_FILTERS = (16, 32, 64, 128)


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def separable(in_channels: int, out_channels: int) -> nn.Sequential:
    """Keras SeparableConv2D 3x3 'same' without bias: depthwise 3x3 then pointwise 1x1."""
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False),
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
    )


class XceptionModule(nn.Module):
    """sepconv-BN-ReLU-sepconv-BN-maxpool(3, stride 2) plus a strided 1x1 conv shortcut."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.shortcut = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.body = nn.Sequential(
            separable(in_channels, out_channels),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            separable(out_channels, out_channels),
            nn.BatchNorm2d(out_channels),
            nn.MaxPool2d(3, stride=2, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.shortcut(x)


class MiniXception(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        channels = (STEM_FILTERS, *MODULE_FILTERS)
        self.stem = nn.Sequential(conv_bn_relu(1, STEM_FILTERS), conv_bn_relu(8, STEM_FILTERS))
        self.modules_ = nn.Sequential(
            *(XceptionModule(channels[i], channels[i + 1]) for i in range(len(MODULE_FILTERS)))
        )
        self.head = nn.Sequential(
            nn.Conv2d(MODULE_FILTERS[-1], num_classes, 3, padding=1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.modules_(self.stem(x)))


@MODELS.register("mini-xception")
def mini_xception(*, num_classes: int) -> nn.Module:
    """mini-Xception, Arriaga et al. 2017 (~56k parameters)."""
    return MiniXception(num_classes)
