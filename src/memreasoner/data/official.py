"""BABILong samples made the way its official generator makes the releases (`build --style official`).

Real BABILong files carry only `input`, `question` and `target`, and their text is made differently
from our builder's (`haystack.py` keeps whole sentences and knows where each line starts). A model
that is only ever measured on our files may lean on that. This module follows the generator of
booydar/babilong (`babilong/babilong_utils.py`: TaskDataset, SentenceSampler, NoiseInjectionDataset,
driven by `data/create_tasks.py`), so our facts, books and seeds can be written as a release is:

- A length "Nk" has sample_size = N*1000 - 300 GPT-2 tokens ("0k": the bare story). A question's
  facts are all the story sentences before it. Above 0k a question is left out when its story plus
  the question line are more than max_n_facts = sample_size // 8 lines (TaskDataset counts the
  question's row too), and question numbers then count only the questions kept.
- Noise: a random book from a random character on, about 10 characters per token needed, split by
  an untrained Punkt tokenizer, the slice's first and last sentence dropped (they are cut pieces);
  sentences under 10 GPT-2 tokens skipped; slice after slice until the sentences hold the tokens
  the facts leave. The last one is cut by tokens so the total is exact: a fragment without its end.
- Each fact goes into a gap drawn uniformly, with replacement, from 0..len(noise) and sorted: before
  the noise sentence with that number, several in story order, and after the cut fragment for
  len(noise).
- The token lists in that order are decoded; `input` is the text stripped. `question` is the bAbI
  file's question as written, trailing space included ("Where is John? "); `target` the answer.

One reading is ours: every fact and noise sentence is tokenised after one space (" " + sentence),
so the text reads as sentences joined by single spaces, as the public 0k release does, and a fact
after the cut fragment reads "Still later he removed to Daniel travelled to the office.". (The
generator's code as published tokenises the bare sentence, which would glue "office.Mary"; the
releases' text has the spaces.) The 10-token floor counts the bare sentence, as the code does. Two
differences are deliberate: each sample has its own random stream, where the official sampler
hands one sample's left-over sentences to the next, and the books are ours, not PG-19.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tiktoken

from ..errors import InputError
from .babi import BabiSample
from .books import MIN_SENTENCE_TOKENS
from .sentences import split_sentences

TOKENS_PER_FACT = 8  # max_n_facts = sample_size // 8
CHARS_PER_TOKEN = 10  # characters of book read per token of noise needed
_MAX_BARREN_SLICES = 1000  # slices in a row without a usable sentence before giving up on the books


def max_n_facts(sample_size: int) -> int | None:
    """The generator's cap on a question's lines (story and question) at this size; None at 0k."""
    return sample_size // TOKENS_PER_FACT if sample_size > 0 else None


def keep_questions(questions: Sequence[BabiSample], sample_size: int) -> list[int]:
    """Numbers of the questions the generator keeps at `sample_size` (all of them at 0k)."""
    cap = max_n_facts(sample_size)
    return [n for n, q in enumerate(questions) if cap is None or len(q.lines) + 1 <= cap]


def questions_as_written(text: str) -> dict[int, str]:
    """Each question exactly as the bAbI text writes it (trailing space kept), by line number."""
    return {n: raw.partition(" ")[2].split("\t")[0] for n, raw in enumerate(text.splitlines(), start=1) if "\t" in raw}


@dataclass
class Haystack:
    """One sample's token lists: facts and noise sentences (each after a space), and each fact's gap."""

    facts: list[list[int]]
    noise: list[list[int]]  # the last one cut to make the total exact
    positions: list[int]  # sorted; fact i goes before noise[positions[i]], after the last if len(noise)

    def tokens(self) -> list[int]:
        gaps: list[list[list[int]]] = [[] for _ in range(len(self.noise) + 1)]
        for fact, gap in zip(self.facts, self.positions):
            gaps[gap].append(fact)
        for gap, sentence in enumerate(self.noise):
            gaps[gap].append(sentence)
        return [token for gap in gaps for piece in gap for token in piece]

    def text(self, encoding: tiktoken.Encoding) -> str:
        return encoding.decode(self.tokens()).strip()


def make_haystack(
    facts: Sequence[str],
    books: Sequence[str],
    sample_size: int,
    rng: np.random.Generator,
    encoding: tiktoken.Encoding,
    where: tuple[str | Path | None, int | None] = (None, None),
    books_folder: str | Path | None = None,
) -> Haystack:
    """`facts` in random gaps of book sentences: exactly `sample_size` tokens, or the facts alone at 0.

    `where` (file, line) names the story, `books_folder` the books, in the errors raised.
    """
    encode = encoding.encode_ordinary
    fact_tokens = [encode(" " + fact) for fact in facts]
    if sample_size == 0:
        return Haystack(fact_tokens, [], [0] * len(fact_tokens))
    needed = sample_size - sum(map(len, fact_tokens))
    if needed < 0:
        raise InputError(f"the story alone has {sample_size - needed} GPT-2 tokens, more than the {sample_size}-token context", *where)
    noise = noise_sentences(books, needed, rng, encoding, books_folder)
    positions = np.sort(rng.integers(0, len(noise) + 1, size=len(fact_tokens)))
    return Haystack(fact_tokens, noise, positions.tolist())


def noise_sentences(
    books: Sequence[str],
    n_tokens: int,
    rng: np.random.Generator,
    encoding: tiktoken.Encoding,
    books_folder: str | Path | None = None,
) -> list[list[int]]:
    """Book sentences, each tokenised after a space, holding exactly `n_tokens`; the last one cut."""
    encode = encoding.encode_ordinary
    pieces: list[list[int]] = []
    total = barren = 0
    while total < n_tokens:
        taken = len(pieces)
        for sentence in _book_slice(books, n_tokens, rng):
            if len(encode(sentence)) < MIN_SENTENCE_TOKENS:  # the generator counts the bare sentence
                continue
            pieces.append(encode(" " + sentence))
            total += len(pieces[-1])
            if total >= n_tokens:
                break
        barren = barren + 1 if len(pieces) == taken else 0
        if barren == _MAX_BARREN_SLICES:
            raise InputError(f"{barren} random slices of the books gave no sentence of >= {MIN_SENTENCE_TOKENS} GPT-2 tokens", books_folder)
    if total > n_tokens:
        pieces[-1] = pieces[-1][: len(pieces[-1]) - (total - n_tokens)]
    return pieces


def _book_slice(books: Sequence[str], n_tokens: int, rng: np.random.Generator) -> list[str]:
    """Whole sentences of a random book from a random character on (the cut first and last dropped)."""
    text = books[int(rng.integers(len(books)))]
    if not text:
        return []
    start = int(rng.integers(len(text)))
    return split_sentences(text[start : start + n_tokens * CHARS_PER_TOKEN])[1:-1]


def official_record(question: BabiSample, as_written: str, text: str, length: str, number: int) -> dict:
    """A release record (what a real file holds) plus task, length and id."""
    return {
        "input": text,
        "question": as_written,
        "target": question.answer,
        "task": question.task,
        "length": length,
        "id": f"{question.task}-{length}-{number}",
    }
