"""Part of step 5 (hops): which written lines share a word with the question or with the previous hop's line.

A line latent says what kind of line it is ("someone went somewhere") far better than *who* it is about:
MiniLM gives two unseen names nearly the same direction, so a hop that must follow the holder of an
object, or a variable from one statement to the next, can land on somebody else's line. A shared word
says it exactly, for any word, seen in training or not. So each hop may add to its nearest-line logits

    l_t,i += g_q * match(question, line i) + g_p * match(line j of hop t-1, line i)      (hops.py)

    match(x, i) = sum over words w in both x and line i of  idf(w),   idf(w) = log((N + 1) / df(w)) / log(N + 1)

with df(w) the number of the story's N written lines holding w: a word in every line ("the", "went",
"VAR") counts for almost nothing, a name in a few lines for much, and dividing by log(N + 1) keeps the scale
the same for a 10-line story and a 128-line haystack. The gates g are learned from the question and the
previous hop's line (hops.py), so each task learns which matches matter at which hop. A line never
matches itself (the previous hop's own line gets no bonus for being itself).

Words are lowercase runs of letters and digits: "kitchen." matches "kitchen", "living room" is two words.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch

WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> frozenset[str]:
    """The distinct words of a line or question."""
    return frozenset(WORD.findall(text.lower()))


@dataclass
class WordMatch:
    """The batch's line-word incidence as one sparse matrix, stories side by side.

    bags     [B*N, W] sparse, 1 where line i of story b (row b*N + i) holds word column w
    weights  [W] idf of each column (a column is one word of one story)
    question [B, N] match(question, line)
    itself   [B, N] match(line, line): what a line would add for matching itself
    """

    bags: torch.Tensor
    weights: torch.Tensor
    question: torch.Tensor
    itself: torch.Tensor

    @classmethod
    def build(cls, stories: list[list[frozenset[str]]], questions: list[frozenset[str]], n: int,
              device: torch.device | str = "cpu") -> "WordMatch":
        """stories: B lists of each written line's words (in memory order); questions: B word sets; n: padded length.

        Only words that can match count: those in two or more of a story's lines, or in its question."""
        rows, cols, weights, question_cols = [], [], [], []
        for b, (lines, asked) in enumerate(zip(stories, questions)):
            df: dict[str, int] = {}
            for line in lines:
                for w in line:
                    df[w] = df.get(w, 0) + 1
            norm = math.log(len(lines) + 1)
            column = {}
            for w, count in df.items():
                if count > 1 or w in asked:
                    column[w] = len(weights)
                    weights.append(math.log((len(lines) + 1) / count) / norm)
                    if w in asked:
                        question_cols.append(column[w])
            for i, line in enumerate(lines):
                for w in line:
                    if w in column:
                        rows.append(b * n + i)
                        cols.append(column[w])
        B, W = len(stories), len(weights)
        bags = torch.sparse_coo_tensor(torch.tensor([rows, cols], dtype=torch.long).reshape(2, -1),
                                       torch.ones(len(rows)), (B * n, W),
                                       check_invariants=True).coalesce().to(device)
        idf = torch.tensor(weights, dtype=torch.float32, device=device)
        asked = torch.zeros(W, device=device)
        asked[question_cols] = 1.0
        question = torch.sparse.mm(bags, (idf * asked)[:, None]).view(B, n)
        itself = torch.sparse.mm(bags, idf[:, None]).view(B, n)
        return cls(bags, idf, question, itself)

    def previous(self, attention: torch.Tensor) -> torch.Tensor:
        """attention [B, N] over the previous hop's lines -> [B, N] its (weighted) match with every other line."""
        B, n = attention.shape
        flat = attention.reshape(B * n, 1).to(self.weights.dtype)
        shared = torch.sparse.mm(self.bags.t(), flat)[:, 0] * self.weights  # [W] each word's weight in the previous line
        return torch.sparse.mm(self.bags, shared[:, None]).view(B, n) - attention * self.itself

    def previous_reference(self, attention: torch.Tensor) -> torch.Tensor:
        """The same as `previous`, spelled out line by line (the readable twin the tests hold it equal to)."""
        B, n = attention.shape
        dense = self.bags.to_dense().view(B, n, -1)  # [B, N, W]
        out = torch.zeros(B, n)
        for b in range(B):
            for i in range(n):
                for j in range(n):
                    if i != j:
                        out[b, i] += attention[b, j] * (dense[b, i] * dense[b, j] * self.weights).sum()
        return out
