"""Step 3 of MemReasoner: order-aware line latents z~_1..z~_E from z_1..z_E.

Three kinds (config `temporal`):
  bigru       (P, default) a bidirectional GRU reads the lines in document order; its output is
              projected back to the latent size and added to z_i (a residual, so z~_i still says
              what line i is, and the GRU only has to add *where it sits* among the others: for qa1,
              "this is the last line about Mary").
  sinusoidal  (ablation) z_i plus the transformer sine/cosine code of position i, scaled to the
              latent's unit norm. It says where a line is, but not what comes after it.
  none        (ablation, plain Larimar) z~_i = z_i: permuting the lines permutes the latents.

Every kind ends with an L2 normalisation: the memory read (a projection onto the span of the rows)
does not depend on row norms, the nearest-line cosine does not either, and unit rows keep the ridge
term of the memory solve on a fixed scale.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .bigru import bigru

KINDS = ("bigru", "sinusoidal", "none")


def sinusoidal_code(n: int, dim: int, device=None) -> torch.Tensor:
    """[n, dim] transformer position code (Vaswani et al.), each row scaled to unit norm."""
    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]  # [n, 1]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    code = torch.zeros(n, dim, device=device)
    code[:, 0::2] = torch.sin(pos * freq)
    code[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return code / math.sqrt(dim / 2)  # each row has norm sqrt(dim/2) before this


class TemporalEncoding(nn.Module):
    def __init__(self, dim: int, kind: str = "bigru", hidden: int = 256):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"temporal encoding must be one of {KINDS}, not {kind!r}")
        self.kind = kind
        if kind == "bigru":
            self.gru = nn.GRU(dim, hidden, batch_first=True, bidirectional=True)
            self.out = nn.Linear(2 * hidden, dim)

    def forward(self, z: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """z: [B, N, C] line latents, right-padded; lengths: [B] real line counts -> z~ [B, N, C].

        Padded rows come back as zeros (the memory relies on that to ignore them).
        """
        B, N, C = z.shape
        mask = torch.arange(N, device=z.device)[None, :] < lengths[:, None]  # [B, N]
        if self.kind == "bigru":
            z = z + self.out(bigru(self.gru, z, lengths))  # each story read alone: [B, N, 2H] -> [B, N, C]
        elif self.kind == "sinusoidal":
            z = z + sinusoidal_code(N, C, z.device)[None]
        return F.normalize(z, dim=-1) * mask[..., None]
