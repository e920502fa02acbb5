"""RULER Variable Tracking (Hsieh et al., 2024): follow chains of assignments hidden in filler text.

A chain is `VAR ABCDE = 12345.`, `VAR FGHIJ = VAR ABCDE.`, ... (one statement per hop, each a line;
RULER writes them without the final period, we add it so every line is a sentence). Its statements
keep their order at random places in RULER's repeated filler; other chains, with other values, are
interleaved with it as distractors. The question asks for every variable holding the first chain's
value; the target is their names in chain order. Lengths are counted exactly as in the haystack
builder: "4k" is a context of exactly 3700 GPT-2 tokens, "0k" the bare chains (for training).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from tqdm import tqdm

from ..errors import InputError
from .haystack import context_tokens, hide_story
from .sample import Sample
from .tokens import gpt2_encoding

FILLER = ("The grass is green.", "The sky is blue.", "The sun is yellow.", "Here we go.", "There and back again.")
QUESTION = "Find all variables that are assigned the value {value} in the text above."
NAME_LETTERS = 5


@dataclass
class Chain:
    names: list[str]  # first holds the value, each next one is assigned the previous one
    value: str

    def statements(self) -> list[str]:
        first = [f"VAR {self.names[0]} = {self.value}."]
        return first + [f"VAR {b} = VAR {a}." for a, b in zip(self.names, self.names[1:])]


def make_chains(n_chains: int, hops: int, rng: np.random.Generator) -> list[Chain]:
    """`n_chains` chains of `hops` assignments after the value; all names and values distinct."""
    if n_chains < 1 or hops < 0:
        raise InputError(f"need at least one chain and no negative hops, got chains={n_chains}, hops={hops}")
    letters = np.array(list(string.ascii_uppercase))
    names: list[str] = []
    while len(names) < n_chains * (hops + 1):
        name = "".join(rng.choice(letters, NAME_LETTERS))
        if name not in names:
            names.append(name)
    values = rng.choice(np.arange(10000, 100000), size=n_chains, replace=False)
    size = hops + 1
    return [Chain(names[i * size : (i + 1) * size], str(int(values[i]))) for i in range(n_chains)]


@lru_cache(maxsize=1)
def _filler_counts() -> tuple[int, ...]:
    encode = gpt2_encoding().encode_ordinary
    return tuple(len(encode(" " + s)) for s in FILLER)


def filler_distractors(n_tokens: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """RULER's filler repeated from its start until it holds at least `n_tokens` tokens."""
    counts = np.array(_filler_counts(), dtype=np.int64)
    rounds = max(0, -(-n_tokens // int(counts.sum())))  # whole rounds of the five sentences, rounded up
    texts = list(FILLER) * rounds
    all_counts = np.tile(counts, rounds)
    stop = int(np.searchsorted(np.cumsum(all_counts), n_tokens)) + 1 if n_tokens > 0 else 0
    return texts[:stop], all_counts[:stop]


def vt_sample(length: str, rng: np.random.Generator, n_chains: int = 1, hops: int = 4, number: int = 0) -> Sample:
    """One Variable Tracking sample; its facts are the line indices of the queried (first) chain."""
    chains = make_chains(n_chains, hops, rng)
    owners = rng.permutation(np.repeat(np.arange(n_chains), hops + 1))  # a random merge keeping each chain's order
    pending = [iter(chain.statements()) for chain in chains]
    story = [next(pending[owner]) for owner in owners.tolist()]
    context = hide_story(story, filler_distractors, context_tokens(length), rng)
    text, starts = context.joined()
    queried = [context.story_at[i] for i, owner in enumerate(owners.tolist()) if owner == 0]
    return Sample(
        input=text,
        question=QUESTION.format(value=chains[0].value),
        target=" ".join(chains[0].names),
        task="vt",
        length=length,
        sentence_starts=starts,
        facts=queried,
        story=list(context.story_at),
        id=f"vt-{length}-{number}",
    )


def build_vt(
    lengths: Sequence[str], n_samples: int, seed: int = 42, n_chains: int = 1, hops: int = 4, progress: bool = True
) -> list[Sample]:
    """`n_samples` Variable Tracking samples per length, each seeded by (seed, length, number)."""
    if n_samples < 1:
        raise InputError(f"--samples must be at least 1, got {n_samples}")
    contexts = {length: context_tokens(length) for length in lengths}
    samples = []
    with tqdm(total=len(lengths) * n_samples, desc="building vt", unit="sample", delay=1, disable=not progress) as bar:
        for length in lengths:
            for number in range(n_samples):
                rng = np.random.default_rng([seed, contexts[length], number])
                samples.append(vt_sample(length, rng, n_chains, hops, number))
                bar.update()
    return samples
