"""The GPT-2 backbone of the RMT and full-attention baselines: built small, or loaded from a local folder.

Sequences are fed as embeddings (the RMT mixes token embeddings with memory vectors), right-padded,
with explicit position ids: under causal attention right padding changes nothing for real tokens,
and explicit positions let training place a short bAbI story anywhere in the window (see
`random_start`).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import GPT2Config, GPT2Model

from ..errors import InputError
from .common import EOT


def build_backbone(saved: dict, pretrained: str, layers: int, dim: int, heads: int, positions: int) -> GPT2Model:
    """`saved` (a config dict from a checkpoint) wins, then a pretrained folder, then a small fresh config."""
    if saved:
        return GPT2Model(GPT2Config.from_dict(saved))
    if pretrained:
        try:
            return GPT2Model.from_pretrained(pretrained)
        except OSError as err:
            raise InputError(f"cannot load GPT-2 weights from {pretrained!r}: {str(err).splitlines()[0]}") from None
    return GPT2Model(GPT2Config(vocab_size=EOT + 1, n_positions=positions, n_embd=dim, n_layer=layers,
                                n_head=heads, bos_token_id=EOT, eos_token_id=EOT))


def embed(gpt2: GPT2Model, ids: list[list[int]]) -> list[torch.Tensor]:
    """Token embeddings of each id list ([T_b, E] each), through one lookup.

    One lookup, not one per list: the backward of every lookup zero-fills a dense [50257, E] gradient,
    which made a batch of 32 lookups cost more than the whole transformer step.
    """
    flat = torch.tensor([t for row in ids for t in row], dtype=torch.long, device=gpt2.wte.weight.device)
    return list(gpt2.wte(flat).split([len(row) for row in ids]))


def run(gpt2: GPT2Model, sequences: list[torch.Tensor], starts: list[int] | None = None) -> torch.Tensor:
    """sequences: B tensors [T_b, E] of input embeddings; starts: position of each one's first vector.

    Returns the last hidden states [B, T, E] (T = max T_b; rows past T_b are padding).
    """
    B, T = len(sequences), max(len(s) for s in sequences)
    device = sequences[0].device
    embeds = nn.utils.rnn.pad_sequence(sequences, batch_first=True)  # [B, T, E]
    lengths = torch.tensor([len(s) for s in sequences], device=device)
    mask = (torch.arange(T, device=device)[None] < lengths[:, None]).long()  # [B, T]
    offset = torch.tensor(starts or [0] * B, device=device)[:, None]
    positions = (offset + torch.arange(T, device=device)[None]).clamp(max=gpt2.config.n_positions - 1)  # [B, T]
    return gpt2(inputs_embeds=embeds, attention_mask=mask, position_ids=positions).last_hidden_state


def logits(gpt2: GPT2Model, hidden: torch.Tensor) -> torch.Tensor:
    """[..., E] -> [..., V] through the tied token embeddings (GPT-2's LM head)."""
    return hidden @ gpt2.wte.weight.T


def random_start(gen: torch.Generator, used: int, room: int) -> int:
    """A uniformly random first position for `used` positions inside `room`.

    Why: bAbI stories are ~100 tokens, the test windows and segments hundreds more. Trained only at
    positions 0..100, a GPT-2 from scratch never learns the embeddings of later positions; placing each
    training sequence at a random offset trains them all (randomised positions, Ruoss et al., 2023).
    """
    return int(torch.randint(max(1, room - used + 1), (1,), generator=gen))
