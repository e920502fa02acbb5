"""A bidirectional GRU over right-padded sequences of different lengths, as if each were read alone.

Two ways to get the same states:
  bigru_packed  packs the batch and runs PyTorch's GRU over it: the reference, and what the token readers
                use (their lines are many, short and of like lengths: little padding to skip).
  bigru         the temporal encoding's: the same computation written for the CPU, where a GRU is bound by
                its matrix products and a batch of stories pads to its longest. The rows are sorted longest
                first, so the rows still running at step t are a prefix of the batch and no product touches
                padding; the input projection of every real step of both directions is one product; the
                recurrence of both directions runs as one batched loop (GRURecurrence, its backward written
                by hand). The backward direction reads each row reversed within its own length, so its real
                steps come first too, and is reversed back.
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


class GRURecurrence(torch.autograd.Function):
    """The sequential part of D GRUs at once: h_t from h_(t-1) and step t's input gates, over rows sorted
    longest first (at step t the first active[t] rows run; the others have ended).

    PyTorch's GRU, gates (r, z, n):  r = sigmoid(xr + hr),  z = sigmoid(xz + hz),  n = tanh(xn + r * hn),
    h_t = (1 - z) * n + z * h_(t-1), where x. = W_i. x_t + b_i. (given) and h. = W_h. h_(t-1) + b_h..
    Forward and backward are written out, so a step's slices record no autograd graph.
    """

    @staticmethod
    def forward(ctx, gates_x, w_hh, b_hh, active):
        """gates_x [D, T, B, 3H], w_hh [D, 3H, H], b_hh [D, 3H], active: T non-increasing row counts
        -> states [D, T, B, H], zeros where a row has ended."""
        D, T, B, G = gates_x.shape
        H = G // 3
        w = w_hh.transpose(1, 2)  # [D, H, 3H]
        states = gates_x.new_zeros(D, T, B, H)
        # read back only where written (a running row's step)
        rz, n, hn = gates_x.new_empty(D, T, B, 2 * H), gates_x.new_empty(D, T, B, H), gates_x.new_empty(D, T, B, H)
        h = gates_x.new_zeros(D, B, H)
        for t, b in enumerate(active):
            gates_h = torch.baddbmm(b_hh[:, None, :], h[:, :b], w)  # [D, b, 3H]
            rz[:, t, :b] = torch.sigmoid(gates_x[:, t, :b, :2 * H] + gates_h[..., :2 * H])
            hn[:, t, :b] = gates_h[..., 2 * H:]
            n[:, t, :b] = torch.tanh(gates_x[:, t, :b, 2 * H:] + rz[:, t, :b, :H] * hn[:, t, :b])
            states[:, t, :b] = n[:, t, :b] + rz[:, t, :b, H:] * (h[:, :b] - n[:, t, :b])
            h = states[:, t]  # rows past b never run again
        ctx.active = active
        ctx.save_for_backward(w_hh, states, rz, n, hn)
        return states

    @staticmethod
    def backward(ctx, grad_states):
        w_hh, states, rz, n, hn = ctx.saved_tensors
        D, T, B, H = states.shape
        previous = torch.cat([states.new_zeros(D, 1, B, H), states[:, :-1]], 1)  # h_(t-1)
        grad_x = states.new_zeros(D, T, B, 3 * H)  # d loss / d gates_x
        grad_h = states.new_zeros(D, T, B, 3 * H)  # d loss / d (W_hh h_(t-1) + b_hh)
        dh = states.new_zeros(D, B, H)  # d loss / d h_t, through later steps
        for t in reversed(range(T)):
            b = ctx.active[t]
            d = dh[:, :b] + grad_states[:, t, :b]
            r, z, n_t = rz[:, t, :b, :H], rz[:, t, :b, H:], n[:, t, :b]
            dn = d * (1 - z) * (1 - n_t * n_t)  # through the tanh
            dr = dn * hn[:, t, :b] * r * (1 - r)
            dz = d * (previous[:, t, :b] - n_t) * z * (1 - z)
            grad_x[:, t, :b] = torch.cat([dr, dz, dn], -1)
            grad_h[:, t, :b] = torch.cat([dr, dz, dn * r], -1)
            dh[:, :b] = d * z + torch.bmm(grad_h[:, t, :b], w_hh)
        flat = grad_h.reshape(D, T * B, 3 * H)
        grad_w = torch.bmm(flat.transpose(1, 2), previous.reshape(D, T * B, H))  # [D, 3H, H]
        return grad_x, grad_w, flat.sum(1), None


def bigru(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """gru: one layer, bidirectional, batch_first, with biases; x [B, T, I] right-padded, lengths [B]
    -> states [B, T, 2H] (forward, backward), zeros after each row's length."""
    B, T, _ = x.shape
    lengths = lengths.to(x.device)
    order = lengths.argsort(descending=True)  # longest first: the rows running at any step are a prefix
    n = lengths[order]
    running = torch.arange(T, device=x.device)[:, None] < n[None, :]  # [T, B]
    active = [b for b in running.sum(1).tolist() if b]  # steps past the longest row are left out
    if not active:
        return x.new_zeros(B, T, 2 * gru.hidden_size)
    x = x[order]
    inputs = torch.stack([x, reverse_within(x, n)]).transpose(1, 2)  # [2, T, B, I]
    real = running.flatten().nonzero().squeeze(-1)  # real (step, row) places, both directions alike
    w_ih = torch.stack([gru.weight_ih_l0, gru.weight_ih_l0_reverse])  # [2, 3H, I]
    b_ih = torch.stack([gru.bias_ih_l0, gru.bias_ih_l0_reverse])
    gates = torch.baddbmm(b_ih[:, None, :], inputs.reshape(2, T * B, -1)[:, real], w_ih.transpose(1, 2))
    gates_x = gates.new_zeros(2, T * B, gates.shape[-1]).index_copy(1, real, gates).view(2, T, B, -1)
    states = GRURecurrence.apply(gates_x[:, :len(active)], torch.stack([gru.weight_hh_l0, gru.weight_hh_l0_reverse]),
                                 torch.stack([gru.bias_hh_l0, gru.bias_hh_l0_reverse]), active)
    states = torch.cat([states, states.new_zeros(2, T - len(active), B, gru.hidden_size)], 1).transpose(1, 2)
    out = torch.cat([states[0], reverse_within(states[1], n)], -1)  # [B, T, 2H], sorted rows
    return out[order.argsort()]


def bigru_packed(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The reference: what bigru returns, by packing (rows of length 0 give zeros)."""
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False)
    states = nn.utils.rnn.pad_packed_sequence(gru(packed)[0], batch_first=True, total_length=x.shape[1])[0]
    return states * (lengths > 0).to(states.device)[:, None, None]  # an empty row read its padding's first step
