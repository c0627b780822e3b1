"""A small 2D U-Net in Paddle: the one model every loss trains.

Three resolutions, two 3x3 conv + BatchNorm + ReLU per block, 2x2 max-pool down and 2x2
transposed conv up, skip connections by concatenation; about 30k parameters at width 8. Small
enough that 2 CPU cores train dozens of them in an hour, large enough to solve both tasks.
"""
from __future__ import annotations

import paddle
import paddle.nn as nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2D(cin, cout, 3, padding=1, bias_attr=False), nn.BatchNorm2D(cout), nn.ReLU(),
        nn.Conv2D(cout, cout, 3, padding=1, bias_attr=False), nn.BatchNorm2D(cout), nn.ReLU(),
    )


class UNet(nn.Layer):
    """U-Net with `width`, 2*width, 4*width channels; input (N, in_channels, H, W), H and W divisible by 4."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, width: int = 8):
        super().__init__()
        w = width
        self.enc1, self.enc2, self.mid = _block(in_channels, w), _block(w, 2 * w), _block(2 * w, 4 * w)
        self.pool = nn.MaxPool2D(2)
        self.up2 = nn.Conv2DTranspose(4 * w, 2 * w, 2, stride=2)
        self.dec2 = _block(4 * w, 2 * w)
        self.up1 = nn.Conv2DTranspose(2 * w, w, 2, stride=2)
        self.dec1 = _block(2 * w, w)
        self.head = nn.Conv2D(w, out_channels, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        m = self.mid(self.pool(e2))
        d2 = self.dec2(paddle.concat([self.up2(m), e2], axis=1))
        d1 = self.dec1(paddle.concat([self.up1(d2), e1], axis=1))
        return self.head(d1)


def n_parameters(model: nn.Layer) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if not p.stop_gradient))
