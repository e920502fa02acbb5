"""A bidirectional GRU over right-padded sequences of different lengths, as if each were read alone.

Two ways to get the same states:
  bigru_packed  (the reference) packs the batch, so each row's backward direction starts at its own last
                step, not at padding; the batch shrinks step by step as rows end.
  bigru         (used) runs each direction as one unpacked GRU call over the padded batch: every step
                takes the whole batch, and the input projection of all steps is one matrix product. The
                forward direction never sees the padding after a row; the backward direction reads each row
                reversed within its own length, so padding comes last there too, and its states are
                reversed back. Both are bound by their matrix products on the CPU; this one does fewer, larger ones.
Both return zeros after each row's length. A test holds them equal, values and gradients.
"""

from __future__ import annotations

import torch
from torch import nn


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """x [B, T, D], lengths [B] -> x with each row's first lengths[b] steps in reverse order, padding in place."""
    B, T, D = x.shape
    t = torch.arange(T, device=x.device).expand(B, T)
    n = lengths[:, None].to(x.device)
    order = torch.where(t < n, n - 1 - t, t)  # [B, T]
    return x.gather(1, order[..., None].expand(B, T, D))


def _direction(gru: nn.GRU, x: torch.Tensor, suffix: str) -> torch.Tensor:
    """One direction of a one-layer GRU over x [B, T, I] -> states [B, T, H]."""
    weights = [getattr(gru, f"{name}_l0{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    h0 = x.new_zeros(1, x.shape[0], gru.hidden_size)
    # torch.gru(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first)
    return torch.gru(x, h0, weights, True, 1, 0.0, gru.training, False, True)[0]


def bigru(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """gru: one layer, bidirectional, batch_first, with biases; x [B, T, I] right-padded, lengths [B]
    -> states [B, T, 2H] (forward, backward), zeros after each row's length."""
    forward = _direction(gru, x, "")
    backward = reverse_within(_direction(gru, reverse_within(x, lengths), "_reverse"), lengths)
    real = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None].to(x.device)  # [B, T]
    return torch.cat([forward, backward], -1) * real[..., None]


def bigru_packed(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The reference: what bigru returns, by packing (rows of length 0 give zeros)."""
    B, T, _ = x.shape
    out = x.new_zeros(B, T, 2 * gru.hidden_size)
    real = (lengths > 0).nonzero().squeeze(-1)
    if len(real):
        packed = nn.utils.rnn.pack_padded_sequence(x[real], lengths[real].cpu(), batch_first=True,
                                                   enforce_sorted=False)
        states = nn.utils.rnn.pad_packed_sequence(gru(packed)[0], batch_first=True, total_length=T)[0]
        out = out.index_copy(0, real, states)
    return out
