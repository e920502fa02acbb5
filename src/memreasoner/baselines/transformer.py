"""Full-attention transformer: a GPT-2 that reads context + question in one window and generates the answer.

The plain baseline of BABILong. It attends over everything at once, so it is exact within its
window and blind beyond it: an input that does not fit (context + question + room for the answer)
gets the empty answer with trace {"status": "over window"}; the harness scores it wrong. No
truncation: cutting the context would silently turn it into a different model.

Default size (`memreasoner train --model transformer`): 4 layers, 128 wide, 4 heads, a 1024-token
window (GPT-2's): 7,357,312 parameters, of which 6,432,896 are the GPT-2 token embeddings.
`--transformer-backbone DIR` starts from pretrained GPT-2 weights in a local folder instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..reader import Answer, option
from . import gpt2
from .common import (BaselineReader, Defaults, TokenExample, TokenFormat, add_common_arguments, babi_train, fit,
                     model_for, token_examples)

DEFAULTS = Defaults(steps=3000, lr=1e-3, batch_size=32)


@dataclass
class TransformerConfig:
    model: str = "transformer"
    task: str = ""  # what it was trained on; informative only
    window: int = 1024  # tokens it attends over: context + question + answer
    layers: int = 4
    dim: int = 128
    heads: int = 4
    backbone: str = ""  # local folder with pretrained GPT-2 weights; "" = the small config above
    backbone_config: dict = field(default_factory=dict)  # the GPT2Config actually built (filled in)
    random_positions: bool = True  # training: place each story at a random offset (see gpt2.random_start)
    max_answer_tokens: int = option(8, "most tokens an answer is decoded to")


class FullAttentionTransformer(BaselineReader):
    name = "transformer"
    Config = TransformerConfig

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.gpt2 = gpt2.build_backbone(config.backbone_config, config.backbone, config.layers, config.dim,
                                        config.heads, config.window)
        config.backbone_config = self.gpt2.config.to_dict()
        config.window = min(config.window, self.gpt2.config.n_positions)  # a pretrained model's own limit
        self.format = TokenFormat()

    def loss(self, examples: list[TokenExample], gen: torch.Generator) -> torch.Tensor:
        """Cross-entropy of the answer tokens given context + question (teacher forcing)."""
        seqs = [ex.inputs + ex.answer for ex in examples]
        starts = [gpt2.random_start(gen, len(s), self.config.window) if self.config.random_positions else 0
                  for s in seqs]
        hidden = gpt2.run(self.gpt2, gpt2.embed(self.gpt2, [s[:-1] for s in seqs]), starts)  # [B, T, E]
        # Position k predicts token k+1; only the answer's positions are scored (and projected on the vocabulary).
        rows = [(b, len(s) - len(ex.answer) - 1 + j) for b, (s, ex) in enumerate(zip(seqs, examples))
                for j in range(len(ex.answer))]
        picked = hidden[[b for b, _ in rows], [k for _, k in rows]]  # [A, E]
        targets = torch.tensor([t for ex in examples for t in ex.answer], device=self.device)
        return F.cross_entropy(gpt2.logits(self.gpt2, picked), targets)

    @torch.no_grad()
    def answer(self, samples) -> list[Answer]:
        answers = []
        for sample in samples:
            ids = self.format.read(sample.input, sample.question)
            if len(ids) + self.config.max_answer_tokens > self.config.window:
                answers.append(Answer("", trace={"status": "over window", "tokens": len(ids),
                                                 "window": self.config.window}))
                continue

            def next_logits(generated: list[int]) -> torch.Tensor:
                return gpt2.logits(self.gpt2, gpt2.run(self.gpt2, gpt2.embed(self.gpt2, [ids + generated]))[0, -1])

            answers.append(Answer(self.format.generate(next_logits, self.config.max_answer_tokens),
                                  trace={"tokens": len(ids)}))
        return answers


# -- `memreasoner train --model transformer` -------------------------------------------------------
def add_arguments(group) -> None:
    add_common_arguments(group)
    c = TransformerConfig()
    group.add_argument("--transformer-window", type=int, default=c.window, help="tokens attended over")
    group.add_argument("--transformer-layers", type=int, default=c.layers)
    group.add_argument("--transformer-dim", type=int, default=c.dim)
    group.add_argument("--transformer-heads", type=int, default=c.heads)
    group.add_argument("--transformer-backbone", default=c.backbone, help="folder with pretrained GPT-2 weights")


def run(args) -> int:
    config = TransformerConfig(task=args.task, window=args.transformer_window, layers=args.transformer_layers,
                               dim=args.transformer_dim, heads=args.transformer_heads, backbone=args.transformer_backbone)
    torch.manual_seed(args.seed)
    model = model_for(FullAttentionTransformer, config, args)
    stories = token_examples(babi_train(args), model.format)
    # Only the stories it could read when answering: beyond the window its positions would all be the
    # last one (gpt2.run clamps them). qa1, qa2, qa4 and qa5 fit; about 1% of qa3's do not.
    train = [ex for ex in stories if len(ex.inputs) + len(ex.answer) <= model.config.window]
    if not train:
        raise InputError(f"no training story fits the {model.config.window}-token window")

    def step_loss(batch: int, progress: float, gen: torch.Generator) -> torch.Tensor:
        return model.loss([train[i] for i in torch.randint(len(train), (batch,), generator=gen)], gen)

    fit(model, step_loss, args, DEFAULTS, info={"train_questions": len(train), "over_window": len(stories) - len(train)})
    return 0
