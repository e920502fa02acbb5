"""Distractor text: every .txt book under a folder, split into sentences BABILong keeps.

BABILong fills its haystacks with PG-19 books split by an untrained Punkt tokenizer, keeping only
sentences of at least 10 GPT-2 tokens. A `BookPool` does that once per folder (cached for the
process, and on disk under $MEMREASONER_CACHE or ~/.cache/memreasoner) and keeps each sentence's
token count, so a haystack of any length is cut from the pool by cumulative sums rather than by
re-tokenising text.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import InputError
from ..files import write_atomic
from ..paths import cache_dir
from .sentences import split_sentences
from .tokens import gpt2_encoding

MIN_SENTENCE_TOKENS = 10

_GUTENBERG_START = re.compile(r"^\*\*\*\s*START OF.*$", re.MULTILINE | re.IGNORECASE)
_GUTENBERG_END = re.compile(r"^\*\*\*\s*END OF.*$", re.MULTILINE | re.IGNORECASE)


def strip_gutenberg(text: str) -> str:
    """The book's body: what lies between the `*** START OF` and `*** END OF` lines, if present."""
    start = _GUTENBERG_START.search(text)
    if start:
        text = text[start.end():]
    end = _GUTENBERG_END.search(text)
    if end:
        text = text[: end.start()]
    return text


def read_book(path: Path) -> str:
    """A book's body text with `\\n` line ends. Not UTF-8 means an old Latin-1 Gutenberg file."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return strip_gutenberg(text.replace("\r\n", "\n").replace("\r", "\n"))


@dataclass
class BookPool:
    """Usable sentences of a folder of books, book after book, with their GPT-2 token counts.

    `tokens[i]` counts sentence i as it sits in a haystack: after the single joining space.
    """

    folder: Path
    names: list[str]  # book paths relative to `folder`, in pool order
    sentences: list[str]
    tokens: np.ndarray  # int64, one per sentence
    book_starts: np.ndarray  # first sentence of each book, then len(sentences)

    @property
    def total_tokens(self) -> int:
        return int(self.tokens.sum())

    def sample(self, n_tokens: int, rng: np.random.Generator, allow_repeats: bool = False) -> tuple[list[str], np.ndarray]:
        """Consecutive sentences holding at least `n_tokens` tokens (the last one is cut by the caller).

        Books are read in a random order from a random sentence on, wrapping round to the first
        book's skipped start, so one pass never repeats a sentence. When a haystack needs more text
        than the whole pool, later passes re-use the books in fresh random orders (as BABILong does
        to reach 10M tokens) -- only when `allow_repeats`, since repeated text is a choice to make.
        """
        if n_tokens <= 0:
            return [], np.zeros(0, dtype=np.int64)
        if n_tokens > self.total_tokens and not allow_repeats:
            raise InputError(
                f"books too short: they hold {self.total_tokens:,} GPT-2 tokens in sentences of "
                f">= {MIN_SENTENCE_TOKENS} tokens, a haystack needs {n_tokens:,}; add books or allow "
                "repeated text (--repeat-books)",
                self.folder,
            )
        chosen: list[np.ndarray] = []
        remaining = n_tokens
        first_pass = True
        while remaining > 0:
            ids = self._pass_order(rng, rotate=first_pass)
            first_pass = False
            cumulative = np.cumsum(self.tokens[ids])
            stop = int(np.searchsorted(cumulative, remaining))  # first prefix holding `remaining` tokens
            if stop < len(ids):
                chosen.append(ids[: stop + 1])
                break
            chosen.append(ids)
            remaining -= int(cumulative[-1])
        picked = np.concatenate(chosen)
        return [self.sentences[i] for i in picked], self.tokens[picked]

    def _pass_order(self, rng: np.random.Generator, rotate: bool) -> np.ndarray:
        """Sentence ids of one pass over every book: random book order, optionally a random start."""
        order = rng.permutation(len(self.names))
        ids = np.concatenate([np.arange(self.book_starts[b], self.book_starts[b + 1]) for b in order])
        if rotate:
            ids = np.roll(ids, -int(rng.integers(len(ids))))
        return ids


_POOLS: dict[tuple, BookPool] = {}
_CACHE_FORMAT = 1  # bump when what a pool holds, or how it is made, changes


def book_files(folder: str | Path) -> list[Path]:
    """Every .txt under `folder` (recursively), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("books folder not found", folder)
    files = sorted(p for p in folder.rglob("*.txt") if p.is_file())
    if not files:
        raise InputError("no .txt books in this folder", folder)
    return files


_TEXTS: dict[tuple, list[str]] = {}


def book_texts(folder: str | Path) -> list[str]:
    """The body text of every book under `folder`, in `book_files` order; kept for the process."""
    files = book_files(folder)
    key = tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if key not in _TEXTS:
        _TEXTS[key] = [read_book(p) for p in files]
    return _TEXTS[key]


def load_books(folder: str | Path, min_tokens: int = MIN_SENTENCE_TOKENS) -> BookPool:
    """Every .txt under `folder` (recursively), as a `BookPool`; cached until a file changes."""
    folder = Path(folder)
    files = book_files(folder)
    encoding = gpt2_encoding()
    key = (
        _CACHE_FORMAT,
        str(folder.resolve()),
        min_tokens,
        encoding.name,
        encoding.n_vocab,
        tuple((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files),
    )
    if key not in _POOLS:
        _POOLS[key] = _read_cached(key, folder) or _write_cached(key, _tokenise_books(folder, files, min_tokens))
    return _POOLS[key]


def _cache_path(key: tuple) -> Path:
    return cache_dir() / "books" / f"{hashlib.sha256(repr(key).encode()).hexdigest()[:32]}.pickle"


def _read_cached(key: tuple, folder: Path) -> BookPool | None:
    try:
        with open(_cache_path(key), "rb") as f:
            names, sentences, tokens, starts = pickle.load(f)
    except (OSError, pickle.UnpicklingError, ValueError, EOFError):
        return None  # no cache yet, or a damaged one: tokenise again
    return BookPool(folder, names, sentences, tokens, starts)


def _write_cached(key: tuple, pool: BookPool) -> BookPool:
    """Save the pool for the next process; a cache that cannot be written is only a slower start."""
    path = _cache_path(key)
    try:
        write_atomic(path, pickle.dumps((pool.names, pool.sentences, pool.tokens, pool.book_starts),
                                        protocol=pickle.HIGHEST_PROTOCOL))
    except OSError:
        pass
    return pool


def _tokenise_books(folder: Path, files: list[Path], min_tokens: int) -> BookPool:
    encode = gpt2_encoding().encode_ordinary
    names, sentences, tokens, starts = [], [], [], []
    for path in tqdm(files, desc="tokenising books", unit="book", delay=2, leave=False):
        kept = 0
        for sentence in split_sentences(read_book(path)):
            if len(encode(sentence)) >= min_tokens:  # BABILong's filter counts the bare sentence
                if kept == 0:
                    starts.append(len(sentences))
                sentences.append(sentence)
                tokens.append(len(encode(" " + sentence)))
                kept += 1
        if kept:
            names.append(str(path.relative_to(folder)))
    if not sentences:
        raise InputError(f"no sentences of >= {min_tokens} GPT-2 tokens in the books here", folder)
    starts.append(len(sentences))
    return BookPool(folder, names, sentences, np.asarray(tokens, dtype=np.int64), np.asarray(starts, dtype=np.int64))
