"""End-To-End Memory Network (Sukhbaatar, Szlam, Weston, Fergus, 2015), the classic bAbI model.

Each line is a memory: its words' embeddings weighted by the position encoding (PE)
    l_kj = (1 - j/J) - (k/d)(1 - 2j/J)   (word j of J, embedding dimension k of d)
plus a temporal encoding (TE) T[r], r = how many lines from the end (the most recent line is 0).
The question u = PE-weighted words through the first embedding; each of the 3 hops attends over the
memories, p = softmax(u . m_i), and adds the output memories, u <- u + sum_i p_i c_i; the answer is a
softmax over the answers seen in training. Adjacent weight tying: hop k's output embedding is hop
k+1's input embedding, the question uses the first.

Words are lower-cased letters; a word outside the training vocabulary is dropped (the paper's nil
word), but still counts in its line's length J. Because PE is a fixed weight per (word position,
dimension), a line's memory is (bag of PE weights over the vocabulary) @ embedding: two [N, V]
matrices per story, so even a haystack of thousands of lines costs two small matrix products per hop.

Haystacks have thousands of lines, bAbI stories at most tens: every line is a memory (the paper's
50-line window would drop the facts beyond 1k tokens), and lines further back than the TE table
share its last row. Linear start and random-noise training are left out (Adam trains qa1 without them).

Default size: 32 wide, 3 hops, 50 TE rows; on qa1 (19 words, 6 answers) 9,024 parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..data.babi import BabiSample
from ..reader import Answer
from .common import BaselineReader, Defaults, add_common_arguments, babi_train, fit, model_for

DEFAULTS = Defaults(steps=3000, lr=1e-2, batch_size=32)
WORD = re.compile(r"[a-z]+")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


@dataclass
class MemN2NConfig:
    model: str = "memn2n"
    task: str = ""  # what it was trained on; informative only
    dim: int = 32  # d
    hops: int = 3
    temporal: int = 50  # rows of the temporal encoding
    vocabulary: list[str] = field(default_factory=list)  # words seen in training (filled by the trainer)
    answers: list[str] = field(default_factory=list)  # answers seen in training: the output classes


class MemN2NCore(nn.Module):
    """The network itself, shared with the retrieve-then-read baseline."""

    def __init__(self, vocabulary: list[str], answers: list[str], dim: int, hops: int, temporal: int):
        super().__init__()
        self.index = {w: i for i, w in enumerate(vocabulary)}
        self.hops, self.temporal_rows = hops, temporal
        # Adjacent tying: embedding k is hop k's input (k = 0 also embeds the question) and hop k-1's output.
        self.embed = nn.Parameter(torch.randn(hops + 1, len(vocabulary), dim) * 0.1)  # [K+1, V, d]
        self.temporal = nn.Parameter(torch.randn(hops + 1, temporal, dim) * 0.1)  # [K+1, R, d]
        self.out = nn.Linear(dim, len(answers), bias=False)
        self.register_buffer("k_over_d", torch.arange(1, dim + 1) / dim, persistent=False)  # [d]

    def bags(self, lines: list[str]) -> torch.Tensor:
        """Lines -> PE bags [N, 2, V]: line i's memory is bags[i, 0] @ E + (k/d) * (bags[i, 1] @ E),
        since l_kj = a_j + (k/d) b_j with a_j = 1 - j/J and b_j = 2j/J - 1."""
        out = torch.zeros(len(lines), 2, len(self.index))
        for i, line in enumerate(lines):
            ws = words(line)
            J = len(ws)
            for j, w in enumerate(ws, start=1):
                if w in self.index:
                    out[i, 0, self.index[w]] += 1 - j / J
                    out[i, 1, self.index[w]] += 2 * j / J - 1
        return out.to(self.k_over_d.device)

    def _embed(self, bags: torch.Tensor, k: int) -> torch.Tensor:
        """bags [..., 2, V] -> PE-weighted sums [..., d] through embedding k."""
        return bags[..., 0, :] @ self.embed[k] + self.k_over_d * (bags[..., 1, :] @ self.embed[k])

    def forward(self, stories: list[torch.Tensor], questions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """stories: B bags [N_b, 2, V] (N_b >= 1), questions: bags [B, 2, V] ->
        answer logits [B, A] and attention [B, hops, N] over the (padded) lines."""
        lengths = torch.tensor([len(s) for s in stories], device=questions.device)
        S = nn.utils.rnn.pad_sequence(stories, batch_first=True)  # [B, N, 2, V]
        N = S.shape[1]
        mask = torch.arange(N, device=S.device)[None] < lengths[:, None]  # [B, N]
        back = (lengths[:, None] - 1 - torch.arange(N, device=S.device)[None]).clamp(0, self.temporal_rows - 1)  # [B, N]
        u = self._embed(questions, 0)  # [B, d]
        memory_in = self._embed(S, 0) + self.temporal[0][back]  # [B, N, d]
        attention = []
        for k in range(self.hops):
            memory_out = self._embed(S, k + 1) + self.temporal[k + 1][back]  # [B, N, d]
            p = (memory_in @ u.unsqueeze(-1)).squeeze(-1).masked_fill(~mask, float("-inf")).softmax(-1)  # [B, N]
            u = u + (p.unsqueeze(-1) * memory_out).sum(1)
            attention.append(p)
            memory_in = memory_out  # adjacent tying: the next hop reads through this hop's output embedding
        return self.out(u), torch.stack(attention, 1)


class MemN2N(BaselineReader):
    name = "memn2n"
    Config = MemN2NConfig

    def __init__(self, config: MemN2NConfig):
        super().__init__()
        self.config = config
        self.net = MemN2NCore(config.vocabulary, config.answers, config.dim, config.hops, config.temporal)

    @torch.no_grad()
    def answer(self, samples) -> list[Answer]:
        return [read_lines(self.net, self.config.answers, s.lines(), s.question) for s in samples]


def read_lines(net: MemN2NCore, answers: list[str], lines: list[str], question: str,
               line_ids: list[int] | None = None) -> Answer:
    """Answer one question over `lines`; hops are the line each hop attended to most (indices into the
    sample's lines: `line_ids` maps them when `lines` is a selection)."""
    if not lines:
        return Answer("", trace={"lines": 0})
    logits, attention = net([net.bags(lines)], net.bags([question]))
    ids = line_ids if line_ids is not None else list(range(len(lines)))
    landed = [ids[int(i)] for i in attention[0].argmax(-1)]  # a line per hop ("hops" is their count here)
    return Answer(answers[int(logits[0].argmax())], hops=landed, trace={"lines": len(lines)})


def answer_loss(net: MemN2NCore, stories: list[torch.Tensor], questions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(net(stories, questions)[0], targets)


def vocabulary(samples: list[BabiSample]) -> tuple[list[str], list[str]]:
    """(words of every story and question, answers) of the training set, sorted."""
    seen = {w for s in samples for text in [*s.lines, s.question] for w in words(text)}
    return sorted(seen), sorted({s.answer for s in samples})


class BagData:
    """Training questions with every story and question turned into PE bags once."""

    def __init__(self, net: MemN2NCore, answers: list[str], stories: list[list[str]], questions: list[str], targets: list[str]):
        self.stories = [net.bags(lines) for lines in stories]
        self.questions = net.bags(questions)  # [Q, 2, V]
        self.targets = torch.tensor([answers.index(t) for t in targets])

    def draw(self, batch: int, gen: torch.Generator):
        idx = torch.randint(len(self.stories), (batch,), generator=gen)
        return [self.stories[i] for i in idx], self.questions[idx], self.targets[idx]


# -- `memreasoner train --model memn2n` ------------------------------------------------------------
def add_arguments(group) -> None:
    add_common_arguments(group)
    c = MemN2NConfig()
    group.add_argument("--memn2n-dim", type=int, default=c.dim)
    group.add_argument("--memn2n-hops", type=int, default=c.hops)
    group.add_argument("--memn2n-temporal", type=int, default=c.temporal, help="rows of the temporal encoding")


def run(args) -> int:
    samples = babi_train(args)
    vocab, answers = vocabulary(samples)
    config = MemN2NConfig(task=args.task, dim=args.memn2n_dim, hops=args.memn2n_hops, temporal=args.memn2n_temporal,
                          vocabulary=vocab, answers=answers)
    torch.manual_seed(args.seed)
    model = model_for(MemN2N, config, args)
    data = BagData(model.net, model.config.answers, [s.lines for s in samples], [s.question for s in samples],
                   [s.answer for s in samples])

    def step_loss(batch: int, progress: float, gen: torch.Generator) -> torch.Tensor:
        return answer_loss(model.net, *data.draw(batch, gen))

    fit(model, step_loss, args, DEFAULTS, info={"train_questions": len(samples)})
    return 0
