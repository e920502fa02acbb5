"""Step 4 and the read of step 5: Larimar's episodic memory (Das et al. 2024), one-shot write.

    prior      M0                      [K, C]  learned
    write      W0 = Z~ M0^+            [N, K]  addressing weights of the N written lines
               M  = W0^+ Z~            [K, C]  the memory
    read       w  = q M^+              [K]     addressing weights of the query
               r  = w M                [C]     readout

Pseudo-inverses (config `solve`):
  ridge  (default) X^+ = X^T (X X^T + lam I)^-1, the Gram taken on the smaller side of X. Differentiable,
         never NaN (the Gram is positive definite), and lam -> 0 recovers the exact pinv.
  exact  torch.linalg.pinv (SVD, singular values below its default cut-off are dropped). Slower: used for
         evaluation and ablations, not training.
Never Larimar's Newton-Schulz iteration (a = 5e-4, 15 steps): it returns NaN once a singular value
exceeds ~63 and damps those below ~0.3 (SPEC, "Numerical pitfalls").

What the read computes: when N <= min(K, C) and the lines are independent, rowspace(M) = rowspace(Z~),
so r = q Z~^+ Z~ is the projection of the query onto the span of the written latents, whatever M0 is
(M0 still sets the addressing weights w). A latent that was written reads back as itself. Once N >= C
that span is the whole space and the read returns the query unchanged: long inputs must be filtered
first (relevance.py, the inference-time update).

Two implementations of the same function:
  `EpisodicMemory.write/read` batched over right-padded stories (padding rows are zero and drop out of
      every product). For N <= min(K, C) the read never forms M^+: with A = W0^+ and M = A Z~, the
      push-through and Woodbury identities give
          w = q Z~^T (lam I_N + G S)^-1 A^T,   r = w M,   G = A^T A, S = Z~ Z~^T   (all N x N)
      which costs O(N^2 (K + C) + N^3) per story instead of a K x C pseudo-inverse.
  `write_read_reference` the formulas above literally, one story at a time, explicit M and M^+.
tests/test_model_memory.py holds the two equal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

SOLVES = ("ridge", "exact")


def ridge_pinv(x: torch.Tensor, lam: float) -> torch.Tensor:
    """[..., m, n] -> [..., n, m], x^T (x x^T + lam I)^-1 == (x^T x + lam I)^-1 x^T, smaller Gram."""
    m, n = x.shape[-2:]
    if m <= n:
        gram = x @ x.mT + lam * torch.eye(m, device=x.device, dtype=x.dtype)
        return torch.linalg.solve(gram, x).mT  # (gram^-1 x)^T = x^T gram^-1, gram symmetric
    gram = x.mT @ x + lam * torch.eye(n, device=x.device, dtype=x.dtype)
    return torch.linalg.solve(gram, x.mT)


def pinv(x: torch.Tensor, solve: str, lam: float) -> torch.Tensor:
    if solve == "exact":
        return torch.linalg.pinv(x)
    return ridge_pinv(x, lam)


@dataclass
class Memory:
    """A batch of written memories, kept factored: M = addressing_pinv @ latents."""

    addressing_pinv: torch.Tensor  # A = W0^+  [B, K, N]
    latents: torch.Tensor  # Z~          [B, N, C], zero rows for padding

    @property
    def matrix(self) -> torch.Tensor:
        """M [B, K, C]."""
        return self.addressing_pinv @ self.latents


class EpisodicMemory(nn.Module):
    def __init__(self, dim: int, slots: int = 512, solve: str = "ridge", ridge: float = 1e-4):
        super().__init__()
        if solve not in SOLVES:
            raise ValueError(f"memory solve must be one of {SOLVES}, not {solve!r}")
        self.solve, self.ridge = solve, ridge
        # M0 [K, C]: rows of norm ~1, like the unit-norm latents written into it.
        self.prior = nn.Parameter(torch.randn(slots, dim) / math.sqrt(dim))

    def write(self, z: torch.Tensor) -> Memory:
        """z: [B, N, C] order-aware latents (zero rows = padding) -> Memory."""
        prior_pinv = pinv(self.prior, self.solve, self.ridge)  # M0^+ [C, K]
        w0 = z @ prior_pinv  # [B, N, K]
        return Memory(pinv(w0, self.solve, self.ridge), z)

    def read(self, memory: Memory, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q: [B, C] queries -> (w [B, K] addressing weights, r [B, C] readout)."""
        a, z = memory.addressing_pinv, memory.latents
        K, N, C = a.shape[1], a.shape[2], z.shape[2]
        if self.solve == "exact" or N > min(K, C):
            m = memory.matrix  # [B, K, C]
            w = (q[:, None, :] @ pinv(m, self.solve, self.ridge)).squeeze(1)  # [B, K]
            return w, (w[:, None, :] @ m).squeeze(1)
        eye = torch.eye(N, device=z.device, dtype=z.dtype)
        g = a.mT @ a  # [B, N, N]
        s = z @ z.mT  # [B, N, N]
        u = (q[:, None, :] @ z.mT)  # [B, 1, N]
        x = torch.linalg.solve(self.ridge * eye + g @ s, u, left=False)  # x (lam I + G S) = u, [B, 1, N]
        w = (x @ a.mT).squeeze(1)  # [B, K]
        r = (x @ g @ z).squeeze(1)  # w M = x A^T A Z~, [B, C]
        return w, r


def write_read_reference(prior: torch.Tensor, stories: list[torch.Tensor], queries: torch.Tensor,
                         solve: str = "ridge", lam: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """The write and read exactly as written in Larimar, one unpadded story [N_b, C] at a time."""
    ws, rs = [], []
    prior_pinv = pinv(prior, solve, lam)  # M0^+
    for z, q in zip(stories, queries):
        w0 = z @ prior_pinv  # W0 = Z~ M0^+
        m = pinv(w0, solve, lam) @ z  # M = W0^+ Z~
        w = q @ pinv(m, solve, lam)  # w = q M^+
        ws.append(w)
        rs.append(w @ m)  # r = w M
    return torch.stack(ws), torch.stack(rs)
