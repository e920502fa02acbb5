"""The static first pass keeps story lines and drops book lines, learned from training lines alone."""

from __future__ import annotations

import numpy as np
import pytest
from model2vec import StaticModel
from tokenizers import Tokenizer

from memreasoner.data.babi import load_babi
from memreasoner.data.benchmark import build_benchmark
from memreasoner.model.encoder import default_encoder_path
from memreasoner.model.first_pass import StaticFirstPass
from memreasoner.paths import babi_file


@pytest.fixture(scope="module")
def embedder():
    """A static model over MiniLM's real tokenizer with random token vectors: no distillation needed,
    yet lines built from bAbI's few words still form a tight cluster the Gaussian must find."""
    tokenizer = Tokenizer.from_file(f"{default_encoder_path()}/tokenizer.json")
    vectors = np.random.default_rng(0).standard_normal((tokenizer.get_vocab_size(), 64)).astype(np.float32)
    return StaticModel(vectors=vectors, tokenizer=tokenizer, normalize=False)


def test_story_lines_rank_above_book_lines(embedder):
    first = StaticFirstPass(embedder, keep=64, min_lines=0)
    first.fit([line for s in load_babi(babi_file("qa1", "train")) for line in s.lines])
    for sample in build_benchmark("qa1", ["16k"], 3, seed=5, progress=False):
        lines = sample.lines()
        kept = first.select(lines)
        assert len(kept) == 64 and kept == sorted(kept)
        assert set(sample.story) <= set(kept), "a story line was dropped by the first pass"


def test_short_inputs_pass_through_untouched(embedder):
    first = StaticFirstPass(embedder, keep=8, min_lines=100)
    assert first.select(["a line"] * 50) == list(range(50))


def test_streaming_keeps_the_same_lines_as_one_pass(embedder):
    first = StaticFirstPass(embedder, keep=32, min_lines=0, stream_lines=1_000_000)
    first.fit([line for s in load_babi(babi_file("qa1", "train")) for line in s.lines])
    lines = build_benchmark("qa1", ["8k"], 1, seed=6, progress=False)[0].lines()
    whole = first.select(lines)
    first.stream_lines = 50
    assert first.select(lines) == whole
