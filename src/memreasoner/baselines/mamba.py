"""Mamba (Gu and Dao, 2023): a selective state-space language model, pure PyTorch, over GPT-2 tokens.

The layers are `mambapy`'s (MIT; parallel scan in torch, since the CUDA kernels do not exist here).
What is ours is the forward pass below, which runs each layer chunk by chunk carrying its state --
the SSM state h [B, ED, N] and the last d_conv - 1 inputs of the causal convolution -- so a
128k-token haystack is read in bounded memory (a single parallel scan over L tokens holds
B x L x ED x N floats: 2 GB at 128k) and the answer is generated one token at a time from the state.
Within a chunk it is exactly mambapy's MambaBlock.forward (tested), starting from a state instead of 0.

It reads question | context | question and writes the answer, like the transformer (see
common.TokenFormat: the leading question is what lets a fixed-size state keep the right facts), and
has no positions, so nothing in it is tied to the length of the bAbI stories it trains on.

Default size (`memreasoner train --model mamba`): 2 layers, 128 wide, state 16, expand 2:
6,666,240 parameters (6,432,896 of them the token embeddings, tied to the output). Shallower than the
GPT-2 baselines because the scan's cost, not the parameters, is what limits it on a CPU (see DEFAULTS).
`--mamba-pretrained DIR` starts from a Hugging Face Mamba checkpoint (e.g. mamba-130m-hf) and its tokenizer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from mambapy.mamba import MambaBlock, MambaConfig, ResidualBlock, RMSNorm
from mambapy.pscan import pscan
from safetensors.torch import load_file
from torch import nn

from ..errors import InputError
from ..reader import Answer, option
from .common import (EOT, BaselineReader, Defaults, TokenExample, TokenFormat, add_common_arguments, babi_train, fit,
                     model_for, token_examples)

# Small on purpose: a step costs B x L x ED x N floats per layer through the parallel scan, so depth
# and batch size multiply a CPU step's time. The learning rate is higher than the transformers'
# (Mamba's own recipe).
DEFAULTS = Defaults(steps=3000, lr=2e-3, batch_size=16)

State = tuple[torch.Tensor, torch.Tensor]  # (h [B, ED, N], last conv inputs [B, ED, d_conv - 1]) of one layer


@dataclass
class MambaReaderConfig:
    model: str = "mamba"
    task: str = ""  # what it was trained on; informative only
    layers: int = 2
    dim: int = 128  # D
    state: int = 16  # N
    expand: int = 2  # E: ED = E * D channels inside a block
    conv: int = 4  # width of the causal depthwise convolution
    vocab: int = EOT + 1  # GPT-2's, or the pretrained model's
    tokenizer: str = ""  # "" = GPT-2 BPE; else the pretrained model's Hugging Face tokenizer folder
    pretrained: str = ""  # the folder the weights were first loaded from (informative)
    chunk: int = option(2048, "tokens per parallel scan when reading (bounds memory on long inputs)")
    max_answer_tokens: int = option(8, "most tokens an answer is decoded to")


def mixer(block: MambaBlock, x: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
    """mambapy's MambaBlock.forward from a carried state: x [B, L, D] -> y [B, L, D], new state."""
    cfg = block.config
    B, L, _ = x.shape
    x, z = block.in_proj(x).chunk(2, dim=-1)  # [B, L, ED] each
    x = x.transpose(1, 2)  # [B, ED, L]
    tail = state[1] if state is not None else x.new_zeros(B, cfg.d_inner, cfg.d_conv - 1)
    x = torch.cat([tail, x], dim=2)  # [B, ED, d_conv - 1 + L]: the convolution sees the previous chunk's end
    new_tail = x[:, :, x.shape[2] - (cfg.d_conv - 1):]
    x = F.conv1d(x, block.conv1d.weight, block.conv1d.bias, groups=cfg.d_inner).transpose(1, 2)  # [B, L, ED]
    x = F.silu(x)

    A = -torch.exp(block.A_log.float())  # [ED, N]
    delta, Bs, C = torch.split(block.x_proj(x), [cfg.dt_rank, cfg.d_state, cfg.d_state], dim=-1)
    delta = F.softplus(block.dt_proj(delta))  # [B, L, ED]
    dA = torch.exp(delta.unsqueeze(-1) * A)  # [B, L, ED, N]
    BX = delta.unsqueeze(-1) * Bs.unsqueeze(2) * x.unsqueeze(-1)  # [B, L, ED, N]
    if state is not None:
        # h_1 = dA_1 h_0 + BX_1: folding the carried state into the first input keeps the scan from 0.
        BX = torch.cat([BX[:, :1] + dA[:, :1] * state[0].unsqueeze(1), BX[:, 1:]], dim=1)
    hs = pscan(dA, BX)  # [B, L, ED, N]
    y = (hs @ C.unsqueeze(-1)).squeeze(-1) + block.D * x  # [B, L, ED]
    return block.out_proj(y * F.silu(z)), (hs[:, -1], new_tail)


class MambaLM(BaselineReader):
    name = "mamba"
    Config = MambaReaderConfig

    def __init__(self, config: MambaReaderConfig):
        super().__init__()
        self.config = config
        blocks = MambaConfig(d_model=config.dim, n_layers=config.layers, d_state=config.state,
                             expand_factor=config.expand, d_conv=config.conv)
        self.embedding = nn.Embedding(config.vocab, config.dim)
        nn.init.normal_(self.embedding.weight, std=blocks.base_std)
        self.layers = nn.ModuleList([ResidualBlock(blocks) for _ in range(config.layers)])
        self.norm = RMSNorm(config.dim, blocks.rms_norm_eps)
        self.format = TokenFormat(config.tokenizer)

    @classmethod
    def from_pretrained(cls, folder: str | Path, config: MambaReaderConfig) -> "MambaLM":
        """A Hugging Face Mamba checkpoint folder (the `state-spaces/mamba-130m-hf` layout: config.json,
        model.safetensors and the model's tokenizer); sizes come from it, other options from `config`."""
        folder = Path(folder)
        try:
            hf = json.loads((folder / "config.json").read_text())
            weights = load_file(folder / "model.safetensors")
        except (OSError, json.JSONDecodeError) as err:
            raise InputError(f"not a Hugging Face Mamba folder (config.json + model.safetensors): {err}", folder) from None
        dim = hf["hidden_size"]
        if hf.get("time_step_rank", "auto") not in ("auto", math.ceil(dim / 16)) or hf.get("use_bias") or not hf.get("use_conv_bias", True):
            raise InputError("unsupported Mamba variant (time_step_rank, use_bias or use_conv_bias differ from mambapy's)", folder)
        model = cls(replace(config, layers=hf["num_hidden_layers"], dim=dim, state=hf["state_size"], expand=hf["expand"],
                            conv=hf["conv_kernel"], vocab=hf["vocab_size"], tokenizer=str(folder), pretrained=str(folder)))
        # Same parameter names below "backbone." (both follow the reference mamba_simple.py).
        renamed = {"embeddings.weight": "embedding.weight", "norm_f.weight": "norm.weight"}
        state = {renamed.get(k[len("backbone."):], k[len("backbone."):]): v
                 for k, v in weights.items() if k.startswith("backbone.")}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise InputError(f"weights do not fit (missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})", folder)
        return model

    def forward(self, ids: torch.Tensor, states: list[State] | None = None) -> tuple[torch.Tensor, list[State]]:
        """ids [B, L] (continuing from `states`, or from the start) -> hidden [B, L, D], states after them."""
        x = self.embedding(ids)
        new = []
        for i, layer in enumerate(self.layers):
            y, s = mixer(layer.mixer, layer.norm(x), states[i] if states is not None else None)
            x = x + y
            new.append(s)
        return self.norm(x), new

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self.embedding.weight.T  # tied output embeddings

    def loss(self, examples: list[TokenExample]) -> torch.Tensor:
        """Cross-entropy of the answer tokens given context + question (teacher forcing, right padding)."""
        seqs = [ex.inputs + ex.answer for ex in examples]
        T = max(len(s) for s in seqs) - 1
        ids = torch.full((len(seqs), T), self.format.eos, dtype=torch.long)  # padding: any id, never scored
        for b, s in enumerate(seqs):
            ids[b, :len(s) - 1] = torch.tensor(s[:-1])
        hidden, _ = self(ids.to(self.device))  # [B, T, D]; causal, so the padding after a row changes nothing
        rows = [(b, len(s) - len(ex.answer) - 1 + j) for b, (s, ex) in enumerate(zip(seqs, examples))
                for j in range(len(ex.answer))]
        picked = hidden[[b for b, _ in rows], [k for _, k in rows]]  # [A, D]: position k predicts token k+1
        targets = torch.tensor([t for ex in examples for t in ex.answer], device=self.device)
        return F.cross_entropy(self.logits(picked), targets)

    @torch.no_grad()
    def read(self, ids: list[int]) -> tuple[torch.Tensor, list[State]]:
        """Read ids chunk by chunk: the last hidden state [D] and the states after them."""
        states, last = None, None
        for start in range(0, len(ids), self.config.chunk):
            chunk = torch.tensor(ids[start:start + self.config.chunk], device=self.device)[None]
            hidden, states = self(chunk, states)
            last = hidden[0, -1]
        return last, states

    @torch.no_grad()
    def answer(self, samples) -> list[Answer]:
        answers = []
        for sample in samples:
            ids = self.format.read(sample.input, sample.question)
            last, states = self.read(ids)

            def next_logits(generated: list[int]) -> torch.Tensor:
                nonlocal last, states
                if generated:  # feed only the newest token: the state holds everything before it
                    hidden, states = self(torch.tensor([[generated[-1]]], device=self.device), states)
                    last = hidden[0, -1]
                return self.logits(last)

            answers.append(Answer(self.format.generate(next_logits, self.config.max_answer_tokens),
                                  trace={"tokens": len(ids)}))
        return answers


# -- `memreasoner train --model mamba` -------------------------------------------------------------
def add_arguments(group) -> None:
    add_common_arguments(group)
    c = MambaReaderConfig()
    group.add_argument("--mamba-layers", type=int, default=c.layers)
    group.add_argument("--mamba-dim", type=int, default=c.dim)
    group.add_argument("--mamba-state", type=int, default=c.state, help="SSM state size N")
    group.add_argument("--mamba-expand", type=int, default=c.expand)
    group.add_argument("--mamba-pretrained", default="", help="Hugging Face Mamba folder (weights, config, tokenizer)")


def run(args) -> int:
    config = MambaReaderConfig(task=args.task, layers=args.mamba_layers, dim=args.mamba_dim, state=args.mamba_state,
                               expand=args.mamba_expand)
    torch.manual_seed(args.seed)
    if args.mamba_pretrained and not args.resume:
        model = MambaLM.from_pretrained(args.mamba_pretrained, config).to(args.device)
    else:
        model = model_for(MambaLM, config, args)
    train = token_examples(babi_train(args), model.format)

    def step_loss(batch: int, progress: float, gen: torch.Generator) -> torch.Tensor:
        return model.loss([train[i] for i in torch.randint(len(train), (batch,), generator=gen)])

    fit(model, step_loss, args, DEFAULTS, info={"train_questions": len(train)})
    return 0
