"""Recurrent Memory Transformer (Bulatov, Kuratov, Burtsev, 2022), decoder-only form, GPT-2 backbone.

The input (question, context, question again: see common.TokenFormat) is cut into segments of
`segment` tokens, read in order. Each segment is fed as

    [memory (m vectors, read)] segment tokens [memory (m vectors, write)]

and the backbone's outputs at the write positions become the memory of the next segment: the only
path by which anything from an earlier segment reaches a later one. The last segment holds the
end of the context and the question, and is followed by the generated answer.

Training (bAbI, no distractors, like every model here): a story is a few dozen tokens, one segment,
so a story is cut at sentence boundaries into k groups that are read as k segments (the question
joins the last); k is drawn from 1..stage, and the stage rises from 1 to `max_segments` over the run
(the curriculum over the number of segments of the RMT papers). Gradients flow back through at most
`bptt` segments: earlier ones run without a graph, so the memory entering the window is a constant.

Default size (`memreasoner train --model rmt`): 4 layers, 128 wide, 4 heads, 512-token segments,
10 memory vectors: 7,296,640 parameters (6,432,896 of them the GPT-2 token embeddings).
`--rmt-backbone DIR` starts from pretrained GPT-2 weights in a local folder instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..reader import Answer, option
from . import gpt2
from .common import (BaselineReader, Defaults, TokenExample, TokenFormat, add_common_arguments, babi_train, fit,
                     model_for, token_examples)

DEFAULTS = Defaults(steps=3000, lr=1e-3, batch_size=32)


@dataclass
class RMTConfig:
    model: str = "rmt"
    task: str = ""  # what it was trained on; informative only
    segment: int = 512  # tokens per segment, memory vectors not counted
    memory: int = 10  # memory vectors m
    bptt: int = 4  # segments gradients flow back through
    max_segments: int = 4  # curriculum: the most segments a training story is cut into
    layers: int = 4
    dim: int = 128
    heads: int = 4
    backbone: str = ""  # local folder with pretrained GPT-2 weights; "" = the small config above
    backbone_config: dict = field(default_factory=dict)  # the GPT2Config actually built (filled in)
    random_positions: bool = True  # training: place each segment at a random offset (see gpt2.random_start)
    max_answer_tokens: int = option(8, "most tokens an answer is decoded to")

    @property
    def positions(self) -> int:
        """Positions one segment can use: read memory, tokens (the answer too, in the last), write memory."""
        return 2 * self.memory + self.segment + self.max_answer_tokens


class RecurrentMemoryTransformer(BaselineReader):
    name = "rmt"
    Config = RMTConfig

    def __init__(self, config: RMTConfig):
        super().__init__()
        self.config = config
        self.gpt2 = gpt2.build_backbone(config.backbone_config, config.backbone, config.layers, config.dim,
                                        config.heads, config.positions)
        if self.gpt2.config.n_positions < config.positions:
            raise InputError(f"the backbone has {self.gpt2.config.n_positions} positions; a segment needs "
                             f"{config.positions} (2 x memory + segment + answer): use a smaller --rmt-segment")
        config.backbone_config = self.gpt2.config.to_dict()
        dim = self.gpt2.config.n_embd
        self.memory = nn.Parameter(torch.randn(config.memory, dim) * self.gpt2.config.initializer_range)  # [m, E]
        self.format = TokenFormat()

    # -- segments ----------------------------------------------------------------------------------
    def _start(self, used: int, gen: torch.Generator | None) -> int:
        return gpt2.random_start(gen, used, self.config.positions) if gen is not None and self.config.random_positions else 0

    def write(self, memory: torch.Tensor, contents: list[list[int]], gen: torch.Generator | None = None) -> torch.Tensor:
        """Read one segment per row: memory [B, m, E], contents B lists of ids -> the next memory [B, m, E]."""
        m = self.config.memory
        tokens = gpt2.embed(self.gpt2, contents)
        seqs = [torch.cat([memory[b], tokens[b], memory[b]]) for b in range(len(contents))]  # [m + L_b + m, E]
        hidden = gpt2.run(self.gpt2, seqs, [self._start(len(s), gen) for s in seqs])  # [B, T, E]
        return torch.stack([hidden[b, m + len(c): 2 * m + len(c)] for b, c in enumerate(contents)])

    def last(self, memory: torch.Tensor, contents: list[list[int]], gen: torch.Generator | None = None) -> torch.Tensor:
        """The last segment: memory [B, m, E] + ids (question, and the answer so far) -> hidden states [B, T, E]."""
        tokens = gpt2.embed(self.gpt2, contents)
        seqs = [torch.cat([memory[b], tokens[b]]) for b in range(len(contents))]  # [m + L_b, E]
        return gpt2.run(self.gpt2, seqs, [self._start(len(s), gen) for s in seqs])

    def initial(self, batch: int) -> torch.Tensor:
        return self.memory[None].expand(batch, -1, -1)  # [B, m, E]

    # -- training ----------------------------------------------------------------------------------
    def loss(self, examples: list[TokenExample], n_segments: int, gen: torch.Generator) -> torch.Tensor:
        """Cross-entropy of the answers, each story cut into n_segments sentence-aligned segments."""
        segments = [split_lines(ex, n_segments) for ex in examples]  # B x n_segments lists of ids
        memory = self.initial(len(examples))
        # Segments before the BPTT window run without a graph: the memory they hand on is a constant.
        first_graph = n_segments - self.config.bptt
        for i in range(n_segments - 1):
            with torch.set_grad_enabled(torch.is_grad_enabled() and i >= first_graph):
                memory = self.write(memory, [s[i] for s in segments], gen)
        m = self.config.memory
        contents = [s[-1] + ex.answer[:-1] for s, ex in zip(segments, examples)]  # teacher forcing
        hidden = self.last(memory, contents, gen)
        rows = [(b, m + len(s[-1]) - 1 + j) for b, (s, ex) in enumerate(zip(segments, examples)) for j in range(len(ex.answer))]
        picked = hidden[[b for b, _ in rows], [k for _, k in rows]]  # [A, E]: position k predicts token k+1
        targets = torch.tensor([t for ex in examples for t in ex.answer], device=self.device)
        return F.cross_entropy(gpt2.logits(self.gpt2, picked), targets)

    # -- inference ---------------------------------------------------------------------------------
    @torch.no_grad()
    def answer(self, samples) -> list[Answer]:
        answers = []
        seg = self.config.segment
        for sample in samples:
            ids = self.format.read(sample.input, sample.question)
            chunks = [ids[i:i + seg] for i in range(0, len(ids), seg)]
            memory = self.initial(1)
            for chunk in chunks[:-1]:
                memory = self.write(memory, [chunk])

            def next_logits(generated: list[int]) -> torch.Tensor:
                return gpt2.logits(self.gpt2, self.last(memory, [chunks[-1] + generated])[0, -1])

            text = self.format.generate(next_logits, self.config.max_answer_tokens)
            answers.append(Answer(text, trace={"segments": len(chunks)}))
        return answers


def split_lines(example: TokenExample, k: int) -> list[list[int]]:
    """The story's lines in k contiguous groups (some empty when k exceeds the lines), the leading
    question before the first and the question prompt after the last: k lists of ids."""
    groups = np.array_split(np.arange(len(example.lines)), k)
    segments = [[t for i in g for t in example.lines[i]] for g in groups]
    segments[0] = example.lead + segments[0]
    segments[-1] = segments[-1] + example.prompt
    return segments


def segments_needed(example: TokenExample, segment: int) -> int:
    """The fewest groups of lines (split_lines) none longer than `segment` tokens, what the model reads at
    once when answering. At 512 tokens: 1 for every qa1, qa2 and qa4 story; 2 for 24 of qa5's 10,000; 2 or 3
    for 161 of qa3's 1,000 (up to ~1,400 tokens)."""
    k = 1
    while k < len(example.lines) and max(map(len, split_lines(example, k))) > segment:
        k += 1
    return k


def curriculum(progress: float, max_segments: int, gen: torch.Generator) -> int:
    """Segments for the next batch: uniform in 1..stage, the stage rising from 1 to max_segments."""
    stage = min(max_segments, 1 + int(progress * max_segments))
    return int(torch.randint(1, stage + 1, (1,), generator=gen))


# -- `memreasoner train --model rmt` ---------------------------------------------------------------
def add_arguments(group) -> None:
    add_common_arguments(group)
    c = RMTConfig()
    group.add_argument("--rmt-segment", type=int, default=c.segment, help="tokens per segment")
    group.add_argument("--rmt-memory", type=int, default=c.memory, help="memory vectors carried between segments")
    group.add_argument("--rmt-bptt", type=int, default=c.bptt, help="segments gradients flow back through")
    group.add_argument("--rmt-max-segments", type=int, default=c.max_segments,
                       help="curriculum: most segments a training story is cut into")
    group.add_argument("--rmt-layers", type=int, default=c.layers)
    group.add_argument("--rmt-dim", type=int, default=c.dim)
    group.add_argument("--rmt-heads", type=int, default=c.heads)
    group.add_argument("--rmt-backbone", default=c.backbone, help="folder with pretrained GPT-2 weights")


def run(args) -> int:
    config = RMTConfig(task=args.task, segment=args.rmt_segment, memory=args.rmt_memory, bptt=args.rmt_bptt,
                       max_segments=args.rmt_max_segments, layers=args.rmt_layers, dim=args.rmt_dim,
                       heads=args.rmt_heads, backbone=args.rmt_backbone)
    torch.manual_seed(args.seed)
    model = model_for(RecurrentMemoryTransformer, config, args)
    train = token_examples(babi_train(args), model.format)
    needed = [segments_needed(ex, model.config.segment) for ex in train]

    def step_loss(batch: int, progress: float, gen: torch.Generator) -> torch.Tensor:
        k = curriculum(progress, model.config.max_segments, gen)
        picked = torch.randint(len(train), (batch,), generator=gen).tolist()
        # A story longer than a segment is cut into as many as answering would cut it into, whatever the stage.
        k = max(k, *(needed[i] for i in picked))
        return model.loss([train[i] for i in picked], k, gen)

    fit(model, step_loss, args, DEFAULTS, info={"train_questions": len(train)})
    return 0
