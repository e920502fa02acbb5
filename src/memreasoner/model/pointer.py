"""The decoder's copy mechanism (pointer-generator, See et al. 2017): emit words never seen in training.

At each output step t the decoder mixes two distributions over GPT-2 ids:

    p(w) = g_t * p_vocab(w) + (1 - g_t) * sum_{n, j: src[n, j] = w} s_n * a_t[n, j]

  s_n        how much candidate line n is the line the hops chose (one-hot at inference; the soft
             attention over the story's lines in training, so copying stays differentiable);
  a_t[n, :]  attention of the decoder state over line n's tokens (a softmax within each line);
  g_t        a learned gate, sigmoid of the decoder state.

Keys are built by role, not identity: a small BiGRU reads each line's tokens through their *shape*
(leading space, capitalised, alphabetic, digit, punctuation, sentence end) plus their position
from the start and from the end of the line. An unseen word ("cellar") therefore looks exactly like
a seen one ("kitchen") in the same slot, and "the last word before the full stop" is found for both.
No embedding of a content word enters the keys, so nothing learned about the answer word itself is
needed. The one identity the keys do see (`words=True`; MemReasonerConfig.copy_keys "words" and
"question") is that of closed-class words, a fixed short list (the, to, of, is...): they bound an answer phrase.
By shape alone " the" is just another lower-case word, so "to the living room." and "to the
market." put the answer's first word at different distances from the end with nothing to tell
which: the decoder copied "room" for "living room" and "the market" for "market".

The keys may also see whether a token's word is one of the question's (`question=True`; copy_keys
"question", the default), the exact-match feature of reading-comprehension readers
(DrQA). An answer is almost never a word of its question ("Who gave the umbrella to Grace?" -> the
other name of "Alice passed the umbrella to Grace."), and the flag says so for any word, seen in
training or not. Without it the pointer tells the two names apart only through the decoder state,
which an unseen name in the question perturbs: it copied the question's name back. The flag is per
decoder row (it depends on the row's question; autoencoding rows have none) and is added to the keys
only, after the line's BiGRU, so a line's role states stay question-free.

Multi-piece words are copied piece by piece through feedback: each input token of the decoder also
gets the (projected) encoder state of the line position(s) it matches by id, so after emitting
" cell" the decoder knows it copied position j and can point at j + 1 ("ar"). The autoencoding loss
(reconstruct a whole line) trains exactly this step-to-the-next-position behaviour.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data.tokens import gpt2_encoding
from .bigru import bigru_packed

MAX_POSITION = 64  # longer lines share the last position embedding (at either end)
MASKED = -1e9  # finite: a padded line (all masked) gets a uniform, zero-weighted attention, not NaN
SENTENCE_END = {".", "?", "!"}
# Closed-class English words (articles, possessives, prepositions, particles, conjunctions, auxiliaries,
# pronouns): never an answer, often the edge of one. A token is one of them whatever its case or space.
FUNCTION_WORDS = ("the", "a", "an", "this", "that", "these", "those", "his", "her", "its", "their", "my", "your",
                  "our", "some", "to", "into", "in", "on", "onto", "at", "from", "of", "with", "by", "for", "towards",
                  "toward", "back", "up", "down", "over", "under", "inside", "and", "or", "but", "then", "is", "was",
                  "were", "are", "be", "has", "had", "have", "he", "she", "it", "they", "him", "them", "there")


@functools.lru_cache(maxsize=65536)
def token_words(ids: tuple[int, ...]) -> tuple[str | None, ...]:
    """The lowercase word (a run of letters and digits, as word_match.words splits them) each token of a
    line belongs to, None for tokens outside any word: (" sc", "ullery", ".") -> ("scullery", "scullery", None)."""
    encoding = gpt2_encoding()
    pieces = [encoding.decode_single_token_bytes(i).decode("utf-8", errors="replace") for i in ids]
    text = "".join(pieces).lower()
    owner: list[str | None] = [None] * len(text)  # the word each character belongs to
    for m in re.finditer(r"[a-z0-9]+", text):
        owner[m.start():m.end()] = [m.group()] * (m.end() - m.start())
    out, start = [], 0
    for piece in pieces:
        out.append(next((w for w in owner[start:start + len(piece)] if w is not None), None))
        start += len(piece)
    return tuple(out)


@functools.lru_cache(maxsize=65536)
def word_starts(ids: tuple[int, ...]) -> tuple[int, ...]:
    """The positions of a line's tokens that begin a word or stand outside any (punctuation): a piece
    glued to a letter or digit before it ("cote" after " dove") continues a word and is left out."""
    encoding = gpt2_encoding()
    pieces = [encoding.decode_single_token_bytes(i).decode("utf-8", errors="replace") for i in ids]
    return tuple(j for j, piece in enumerate(pieces)
                 if not (j and piece[:1].isalnum() and pieces[j - 1][-1:].isalnum()))


def word_start_index(stories: list[list[list[int]]]) -> tuple[torch.Tensor, torch.Tensor]:
    """S stories of token-id lines -> ([S, N, L'] each line's word starts (`word_starts`) in order, 0 after
    them; [S, N, L'] True where a start is): what `at_word_starts` picks, built once for every grid."""
    starts = [[word_starts(tuple(line)) for line in s] for s in stories]
    N = max(len(s) for s in stories)
    width = max(1, max((len(w) for s in starts for w in s), default=1))
    shape = (len(stories), N, width)
    return (grid_tensor(padded(starts, N, width, 0), shape, torch.long),
            grid_tensor(padded(starts, N, width, -1), shape, torch.long) >= 0)


def padded(stories: list[list[list]], n: int, width: int, fill) -> list[list[list]]:
    """S stories of value lists per line -> S x n x width nested lists, `fill` after each line and story."""
    empty = [fill] * width
    return [[list(line) + [fill] * (width - len(line)) for line in s] + [empty] * (n - len(s)) for s in stories]


def grid_tensor(nested: list, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A long or float tensor of `shape` from nested lists that fill it (`padded`'s). A training batch builds a
    dozen such grids, and torch.tensor walks nested lists several times slower than numpy reads them flattened."""
    flat = nested
    for _ in range(len(shape) - 1):
        flat = itertools.chain.from_iterable(flat)
    numpy_type = np.int64 if dtype == torch.long else np.float32
    return torch.from_numpy(np.fromiter(flat, dtype=numpy_type)).view(shape)  # a ragged grid fails the view


def at_word_starts(grid: torch.Tensor, starts: tuple[torch.Tensor, torch.Tensor], fill: float) -> torch.Tensor:
    """[S, N, L] values per token of the stories' lines -> [S, N, L'] the values at each line's word starts
    (`word_start_index`), in order, `fill` after them."""
    index, keep = (t.to(grid.device) for t in starts)
    return grid.gather(2, index).masked_fill(~keep, fill)


def token_grid(stories: list[list[list[int]]]) -> torch.Tensor:
    """S stories of token-id lines -> [S, N, L] ids, -1 padding."""
    N = max(len(s) for s in stories)
    L = max(1, max((len(line) for s in stories for line in s), default=1))
    return grid_tensor(padded(stories, N, L, -1), (len(stories), N, L), torch.long)


def asked_tokens(stories: list[list[list[int]]], story_of_row: list[int],
                 questions: list[frozenset[str] | tuple[str, ...] | None], shape: tuple[int, int],
                 ranked: bool = False) -> torch.Tensor:
    """[R, N, L]: 1 where a token of row r's story belongs to a word of row r's question (None: no question),
    0 elsewhere; `ranked`: the word's place among the question's words instead (1 for its first word, 2
    for its second...; the questions then ordered tuples, word_match.ordered_words)."""
    def flag(w: str | None, question) -> float:
        return float(question.index(w) + 1 if w in question else 0) if ranked else float(w in question)

    flags = [[[flag(w, question) for w in token_words(tuple(line))] for line in stories[s]] if question else []
             for s, question in zip(story_of_row, questions)]
    return grid_tensor(padded(flags, *shape, 0.0), (len(story_of_row), *shape), torch.float)


@functools.lru_cache(maxsize=2)
def token_shapes(words: bool = True) -> torch.Tensor:
    """[50257, 6 (+ len(FUNCTION_WORDS) with words)] float: the shape of every GPT-2 token (and which
    closed-class word it is), the only thing the copy keys see of it."""
    encoding = gpt2_encoding()
    closed = FUNCTION_WORDS if words else ()
    rows = []
    for i in range(encoding.n_vocab):
        text = encoding.decode_single_token_bytes(i).decode("utf-8", errors="replace")
        word = text.strip()
        rows.append((text[:1].isspace(), word[:1].isupper(), word.isalpha(), any(c.isdigit() for c in word),
                     bool(word) and not any(c.isalnum() for c in word), word in SENTENCE_END,
                     *(word.lower() == w for w in closed)))
    return torch.tensor(rows, dtype=torch.float)


@dataclass
class CopySource:
    """What each decoder row may copy from: the token ids of a story's candidate lines and, per row,
    how much each line is the chosen one. Rows may share a story (training decodes the answer and
    the autoencoded line of one story from the same lines)."""

    ids: torch.Tensor  # [S, N, L] GPT-2 ids of each story's lines, -1 padding
    weights: torch.Tensor  # [R, N] line weights per decoder row (rows sum to 1)
    story: torch.Tensor  # [R] which story each row copies from
    asked: torch.Tensor  # [R, N, L] 1 where the token's word is in the row's question (0 on padding)

    @classmethod
    def from_lines(cls, stories: list[list[list[int]]], weights: torch.Tensor, story: torch.Tensor | None = None,
                   questions: list[frozenset[str] | None] | None = None) -> "CopySource":
        """stories: S lists of N_s token-id lists (document order, as the weights); questions: per row
        the words of its question (word_match.words), None for a row without one (default: all None)."""
        ids = token_grid(stories)
        story = torch.arange(len(weights)) if story is None else story
        asked = asked_tokens(stories, story.tolist(), questions or [None] * len(weights), ids.shape[1:])
        return cls(ids.to(weights.device), weights, story.to(weights.device), asked.to(weights.device))

    def rows(self, rows: list[int]) -> "CopySource":
        return CopySource(self.ids, self.weights[rows], self.story[rows], self.asked[rows])


@dataclass
class Encoded:
    ids: torch.Tensor  # [R, N, L] (-1 padding)
    weights: torch.Tensor  # [R, N]
    states: torch.Tensor  # [R, N, L, E] role states of the line tokens
    keys: torch.Tensor  # [R, N, L, E]


class TokenReader(nn.Module):
    """Reads lines token by token through their shapes and positions, never a content word's identity
    (the module docstring): the copy keys' states, and the hops' token-level keys (line_roles.py)."""

    def __init__(self, dim: int, words: bool = True):
        super().__init__()
        self.register_buffer("shapes", token_shapes(words).clone(), persistent=False)  # derived, never saved
        self.shape = nn.Linear(self.shapes.shape[1], dim)
        self.from_start = nn.Embedding(MAX_POSITION, dim)
        self.from_end = nn.Embedding(MAX_POSITION, dim)
        self.rnn = nn.GRU(dim, dim // 2, batch_first=True, bidirectional=True)

    def read_tokens(self, ids: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """ids [S, N, L] (-1 padding), extra: inputs added to every token ([S, N, L, E] or broadcastable)
        -> BiGRU states [S, N, L, E] of each line read on its own (zeros on padding lines).

        Only real lines are read, and without `extra` each distinct line once: a line's states depend on its
        own ids alone, and training's stories share many lines and pad to the longest."""
        S, N, L = ids.shape
        flat = ids.reshape(S * N, L)
        length = (flat >= 0).sum(-1)  # [S*N]
        real = (length > 0).nonzero().squeeze(-1)  # rows to read
        out = torch.zeros(S * N, L, self.rnn.hidden_size * 2, device=ids.device)
        if not len(real):
            return out.view(S, N, L, -1)
        if extra is None:
            rows, back = flat[real].unique(dim=0, return_inverse=True)  # distinct lines; back: real -> distinct
            read = self._read(rows, (rows >= 0).sum(-1), None).index_select(0, back)
        else:
            extra = extra.expand(S, N, L, -1).reshape(S * N, L, -1)[real]
            read = self._read(flat[real], length[real], extra)
        return out.index_copy(0, real, read).view(S, N, L, -1)

    def _read(self, ids: torch.Tensor, length: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        """ids [R, L] lines (-1 after each), length [R] (>= 1), extra [R, L, E] or None -> BiGRU states [R, L, E]."""
        R, L = ids.shape
        pos = torch.arange(L, device=ids.device).expand(R, L)
        x = (self.shape(self.shapes[ids.clamp(min=0)]) + self.from_start(pos.clamp(max=MAX_POSITION - 1))
             + self.from_end((length[:, None] - 1 - pos).clamp(0, MAX_POSITION - 1)))  # [R, L, E]
        if extra is not None:
            x = x + extra
        # Each line read alone, so its states do not depend on how much padding its batch needs (training
        # pads to the longest line of the batch, inference reads one line unpadded). Packed: lines are many,
        # short and of like lengths, where bigru's step loop costs more than the little padding it skips.
        return bigru_packed(self.rnn, x, length)


class CopyHead(TokenReader):
    def __init__(self, dim: int, words: bool = True, question: bool = False):
        super().__init__(dim, words)
        # No bias: it would shift every score of a line alike, which the within-line softmax ignores; its
        # gradient would be rounding noise that Adam turns into steps (and ranks would disagree on it).
        self.key = nn.Linear(dim, dim, bias=False)
        self.in_question = nn.Linear(1, dim, bias=False) if question else None  # key offset of a question word
        self.query = nn.Linear(dim, dim)
        self.gate = nn.Linear(dim, 1)
        self.feedback = nn.Linear(dim, dim)

    def encode(self, source: CopySource) -> Encoded:
        # [S, N, L, E]: keyed per story, then given to each row of it (index_select: its backward adds rows
        # up far faster on a CPU than that of indexing with repeats)
        states = self.read_tokens(source.ids)
        keys, states = self.key(states).index_select(0, source.story), states.index_select(0, source.story)
        ids = source.ids[source.story]
        if self.in_question is not None:
            keys = keys + self.in_question(source.asked[..., None])
        return Encoded(ids, source.weights, states, keys)

    def input_feedback(self, enc: Encoded, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [R, T] decoder input ids -> [R, T, E]: per line the mean state of the positions holding
        that id, weighted by the line weight (zero where the id is in no line)."""
        match = (tokens[:, :, None, None] == enc.ids[:, None]).float()  # [R, T, N, L]
        per_line = match / match.sum(-1, keepdim=True).clamp(min=1)
        return self.feedback(torch.einsum("rtnl,rn,rnle->rte", per_line, enc.weights, enc.states))

    def copy_probs(self, enc: Encoded, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """hidden [R, T, E] decoder states -> (position probabilities [R, T, N, L], summing to 1 over
        (N, L) and zero on padding; gate logits [R, T], sigmoid = weight of the vocabulary)."""
        scores = torch.einsum("rte,rnle->rtnl", self.query(hidden), enc.keys) / enc.keys.shape[-1] ** 0.5
        pad = (enc.ids < 0)[:, None]
        within = scores.masked_fill(pad, MASKED).softmax(-1).masked_fill(pad, 0.0)
        return within * enc.weights[:, None, :, None], self.gate(hidden).squeeze(-1)
