import pytest
import torch
import torch.nn.functional as F

from memreasoner.model.memory import EpisodicMemory, ridge_pinv, write_read_reference


pytestmark = pytest.mark.usefixtures("one_thread")


def unit_rows(*shape, seed=0, dtype=torch.float64):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype), dim=-1)


def memory(solve="ridge", dim=64, slots=96, ridge=1e-8):
    torch.manual_seed(0)
    return EpisodicMemory(dim, slots, solve, ridge).double()


def padded(stories):
    return torch.nn.utils.rnn.pad_sequence(stories, batch_first=True)


def test_ridge_pinv_matches_exact_pinv_on_both_sides():
    for shape in [(5, 9), (9, 5)]:
        x = torch.randn(*shape, dtype=torch.float64)
        assert torch.allclose(ridge_pinv(x, 1e-12), torch.linalg.pinv(x), atol=1e-8)


def test_written_latent_reads_back_when_lines_fit():
    for solve in ("ridge", "exact"):
        mem = memory(solve)
        z = unit_rows(3, 20, 64)  # 20 lines <= C = 64
        written = mem.write(z)
        for j in (0, 7, 19):
            r = mem.read(written, z[:, j])
            assert torch.allclose(r, z[:, j], atol=1e-5), solve


def test_read_is_projection_onto_written_span():
    mem = memory()
    z = unit_rows(1, 10, 64)
    q = torch.randn(1, 64, dtype=torch.float64)
    r = mem.read(mem.write(z), q)
    projection = q @ torch.linalg.pinv(z[0]) @ z[0]
    assert torch.allclose(r, projection, atol=1e-6)


def test_read_returns_query_once_lines_exceed_latent_size():
    mem = memory(dim=32, slots=48)
    z = unit_rows(1, 40, 32)  # N > C: the span is the whole space
    q = torch.randn(1, 32, dtype=torch.float64)
    r = mem.read(mem.write(z), q)
    assert torch.allclose(r, q, atol=1e-5)


def test_batched_padded_read_equals_per_story_reference():
    mem = memory(ridge=1e-3)
    stories = [unit_rows(n, 64, seed=n) for n in (3, 17, 9)]
    q = torch.randn(3, 64, dtype=torch.float64)
    written = mem.write(padded(stories))
    w, r = mem.address(written, q), mem.read(written, q)
    w_ref, r_ref = write_read_reference(mem.prior, stories, q, "ridge", 1e-3)
    assert torch.allclose(w, w_ref, atol=1e-9)
    assert torch.allclose(r, r_ref, atol=1e-9)


def test_exact_and_ridge_agree_as_ridge_vanishes():
    stories = [unit_rows(n, 64, seed=n) for n in (4, 12)]
    q = torch.randn(2, 64, dtype=torch.float64)
    exact = memory("exact").read(memory("exact").write(padded(stories)), q)
    ridge = memory("ridge", ridge=1e-10).read(memory("ridge", ridge=1e-10).write(padded(stories)), q)
    assert torch.allclose(exact, ridge, atol=1e-5)


def test_no_nan_or_inf_with_ten_thousand_lines():
    for solve in ("ridge", "exact"):
        torch.manual_seed(0)
        mem = EpisodicMemory(384, 512, solve)
        z = unit_rows(1, 10_000, 384, dtype=torch.float32)
        z.requires_grad_(True)
        written, q = mem.write(z), torch.randn(1, 384)
        w, r = mem.address(written, q), mem.read(written, q)
        assert torch.isfinite(w).all() and torch.isfinite(r).all(), solve
        if solve == "ridge":
            r.sum().backward()
            assert torch.isfinite(z.grad).all()


def test_duplicate_lines_stay_finite_with_gradients():
    # Without temporal encoding a story may repeat a sentence: a rank-deficient write.
    mem = EpisodicMemory(64, 96).double()
    z = unit_rows(1, 6, 64)
    z = torch.cat([z, z[:, :2]], 1).requires_grad_(True)
    r = mem.read(mem.write(z), torch.randn(1, 64, dtype=torch.float64))
    r.sum().backward()
    assert torch.isfinite(r).all() and torch.isfinite(z.grad).all()
