"""Prediction heads on the backbone's last feature map.

`VolumetricHead`: one 1x1 convolution to J·D channels, reshaped to J volumes of D x h x w logits
(x, y along the image, z = depth relative to the root; Pavlakos et al.'s axes).
`RootDepthHead`: global average pool, one linear layer to `bins` logits: a 1D heatmap over the
person centre's depth, read out by `soft_argmax_1d`.
"""
from __future__ import annotations

import torch
from torch import nn


class VolumetricHead(nn.Module):
    """(B, C, h, w) features -> (B, J, D, h, w) volumetric heatmap logits."""

    def __init__(self, in_channels: int, joints: int, depth_bins: int):
        super().__init__()
        self.joints, self.depth_bins = joints, depth_bins
        self.conv = nn.Conv2d(in_channels, joints * depth_bins, kernel_size=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        B, _, h, w = features.shape
        return self.conv(features).view(B, self.joints, self.depth_bins, h, w)


class RootDepthHead(nn.Module):
    """(B, C, h, w) features -> (B, bins) logits of the 1D root-depth heatmap."""

    def __init__(self, in_channels: int, bins: int):
        super().__init__()
        self.linear = nn.Linear(in_channels, bins)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features.mean(dim=(-2, -1)))
