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
      every product). For N <= min(K, C) neither M nor M^+ is ever formed: with H = W0 W0^T = Z~ P Z~^T
      (P = M0^+ M0^+T, C x C, once per batch), R = (H + lam I)^-1 and A = W0^+ = W0^T R, the push-through
      identity A^T (lam I + A S A^T)^-1 = (lam I + G S)^-1 A^T gives
          r = x G Z~,   w = x R W0,   where x (lam I + G S) = q Z~^T,  G = A^T A = R H R,  S = Z~ Z~^T
      -- all N x N, O(N C^2 + N^2 C + N^3) per story, nothing of size K but the one-off P.
      Otherwise (N > min(K, C), or the exact solve) M is formed and read as written above.
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
    """A batch of written memories. M is kept factored and only formed when a read needs it."""

    latents: torch.Tensor  # Z~ [B, N, C], zero rows for padding
    prior_pinv: torch.Tensor  # M0^+ [C, K]
    solve: str
    lam: float
    small: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None  # (R, G, lam I + G S), each [B, N, N]

    @property
    def addressing(self) -> torch.Tensor:
        """W0 = Z~ M0^+ [B, N, K]."""
        return self.latents @ self.prior_pinv

    @property
    def matrix(self) -> torch.Tensor:
        """M = W0^+ Z~ [B, K, C]."""
        return pinv(self.addressing, self.solve, self.lam) @ self.latents


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
        K, (_, N, C) = self.prior.shape[0], z.shape
        if self.solve == "exact" or N > min(K, C):
            return Memory(z, prior_pinv, self.solve, self.ridge, None)
        eye = torch.eye(N, device=z.device, dtype=z.dtype)
        h = z @ (prior_pinv @ prior_pinv.T) @ z.mT  # W0 W0^T [B, N, N]
        r_inv = torch.linalg.inv(h + self.ridge * eye)  # R, symmetric positive definite
        g = r_inv @ h @ r_inv  # A^T A
        return Memory(z, prior_pinv, self.solve, self.ridge, (r_inv, g, self.ridge * eye + g @ (z @ z.mT)))

    def read(self, memory: Memory, q: torch.Tensor) -> torch.Tensor:
        """q: [B, C] queries -> r [B, C] readouts."""
        if memory.small is None:
            m = memory.matrix  # [B, K, C]
            return (self._address_explicit(m, q)[:, None, :] @ m).squeeze(1)
        _, g, system = memory.small
        return (self._solve(system, memory.latents, q) @ g @ memory.latents).squeeze(1)

    def address(self, memory: Memory, q: torch.Tensor) -> torch.Tensor:
        """q: [B, C] queries -> w [B, K], the query's addressing weights over the memory slots."""
        if memory.small is None:
            return self._address_explicit(memory.matrix, q)
        r_inv, _, system = memory.small
        return (self._solve(system, memory.latents, q) @ r_inv @ memory.addressing).squeeze(1)

    def _address_explicit(self, m: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return (q[:, None, :] @ pinv(m, self.solve, self.ridge)).squeeze(1)  # w = q M^+

    @staticmethod
    def _solve(system: torch.Tensor, z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """x [B, 1, N] with x (lam I + G S) = q Z~^T."""
        return torch.linalg.solve(system, q[:, None, :] @ z.mT, left=False)


def write_read_reference(prior: torch.Tensor, stories: list[torch.Tensor], queries: torch.Tensor,
                         solve: str = "ridge", lam: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """The write and read exactly as written in Larimar, one unpadded story [N_b, C] at a time -> (w, r)."""
    ws, rs = [], []
    prior_pinv = pinv(prior, solve, lam)  # M0^+
    for z, q in zip(stories, queries):
        w0 = z @ prior_pinv  # W0 = Z~ M0^+
        m = pinv(w0, solve, lam) @ z  # M = W0^+ Z~
        w = q @ pinv(m, solve, lam)  # w = q M^+
        ws.append(w)
        rs.append(w @ m)  # r = w M
    return torch.stack(ws), torch.stack(rs)
