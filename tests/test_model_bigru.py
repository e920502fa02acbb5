import pytest
import torch
from torch import nn

from memreasoner.model.bigru import GRURecurrence, bigru, bigru_packed, reverse_within


def batch(lengths, dim=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), max(max(lengths), 1), dim, generator=g)
    for row, n in enumerate(lengths):
        x[row, n:] = torch.randn(x.shape[1] - n, dim, generator=g) * 100  # padding that must not matter
    return x, torch.tensor(lengths)


def test_reverse_within_reverses_each_row_up_to_its_length_and_leaves_padding():
    x = torch.arange(8.0).view(2, 4, 1)
    out = reverse_within(x, torch.tensor([3, 4]))[..., 0]
    assert out.tolist() == [[2, 1, 0, 3], [7, 6, 5, 4]]


@pytest.mark.parametrize("lengths", [[7, 3, 1, 5], [4, 4], [6, 0, 2]])
def test_fast_bigru_equals_the_packed_reference_in_values_and_gradients(lengths):
    torch.manual_seed(0)
    gru = nn.GRU(5, 4, batch_first=True, bidirectional=True)
    x, n = batch(lengths)
    fast_x, ref_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    fast, ref = bigru(gru, fast_x, n), bigru_packed(gru, ref_x, n)
    assert torch.allclose(fast, ref, atol=1e-5)
    weights = torch.randn_like(fast)
    fast_grads = torch.autograd.grad((fast * weights).sum(), [fast_x, *gru.parameters()])
    ref_grads = torch.autograd.grad((ref * weights).sum(), [ref_x, *gru.parameters()])
    for a, b in zip(fast_grads, ref_grads):
        assert torch.allclose(a, b, atol=1e-5)


def test_a_batch_of_empty_rows_gives_zeros():
    gru = nn.GRU(5, 4, batch_first=True, bidirectional=True)
    x, n = batch([0, 0])
    assert bigru(gru, x, n).shape == (2, 1, 8) and not bigru(gru, x, n).any()


def test_each_row_reads_as_if_alone_and_padding_gives_zeros():
    torch.manual_seed(0)
    gru = nn.GRU(5, 4, batch_first=True, bidirectional=True)
    x, n = batch([6, 2])
    out = bigru(gru, x, n)
    alone = bigru(gru, x[1:, :2], n[1:])
    assert torch.allclose(out[1, :2], alone[0], atol=1e-6)
    assert (out[1, 2:] == 0).all()
    # The backward direction of a row starts at its own last step: its state there saw that step only.
    last = bigru(gru, x[1:, 1:2], torch.tensor([1]))
    assert torch.allclose(out[1, 1, 4:], last[0, 0, 4:], atol=1e-6)


def test_the_hand_written_recurrence_backward_matches_the_numerical_gradient():
    g = torch.Generator().manual_seed(0)
    gates_x = torch.randn(2, 4, 3, 6, dtype=torch.float64, generator=g, requires_grad=True)  # [D, T, B, 3H]
    w_hh = torch.randn(2, 6, 2, dtype=torch.float64, generator=g, requires_grad=True)
    b_hh = torch.randn(2, 6, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: GRURecurrence.apply(*a, [3, 3, 2, 1]), (gates_x, w_hh, b_hh))
