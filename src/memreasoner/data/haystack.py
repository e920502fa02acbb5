"""BABILong-style haystacks: bAbI facts hidden, in order, in book text of an exact GPT-2 length.

The public protocol (Kuratov et al., 2024, `booydar/babilong`): a length "Nk" is N*1000 GPT-2 tokens
of which the context holds N*1000 - 300 (the rest is left for the question and answer, which stay
outside it); distractor sentences come from books split by an untrained Punkt tokenizer, keeping
sentences of at least 10 tokens; every story sentence before the question keeps its order and goes
into a uniformly random gap between distractor sentences; the last distractor sentence is cut so the
context has exactly the target length; "0k" is the bare story.

Lines are joined by single spaces. GPT-2's pre-tokeniser never lets a token span a space followed by
a non-space character, so the joined text's token count is the sum of per-line counts (each line
counted after its space, the first without). That is what makes building fast -- lines are counted
once, in the book pool -- and the one full encode of the result per sample checks it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tiktoken
from tqdm import tqdm

from ..errors import InputError
from .babi import BabiSample
from .books import BookPool
from .sample import Sample
from .tokens import gpt2_encoding

QUESTION_MARGIN = 300  # tokens of each length left for the question and answer
STANDARD_LENGTHS = ("0k", "1k", "2k", "4k", "8k", "16k", "32k", "64k", "128k", "256k", "512k", "1M", "10M")
_LENGTH = re.compile(r"^(\d+)([kM])$")
_MAX_ATTEMPTS = 16  # a draw fails (about 8% of the time) when no prefix of its last sentence has the exact count

# (n_tokens, rng) -> (sentences holding at least n_tokens, each sentence's tokens after a space)
DistractorSource = Callable[[int, np.random.Generator], tuple[list[str], np.ndarray]]


def length_tokens(length: str) -> int:
    """"4k" -> 4000, "1M" -> 1000000 (GPT-2 tokens, question included)."""
    match = _LENGTH.match(length)
    if not match:
        raise InputError(f"bad length {length!r}: use N followed by k or M, e.g. {', '.join(STANDARD_LENGTHS)}")
    return int(match[1]) * (1000 if match[2] == "k" else 1_000_000)


def context_tokens(length: str) -> int:
    """The exact GPT-2 size of the context at `length` (0 for "0k", the bare story)."""
    total = length_tokens(length)
    if total == 0:
        return 0
    if total <= QUESTION_MARGIN:
        raise InputError(f"length {length!r} leaves no room for a context after the {QUESTION_MARGIN}-token question margin")
    return total - QUESTION_MARGIN


def parse_lengths(spec: str) -> list[str]:
    """"0k,1k,4k" -> ["0k", "1k", "4k"], each checked."""
    lengths = [part.strip() for part in spec.split(",") if part.strip()]
    if not lengths:
        raise InputError("no lengths given (e.g. --lengths 0k,1k,4k)")
    for length in lengths:
        context_tokens(length)
    return lengths


@dataclass
class Context:
    lines: list[str]
    story_at: list[int]  # line index of each story sentence, story order

    def joined(self) -> tuple[str, list[int]]:
        """The lines joined by single spaces, and where each line starts."""
        starts, offset = [], 0
        for line in self.lines:
            starts.append(offset)
            offset += len(line) + 1
        return " ".join(self.lines), starts


def hide_story(
    story: Sequence[str],
    distractors: DistractorSource | None,
    n_tokens: int,
    rng: np.random.Generator,
    encoding: tiktoken.Encoding | None = None,
    where: tuple[str | Path | None, int | None] = (None, None),
) -> Context:
    """`story` in order in uniformly random gaps of distractor text; exactly `n_tokens` when joined.

    `distractors` may be None only for `n_tokens` 0 (the bare story). `where` (file, line) names the
    story in the error raised when it alone is longer than `n_tokens`.
    """
    if n_tokens == 0:
        return Context(list(story), list(range(len(story))))
    encoding = encoding or gpt2_encoding()
    encode = encoding.encode_ordinary
    spaced = np.array([len(encode(" " + s)) for s in story], dtype=np.int64)
    story_tokens = len(encode(story[0])) + int(spaced[1:].sum())
    if story_tokens > n_tokens:
        raise InputError(f"the story alone has {story_tokens} GPT-2 tokens, more than the {n_tokens}-token context asked for", *where)
    for attempt in range(_MAX_ATTEMPTS):
        texts, counts = distractors(n_tokens - story_tokens + attempt, rng)
        context = _fill(list(story), spaced, texts, counts, n_tokens, rng, encoding)
        if context is not None:
            return context
    raise RuntimeError(f"could not reach exactly {n_tokens} tokens in {_MAX_ATTEMPTS} attempts")


def _fill(
    story: list[str],
    story_counts: np.ndarray,
    texts: list[str],
    counts: np.ndarray,
    n_tokens: int,
    rng: np.random.Generator,
    encoding: tiktoken.Encoding,
) -> Context | None:
    """Interleave, cut the last distractor sentence to the exact length, verify; None to retry."""
    encode = encoding.encode_ordinary
    n_lines = len(story) + len(texts)
    story_at = np.sort(rng.choice(len(texts) + 1, size=len(story))) + np.arange(len(story))
    is_story = np.zeros(n_lines, dtype=bool)
    is_story[story_at] = True
    distractor_at = np.flatnonzero(~is_story)
    lines: list[str] = [""] * n_lines
    line_counts = np.empty(n_lines, dtype=np.int64)
    for at, text in zip(story_at.tolist(), story):
        lines[at] = text
    for at, text in zip(distractor_at.tolist(), texts):
        lines[at] = text
    line_counts[story_at] = story_counts
    line_counts[distractor_at] = counts
    line_counts[0] = len(encode(lines[0]))  # the first line has no space before it
    if len(texts):
        last = int(distractor_at[-1])
        keep = int(line_counts[last]) - (int(line_counts.sum()) - n_tokens)
        if keep < 1 or keep > line_counts[last]:
            return None
        cut = cut_to_tokens(encoding, lines[last], keep, after_space=last > 0)
        if cut is None:
            return None
        lines[last] = cut
    context = Context(lines, story_at.tolist())
    if len(encode(context.joined()[0])) != n_tokens:  # cannot happen if the additivity argument holds
        return None
    return context


def cut_to_tokens(encoding: tiktoken.Encoding, text: str, n: int, after_space: bool = True) -> str | None:
    """A prefix of `text` that is exactly `n` tokens (counted after a space if `after_space`).

    BPE is not prefix-stable (a word cut after its first token may re-encode as two), so try token
    cut points near `n` until the re-encoded prefix has exactly `n` tokens.
    """
    lead = " " if after_space else ""
    tokens = encoding.encode_ordinary(lead + text)
    for size in sorted(range(max(1, n - 8), min(len(tokens), n + 8) + 1), key=lambda s: abs(s - n)):
        candidate = encoding.decode_bytes(tokens[:size]).decode("utf-8", errors="ignore").strip()
        if candidate and len(encoding.encode_ordinary(lead + candidate)) == n:
            return candidate
    return None


def book_distractors(pool: BookPool, allow_repeats: bool = False) -> DistractorSource:
    return lambda n_tokens, rng: pool.sample(n_tokens, rng, allow_repeats)


def build_haystacks(
    questions: list[tuple[int, BabiSample]],
    lengths: Sequence[str],
    books: BookPool | None,
    seed: int = 42,
    allow_repeats: bool = False,
    source: str | Path | None = None,
    progress: bool = True,
) -> list[Sample]:
    """One `Sample` per (length, question): the question's story hidden in book text.

    Each sample has its own random stream, seeded by (seed, length, question number), so a sample
    is the same whichever other lengths or questions are built with it.
    """
    contexts = {length: context_tokens(length) for length in lengths}
    if books is None and any(contexts.values()):
        raise InputError("lengths above 0k need a books folder")
    distractors = book_distractors(books, allow_repeats) if books is not None else None
    encoding = gpt2_encoding()
    samples = []
    with tqdm(total=len(lengths) * len(questions), desc="building", unit="sample", delay=1, disable=not progress) as bar:
        for length in lengths:
            for number, question in questions:
                rng = np.random.default_rng([seed, contexts[length], number])
                where = (source, question.meta.get("line"))
                context = hide_story(question.lines, distractors, contexts[length], rng, encoding, where)
                samples.append(_to_sample(question, context, length, number))
                bar.update()
    return samples


def _to_sample(question: BabiSample, context: Context, length: str, number: int) -> Sample:
    text, starts = context.joined()
    return Sample(
        input=text,
        question=question.question,
        target=question.answer,
        task=question.task,
        length=length,
        sentence_starts=starts,
        facts=[context.story_at[i] for i in question.support],
        story=list(context.story_at),
        id=f"{question.task}-{length}-{number}",
    )
