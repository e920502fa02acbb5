"""The on-disk embedding cache: hits, invalidation by encoder identity, concurrent processes."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest
import torch

from memreasoner.model.embedding_cache import EmbeddingCache, encoder_identity


def test_put_then_get_returns_the_same_vectors_and_misses_are_absent(tmp_path):
    cache = EmbeddingCache(tmp_path / "e.sqlite", "enc-a", dim=4)
    vectors = np.arange(8, dtype=np.float32).reshape(2, 4)
    cache.put(["alpha", "beta"], vectors)
    got = cache.get(["beta", "gamma", "alpha", "beta"])
    assert set(got) == {0, 2, 3}
    np.testing.assert_array_equal(got[0], vectors[1])
    np.testing.assert_array_equal(got[2], vectors[0])
    assert len(cache) == 2


def test_other_encoder_misses_and_prune_drops_stale_rows(tmp_path):
    path = tmp_path / "e.sqlite"
    EmbeddingCache(path, "enc-a", 4).put(["alpha"], np.ones((1, 4)))
    other = EmbeddingCache(path, "enc-b", 4)
    assert other.get(["alpha"]) == {}
    assert other.prune() == 1
    assert EmbeddingCache(path, "enc-a", 4).get(["alpha"]) == {}


def test_identity_changes_with_weights_and_settings():
    w = [torch.zeros(3)]
    base = encoder_identity("m", w, pooling="mean", max_tokens=128)
    assert base == encoder_identity("m", [torch.zeros(3)], max_tokens=128, pooling="mean")
    assert base != encoder_identity("m", [torch.tensor([0.0, 0.0, 1e-6])], pooling="mean", max_tokens=128)
    assert base != encoder_identity("m", w, pooling="mean", max_tokens=64)


def _writer(path, worker, n):
    cache = EmbeddingCache(path, "enc", 8)
    for i in range(n):
        cache.put([f"w{worker}-{i}"], np.full((1, 8), worker * 1000 + i, dtype=np.float32))
        cache.get([f"w{1 - worker}-{i}"])  # read while the other process writes


def test_two_processes_write_and_read_concurrently(tmp_path):
    path = tmp_path / "e.sqlite"
    EmbeddingCache(path, "enc", 8)  # create the schema first
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 50)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    cache = EmbeddingCache(path, "enc", 8)
    got = cache.get([f"w{w}-{i}" for w in (0, 1) for i in range(50)])
    assert len(got) == 100
    assert got[50 + 7][0] == 1007


def test_line_encoder_serves_a_second_process_from_disk(tmp_path, monkeypatch):
    from memreasoner.model.encoder import LineEncoder

    lines = ["Mary went to the kitchen.", "It was a dark and stormy night."]
    first = LineEncoder()
    first.use_disk_cache(tmp_path / "e.sqlite")
    expected = first(lines)
    second = LineEncoder()  # a fresh in-memory cache, as in another process
    second.use_disk_cache(tmp_path / "e.sqlite")
    monkeypatch.setattr(second, "_encode", lambda texts: pytest.fail(f"encoded {texts} again"))
    assert torch.equal(second(lines), expected)
    # another truncation length is another encoder: it must not read these rows
    third = LineEncoder(max_tokens=8)
    third.use_disk_cache(tmp_path / "e.sqlite")
    assert third.disk_cache.get(lines) == {}
