"""Part of step 5 (hops): the words a written line shares with the question and with the previous hop's line.

A line latent says what kind of line it is ("someone went somewhere") far better than *who* it is about:
MiniLM gives two unseen names nearly the same direction, so a hop that must follow the holder of an
object, or a variable from one statement to the next, can land on somebody else's line. A shared word
says it exactly, for any word, seen in training or not. Each hop may add to its nearest-line logits
three matches, each with a learned gate (hops.py):

    new       the question's words that the previous hop's line does not hold  (qa3's second hop: "kitchen")
    both      the words question and previous line share                        (qa2's second hop: the object,
                                                                                  whose other lines are wrong)
    previous  the previous line's words that the question does not hold         (the holder's name; vt's next variable)

    match(words, i) = sum over w in words and in line i of idf(w),   idf(w) = log((N + 1) / df(w)) / log(N + 1)

with df(w) the number of the story's N written lines holding w: a word in every line ("the", "went",
"VAR") counts for almost nothing, a name in a few lines for much, and dividing by log(N + 1) keeps the
scale the same for a 10-line story and a 128-line haystack. At the first hop there is no previous
line: `new` is the whole question and the other two are zero. A line never matches itself: what the
previous line's words add to line i leaves out line i's own share of the previous hop's weight.

The token-level keys of a later hop (line_roles.py, `roles_follow`) take the `previous` term token by
token: each token of line i gets the idf of its word times how much the previous hop's line, other
than line i, holds it, for the words the question does not hold (`previous_tokens`): the holder's
name wherever it stands, so the keys can tell "Zelda went to the hall." from "Hall went to Zelda.".

The first hop also reads where each question word was said last (`latest`, hops.py `first_latest`): per
question word k (by its place in the question), 1 on the last line holding it, 0 elsewhere. "Where is the
football?" asks for the football's latest line, whatever kind of line it is; its latent says a take from a
drop, not which of two football lines three apart came later.

Words are lowercase runs of letters and digits: "kitchen." matches "kitchen", "living room" is two words.
A question's template words ("where", "is", "was", "before": in at least half the training questions,
`question_template_words`, fitted when training) are not matched: no story line holds them, so
training never sets their gate's weight, and in a haystack a book line with "is" would match.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import torch

from .pointer import grid_tensor, padded, token_words

WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> frozenset[str]:
    """The distinct words of a line or question."""
    return frozenset(WORD.findall(text.lower()))


def ordered_words(text: str) -> tuple[str, ...]:
    """The distinct words of a line or question in the order they first stand in it."""
    return tuple(dict.fromkeys(WORD.findall(text.lower())))


def question_template_words(questions: list[str], share: float = 0.5) -> list[str]:
    """The words in at least `share` of the questions (the task's question template), sorted."""
    counts = Counter(w for q in questions for w in words(q))
    return sorted(w for w, n in counts.items() if n >= share * len(questions))


TERMS = ("new", "both", "previous")  # the rows of WordMatch.matches


@dataclass
class WordMatch:
    """The batch's line-word incidence as one sparse matrix, stories side by side.

    bags     [B*N, W] sparse, 1 where line i of story b (row b*N + i) holds word column w
    weights  [W] idf of each column (a column is one word of one story)
    asked    [W] 1 where the column's word is in its story's question
    rank     [W] the word's place among its question's words (1, 2, ...; 0 where not asked or the question
             came as a set, which has no order)
    """

    bags: torch.Tensor
    weights: torch.Tensor
    asked: torch.Tensor
    rank: torch.Tensor
    token_columns: torch.Tensor | None = None  # [B, N, L] each line token's word column, -1 where none

    @classmethod
    def build(cls, stories: list[list[frozenset[str]]], questions: list[frozenset[str] | tuple[str, ...]], n: int,
              device: torch.device | str = "cpu", tokens: list[list[list[int]]] | None = None,
              width: int = 0) -> "WordMatch":
        """stories: B lists of each written line's words (in memory order); questions: B word sets; n: padded length;
        tokens: each line's GPT-2 ids (for `previous_tokens`), padded to `width` tokens per line.

        Only words that can match count: those in two or more of a story's lines, or in its question."""
        rows, cols, weights, asked, rank, columns = [], [], [], [], [], []  # columns: per token of each line, its word's
        for b, (lines, question) in enumerate(zip(stories, questions)):
            place = {w: k + 1 for k, w in enumerate(question)} if isinstance(question, tuple) else {}
            df: dict[str, int] = {}
            for line in lines:
                for w in line:
                    df[w] = df.get(w, 0) + 1
            norm = math.log(len(lines) + 1)
            column = {}
            for w, count in df.items():
                if count > 1 or w in question:
                    column[w] = len(weights)
                    weights.append(math.log((len(lines) + 1) / count) / norm)
                    asked.append(float(w in question))
                    rank.append(place.get(w, 0))
            for i, line in enumerate(lines):
                for w in line:
                    if w in column:
                        rows.append(b * n + i)
                        cols.append(column[w])
            if tokens is not None:
                columns.append([[column.get(w, -1) for w in token_words(tuple(ids))] for ids in tokens[b]])
        bags = torch.sparse_coo_tensor(torch.tensor([rows, cols], dtype=torch.long).reshape(2, -1),
                                       torch.ones(len(rows)), (len(stories) * n, len(weights)),
                                       check_invariants=True).coalesce().to(device)
        token_columns = (None if tokens is None else
                         grid_tensor(padded(columns, n, width, -1), (len(stories), n, width), torch.long).to(device))
        return cls(bags, torch.tensor(weights, device=device), torch.tensor(asked, device=device),
                   torch.tensor(rank, dtype=torch.long, device=device), token_columns)

    def to(self, device: torch.device | str) -> "WordMatch":
        return WordMatch(self.bags.to(device), self.weights.to(device), self.asked.to(device), self.rank.to(device),
                         None if self.token_columns is None else self.token_columns.to(device))

    def latest(self, shape: tuple[int, int], ranks: int) -> torch.Tensor:
        """[B, N, ranks]: 1 where line i is the last line holding the question's k-th word (k = 1..ranks; from the
        ranks-th word on, any of them), else 0."""
        B, n = shape
        which = torch.nn.functional.one_hot(self.rank.clamp(max=ranks), ranks + 1)[:, 1:].to(self.weights.dtype)  # [W, ranks]
        holds = torch.sparse.mm(self.bags, which).view(B, n, ranks).clamp(max=1.0)
        later = holds.flip(1).cumsum(1).flip(1) - holds  # lines after i holding the word
        return holds * (later == 0)

    def latest_reference(self, stories: list[list[frozenset[str]]], questions: list[tuple[str, ...]], n: int,
                         ranks: int) -> torch.Tensor:
        """The same as `latest`, from the words themselves (what `build` was given): the readable twin."""
        out = torch.zeros(len(stories), n, ranks)
        for b, (lines, question) in enumerate(zip(stories, questions)):
            for k in range(min(len(question), ranks)):
                said = question[k:k + 1] if k + 1 < ranks else question[k:]  # the last rank: every later word
                held = [i for i, line in enumerate(lines) if any(word in line for word in said)]
                if held:
                    out[b, held[-1], k] = 1.0
        return out

    def _lines(self, column_weights: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
        """[W] weight per word column -> [B, N] each line's sum over the words it holds."""
        return torch.sparse.mm(self.bags, column_weights[:, None]).view(shape)

    def matches(self, previous: torch.Tensor | None, shape: tuple[int, int]) -> torch.Tensor:
        """previous: [B, N] the previous hop's line weights (None at the first hop) -> [3, B, N], one row per TERMS."""
        question = self._lines(self.weights * self.asked, shape)
        if previous is None:
            zero = torch.zeros_like(question)
            return torch.stack([question, zero, zero])
        B, n = shape
        held = torch.sparse.mm(self.bags.t(), previous.reshape(B * n, 1).to(self.weights.dtype))[:, 0]  # [W]
        new = self._lines(self.weights * self.asked * (1 - held), shape)
        both = self._lines(self.weights * self.asked * held, shape) - previous * question
        return torch.stack([new, both, self.chain([previous], shape)])  # rest: a chain of one line

    def chain(self, earlier: list[torch.Tensor], shape: tuple[int, int]) -> torch.Tensor:
        """earlier: every earlier hop's line weights, [B, N] each -> [B, N]: the idf-weighted words line i shares
        with *all* those lines (none the question holds), each hop's own weight on line i left out. With one
        earlier hop it is the `previous` term of `matches`; from the third hop on it is what the chain's lines have in
        common, the holder's name, not the verb the last of them shares with anyone's move."""
        B, n = shape
        rows, cols = self.bags.indices()
        value = self.weights[cols] * (1 - self.asked[cols])  # one entry per (line, word) the line holds
        for weights in earlier:
            flat = weights.reshape(B * n).to(self.weights.dtype)
            held = torch.sparse.mm(self.bags.t(), flat[:, None])[:, 0]  # [W] how much that hop's line holds each word
            value = value * (held[cols] - flat[rows])
        return torch.zeros(B * n, dtype=value.dtype, device=value.device).index_add(0, rows, value).view(shape)

    def chain_reference(self, earlier: list[torch.Tensor], shape: tuple[int, int]) -> torch.Tensor:
        """The same as `chain`, line by line and word by word: the readable twin the tests hold it equal to."""
        B, n = shape
        bag = self.bags.to_dense().view(B, n, -1)  # [B, N, W]
        out = torch.zeros(B, n)
        for b in range(B):
            for i in range(n):
                for w in range(bag.shape[-1]):
                    if bag[b, i, w] and not self.asked[w]:
                        shared = float(self.weights[w])
                        for weights in earlier:  # how much that hop's lines other than line i hold word w
                            shared *= sum(float(weights[b, j] * bag[b, j, w]) for j in range(n) if j != i)
                        out[b, i] += shared
        return out

    def previous_tokens(self, previous: torch.Tensor) -> torch.Tensor:
        """previous: [B, N] the previous hop's line weights -> [B, N, L]: per token of line i, idf of its word
        (one the question does not hold) times how much the previous line, line i's own share left out, holds it."""
        if self.token_columns is None:
            raise ValueError("these word matches were built without the lines' tokens")
        B, n, _ = self.token_columns.shape
        held = torch.sparse.mm(self.bags.t(), previous.reshape(B * n, 1).to(self.weights.dtype))[:, 0]  # [W]
        value = torch.cat([self.weights * (1 - self.asked), self.weights.new_zeros(1)])  # column -1: no word
        cols = self.token_columns
        held_by_others = torch.cat([held, held.new_zeros(1)])[cols] - previous[:, :, None] * (cols >= 0)
        return value[cols] * held_by_others

    def previous_tokens_reference(self, previous: torch.Tensor, stories: list[list[frozenset[str]]],
                                  questions: list[frozenset[str]], tokens: list[list[list[int]]]) -> torch.Tensor:
        """The same as `previous_tokens`, from the words themselves (what `build` was given): the readable twin."""
        out = torch.zeros(self.token_columns.shape)
        for b, (lines, question) in enumerate(zip(stories, questions)):
            for i, ids in enumerate(tokens[b]):
                for j, word in enumerate(token_words(tuple(ids))):
                    df = sum(word in line for line in lines)
                    if word is None or word in question or df < 2:
                        continue  # outside any word, asked, or in no other line
                    idf = math.log((len(lines) + 1) / df) / math.log(len(lines) + 1)
                    out[b, i, j] = idf * sum(float(previous[b, k]) for k, line in enumerate(lines) if k != i and word in line)
        return out

    def matches_reference(self, previous: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
        """The same as `matches` (after the first hop), spelled out line by line: the readable twin the tests
        hold it equal to."""
        B, n = shape
        bag = self.bags.to_dense().view(B, n, -1)  # [B, N, W]
        out = torch.zeros(3, B, n)
        for b in range(B):
            for i in range(n):
                held = sum(previous[b, j] * bag[b, j] for j in range(n))  # how much each word is in the previous line
                held_by_others = held - previous[b, i] * bag[b, i]  # ... leaving line i's own share out
                for w in range(bag.shape[-1]):
                    if bag[b, i, w]:
                        idf, q = self.weights[w], self.asked[w]
                        out[0, b, i] += idf * q * (1 - held[w])
                        out[1, b, i] += idf * q * held_by_others[w]
                        out[2, b, i] += idf * (1 - q) * held_by_others[w]
        return out
