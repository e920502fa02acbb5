"""The fast path (static first pass -> full encoder -> IU) reads the same lines as the faithful path
(every line through the full encoder -> IU), and a checkpoint carries its first pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model2vec import StaticModel
from tokenizers import Tokenizer

from memreasoner.data.babi import load_babi
from memreasoner.data.benchmark import build_benchmark
from memreasoner.model.encoder import default_encoder_path
from memreasoner.model.memreasoner import MemReasoner, MemReasonerConfig
from memreasoner.paths import babi_file
from memreasoner.reader import load_reader


@pytest.fixture(scope="module")
def model():
    """Untrained, but with IU and the first pass fitted on qa1's training lines: which line a hop
    lands on is arbitrary, yet it must not depend on the path that picked the lines."""
    torch.manual_seed(0)
    m = MemReasoner(MemReasonerConfig(task="qa1", gru_hidden=16, slots=32, decoder_layers=1, decoder_dim=32,
                                      decoder_heads=2, max_answer_tokens=3, first_pass_keep=48, first_pass_min_lines=0,
                                      embedding_cache=False))
    train_lines = sorted({line for s in load_babi(babi_file("qa1", "train")) for line in s.lines})
    m.fit_relevance(m.encoder(train_lines), train_lines)
    # random static vectors over MiniLM's tokenizer (no 20 s distillation in the suite): bAbI's few
    # words still make the training lines a tight cluster for the Gaussian
    tokenizer = Tokenizer.from_file(f"{default_encoder_path()}/tokenizer.json")
    vectors = np.random.default_rng(0).standard_normal((tokenizer.get_vocab_size(), 64)).astype(np.float32)
    m.fit_first_pass(train_lines, StaticModel(vectors=vectors, tokenizer=tokenizer, normalize=False))
    return m.eval()


def test_fast_and_faithful_paths_read_the_same_lines(model):
    samples = build_benchmark("qa1", ["4k"], 4, seed=11, progress=False)
    assert all(len(s.lines()) > 2 * model.config.first_pass_keep for s in samples)
    fast = model.with_options(first_pass=True).answer(samples)
    faithful = model.with_options(first_pass=False).answer(samples)
    model.with_options(first_pass=True)
    for s, a, b in zip(samples, fast, faithful):
        assert a.hops == b.hops and a.text == b.text
        assert a.trace["kept_lines"] == b.trace["kept_lines"] == len(s.story)


def test_first_pass_hands_the_full_encoder_only_its_pick(model, monkeypatch):
    sample = build_benchmark("qa1", ["4k"], 1, seed=12, progress=False)[0]
    seen = []
    encode = model.encoder.forward
    monkeypatch.setattr(model.encoder, "forward", lambda texts: seen.extend(texts) or encode(texts))
    model.answer([sample])
    assert len(seen) == model.config.first_pass_keep + 1  # its pick, and the question
    assert set(sample.lines()[i] for i in sample.story) <= set(seen)


def test_checkpoint_keeps_the_fitted_first_pass(model, tmp_path):
    model.save(tmp_path / "ckpt")
    loaded = load_reader(str(tmp_path / "ckpt"))
    assert torch.equal(loaded.first_pass.precision, model.first_pass.precision)
    lines = build_benchmark("qa1", ["4k"], 1, seed=13, progress=False)[0].lines()
    assert loaded.candidate_lines(lines) == model.candidate_lines(lines)


def test_a_checkpoint_saved_with_the_first_pass_switched_off_keeps_it(model, tmp_path):
    model.with_options(first_pass=False).save(tmp_path / "off")
    model.with_options(first_pass=True)
    loaded = load_reader(str(tmp_path / "off"))
    assert loaded.first_pass is not None and not loaded.config.first_pass
    lines = build_benchmark("qa1", ["4k"], 1, seed=14, progress=False)[0].lines()
    assert loaded.candidate_lines(lines) == list(range(len(lines)))
    assert loaded.with_options(first_pass=True).candidate_lines(lines) == model.candidate_lines(lines)


def test_the_first_pass_never_drops_a_line_that_matches_a_training_template(model, monkeypatch):
    sample = build_benchmark("qa1", ["4k"], 1, seed=13, unseen=True, progress=False)[0]
    lines = sample.lines()
    # a static pass that misses every story line, as it does for words it has never seen
    book = [i for i in range(len(lines)) if i not in sample.story][:model.config.first_pass_keep]
    monkeypatch.setattr(model.first_pass, "select", lambda _: book)
    picked = model.candidate_lines(lines)
    assert picked == sorted(set(book) | set(sample.story))  # unseen names and places still fill template slots
