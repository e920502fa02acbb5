import pytest
import torch
import torch.nn.functional as F

from memreasoner.model.temporal import TemporalEncoding


def lines(n=6, dim=32, seed=0):
    return F.normalize(torch.randn(1, n, dim, generator=torch.Generator().manual_seed(seed)), dim=-1)


def encode(kind, z):
    torch.manual_seed(0)
    return TemporalEncoding(z.shape[-1], kind, hidden=16)(z, torch.tensor([z.shape[1]]))


def test_bigru_encodings_depend_on_order():
    z = lines()
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    # The same line at a different place among the others gets a different latent.
    assert not torch.allclose(encode("bigru", z)[:, perm], encode("bigru", z[:, perm]), atol=1e-4)


def test_sinusoidal_encodings_depend_on_position():
    z = lines()
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    assert not torch.allclose(encode("sinusoidal", z)[:, perm], encode("sinusoidal", z[:, perm]), atol=1e-4)


def test_none_is_permutation_equivariant():
    z = lines()
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    assert torch.allclose(encode("none", z)[:, perm], encode("none", z[:, perm]))


@pytest.mark.parametrize("kind", ["bigru", "sinusoidal", "none"])
def test_padding_neither_leaks_nor_survives(kind):
    torch.manual_seed(0)
    enc = TemporalEncoding(32, kind, hidden=16)
    short, other = lines(4, seed=1), lines(7, seed=2)
    alone = enc(short, torch.tensor([4]))
    batch = torch.zeros(2, 7, 32)
    batch[0, :4], batch[1] = short[0], other[0]
    out = enc(batch, torch.tensor([4, 7]))
    assert torch.allclose(out[0, :4], alone[0], atol=1e-6)
    assert (out[0, 4:] == 0).all()
    assert torch.allclose(out.norm(dim=-1)[1], torch.ones(7))


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        TemporalEncoding(8, "lstm")
