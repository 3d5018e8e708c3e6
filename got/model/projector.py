"""Projector from the encoder's 256-channel map to decoder tokens (GOT's net_2, net_3, mm_projector_vary).

(B, 256, g, g) -> conv3×3 s2 -> (B, 512, g/2, g/2) -> conv3×3 s2 -> (B, P, g/4, g/4) -> (B, g²/16, P)
-> linear -> (B, g²/16, d_model). No activation in between, as in the released model. The official P is
1024 whatever the decoder width; transformers' GotOcr2 ties P to d_model, so an hf export needs P == d_model.
"""

import torch
from torch import nn


class Projector(nn.Module):
    def __init__(self, in_channels: int, channels: int, d_model: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, in_channels * 2, kernel_size=3, stride=2, padding=1, bias=False)
        self.conv2 = nn.Conv2d(in_channels * 2, channels, kernel_size=3, stride=2, padding=1, bias=False)
        self.linear = nn.Linear(channels, d_model)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        for m in (self.conv1, self.conv2, self.linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
        nn.init.zeros_(self.linear.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.conv1(features))
        return self.linear(x.flatten(2).transpose(1, 2))
