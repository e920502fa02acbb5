"""Step 6 of MemReasoner: a GPT-2 decoder conditioned on one line latent, as Larimar conditions it.

Two conditioning paths at once (Larimar):
  prefix  a linear map of the latent gives one key and one value per layer: a one-token KV prefix
          that every position attends to;
  embed   another linear map of the latent is added to every token embedding.
The decoder is `transformers`' GPT2LMHeadModel with the GPT-2 BPE vocabulary (50257 ids, tiktoken
encoding from the local BPE file): a small config trained here, or pretrained weights from a local
folder when a user has them.

Sequences (the prompt is not scored):
  answer      <|endoftext|> question | " answer" <|endoftext|>
  reconstruct <|endoftext|>          | line <|endoftext|>   (" line" with line_space)
The question in the prompt tells the decoder what to pull out of the line's latent ("Where is the
football?" -> a place); reconstruction teaches it to spell out whatever a latent holds, so it can name
a word that occurs in training lines but never as an answer. A word that never occurs in training at
all the plain decoder cannot emit (trained from scratch, it has never produced that token): on stories
with unseen places it names the nearest seen place ("garage" -> "garden").

Copy decoder (`copy=True`, MemReasonerConfig.copy, the default): a pointer-generator head (pointer.py)
mixes the vocabulary distribution with a copy distribution over the GPT-2 tokens of the line the hops
chose (in training: the story's lines under the soft hop attention, or under the recall attention for
autoencoding). Its keys see token shapes and positions, never token identities, so it copies unseen
words by their role in the line. With it, an unseen answer is wrong when the hops chose the wrong
line, not because the decoder cannot spell it: what limits unseen answers is retrieval (IU and the
hops), not decoding.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
import torch.nn.functional as F
from torch import nn
from transformers import DynamicCache, GPT2Config, GPT2LMHeadModel

from ..data.sample import normalize_question
from ..data.tokens import gpt2_encoding
from .pointer import CopyHead, CopySource, Encoded

EOT = 50256  # <|endoftext|>, GPT-2's only special token
IGNORE = -100


def small_gpt2_config(layers: int = 2, dim: int = 128, heads: int = 4, positions: int = 256) -> GPT2Config:
    return GPT2Config(vocab_size=50257, n_positions=positions, n_embd=dim, n_layer=layers, n_head=heads,
                      bos_token_id=EOT, eos_token_id=EOT)


class LatentDecoder(nn.Module):
    def __init__(self, latent_dim: int, gpt2_config: GPT2Config | None = None, pretrained: str = "",
                 copy: bool = False, copy_words: bool = True, copy_question: bool = False, line_space: bool = False):
        super().__init__()
        self.gpt2 = GPT2LMHeadModel.from_pretrained(pretrained) if pretrained else GPT2LMHeadModel(gpt2_config or small_gpt2_config())
        cfg = self.gpt2.config
        self.layers, self.heads, self.dim = cfg.n_layer, cfg.n_head, cfg.n_embd
        self.to_prefix = nn.Linear(latent_dim, self.layers * 2 * self.dim)
        self.to_embed = nn.Linear(latent_dim, self.dim)
        self.encoding = gpt2_encoding()
        self.copier = CopyHead(self.dim, copy_words, copy_question) if copy else None
        self.line_prefix = " " if line_space else ""

    def _check_source(self, source: CopySource | None) -> None:
        if (source is None) != (self.copier is None):
            raise ValueError("a copy decoder needs the lines it copies from, a plain one takes none")

    # -- tokens -------------------------------------------------------------------------------------
    def answer_tokens(self, question: str, answer: str | None = None) -> tuple[list[int], list[int]]:
        """(prompt ids, target ids); the target ends with <|endoftext|>."""
        prompt = [EOT] + self.encoding.encode_ordinary(normalize_question(question))
        return prompt, ([] if answer is None else self.encoding.encode_ordinary(" " + answer) + [EOT])

    def line_tokens(self, line: str) -> tuple[list[int], list[int]]:
        return [EOT], self.copy_tokens(line) + [EOT]

    def copy_tokens(self, line: str) -> list[int]:
        """What the copy mechanism can copy from a line: its ids, without the <|endoftext|>. With
        `line_space` the line is read after a space, as text mid-document: its first word is then the
        token an answer has (" Jeff"), not the line-initial one ("Jeff") no answer ever matches."""
        return self.encoding.encode_ordinary(self.line_prefix + line)

    # -- the conditioned forward pass ---------------------------------------------------------------
    def _prefix(self, latent: torch.Tensor) -> DynamicCache:
        """latent [B, D] -> a cache holding one key/value position per layer, [B, heads, 1, dim/heads]."""
        B = latent.shape[0]
        kv = self.to_prefix(latent).view(B, self.layers, 2, self.heads, 1, self.dim // self.heads)
        return DynamicCache(ddp_cache_data=[(kv[:, i, 0], kv[:, i, 1]) for i in range(self.layers)])

    def _hidden(self, latent: torch.Tensor, tokens: torch.Tensor, cache: DynamicCache, start: int) -> torch.Tensor:
        """tokens [B, T, E] (token embeddings) at positions start..start+T-1, after the prefix (and any
        earlier tokens) already in `cache` -> last hidden states [B, T, E]."""
        B, T, _ = tokens.shape
        embeds = tokens + self.to_embed(latent)[:, None, :]  # the latent added to every token embedding
        positions = torch.arange(start, start + T, device=tokens.device)[None].expand(B, -1)
        past = cache.get_seq_length()  # the prefix slot plus earlier tokens; it has no position of its own
        mask = torch.ones(B, past + T, dtype=torch.long, device=tokens.device)
        out = self.gpt2.transformer(inputs_embeds=embeds, past_key_values=cache, attention_mask=mask,
                                    position_ids=positions, use_cache=True)
        return out.last_hidden_state

    def loss(self, latent: torch.Tensor, prompts: list[list[int]], targets: list[list[int]],
             negatives: int = 0, source: CopySource | None = None) -> torch.Tensor:
        """Cross-entropy of each row's target tokens given latent [B, D] and its prompt (teacher
        forcing), averaged over the row's targets -> [B].

        negatives > 0 (training only): sampled softmax over the batch's target ids and that many ids
        drawn uniformly from the rest, each drawn logit shifted by log(rest / negatives) so the
        partition function stays unbiased. The full 50257-way output layer and the dense gradients of
        the embedding tables are most of a CPU training step otherwise; rows used this step are
        gathered once per table so each table gets one dense gradient per call. Inference always
        takes the argmax over the full vocabulary.

        source (copy decoders only): the lines each row may copy from; the target's probability is
        then the gated mixture of the vocabulary's and the copy distribution's (pointer.py).
        """
        self._check_source(source)
        seqs = [p + t for p, t in zip(prompts, targets)]
        B, T = len(seqs), max(map(len, seqs)) - 1
        ids = torch.full((B, T), EOT, dtype=torch.long)
        labels = torch.full((B, T), IGNORE, dtype=torch.long)
        for b, (p, s) in enumerate(zip(prompts, seqs)):
            ids[b, : len(s) - 1] = torch.tensor(s[:-1])
            labels[b, len(p) - 1 : len(s) - 1] = torch.tensor(s[len(p):])  # predict token k+1 at k
        ids, labels = ids.to(latent.device), labels.to(latent.device)
        keep = labels != IGNORE  # right padding is harmless under causal attention; it has no label
        wte, head = self.gpt2.transformer.wte.weight, self.gpt2.lm_head.weight
        if self.training and negatives:
            used, where = ids.unique(return_inverse=True)
            positives = labels[keep].unique()  # sorted
            rest = torch.ones(head.shape[0], dtype=torch.bool, device=ids.device)
            rest[positives] = False
            rest = rest.nonzero().squeeze(1)
            drawn = rest[torch.randint(len(rest), (negatives,), device=ids.device)]
            out_rows = torch.cat([positives, drawn])  # [S]
            target = torch.searchsorted(positives, labels[keep])
            shift = torch.zeros(len(out_rows), device=ids.device)
            shift[len(positives):] = math.log(len(rest) / negatives)
            if head is wte:  # tied (GPT-2's default): one gather, so the shared table gets one dense gradient
                rows = wte[torch.cat([used, out_rows])]
                tokens, head_rows = rows[: len(used)][where], rows[len(used):]  # [B, T, E], [S, E]
            else:
                tokens, head_rows = wte[used][where], head[out_rows]
        else:
            tokens, out_rows, target, shift = self.gpt2.transformer.wte(ids), None, labels[keep], 0.0
        if source is not None:
            enc = self.copier.encode(source)
            tokens = tokens + self.copier.input_feedback(enc, ids)
        hidden = self._hidden(latent, tokens, self._prefix(latent), 0)  # [B, T, E]
        scored = hidden[keep]  # [P, E]
        logits = (scored @ head_rows.T + shift) if out_rows is not None else self.gpt2.lm_head(scored)
        per_token = F.cross_entropy(logits, target, reduction="none")  # [P], -log p_vocab
        if source is not None:
            probs, gate = self.copier.copy_probs(enc, hidden)  # [B, T, N, L], [B, T]
            p_copy = (probs * (enc.ids[:, None] == labels[:, :, None, None])).sum((-2, -1))[keep]  # [P]
            gate = gate[keep]
            # -log(g p_vocab + (1 - g) p_copy); the epsilon keeps the log finite where nothing matches
            per_token = -torch.logaddexp(F.logsigmoid(gate) - per_token, F.logsigmoid(-gate) + torch.log(p_copy + 1e-12))
        row = keep.nonzero()[:, 0]  # which row each scored position belongs to
        return torch.zeros(B, device=ids.device).index_add(0, row, per_token) / keep.sum(1).clamp(min=1)

    def next_distribution(self, last: torch.Tensor, enc: Encoded | None) -> torch.Tensor:
        """last [b, E] decoder states -> [b, V] next-token probabilities: the vocabulary softmax, mixed
        with the copy distribution over the encoded lines' ids for a copy decoder."""
        p_vocab = self.gpt2.lm_head(last).softmax(-1)  # [b, V]
        if enc is None:
            return p_vocab
        probs, gate = self.copier.copy_probs(enc, last[:, None])  # [b, 1, N, L], [b, 1]
        g = gate.sigmoid()  # [b, 1]
        return (g * p_vocab).scatter_add(1, enc.ids.clamp(min=0).flatten(1), (1 - g) * probs.flatten(1))

    @torch.no_grad()
    def generate(self, latent: torch.Tensor, prompts: list[list[int]], max_new_tokens: int = 8,
                 source: CopySource | None = None) -> list[list[int]]:
        """Greedy decoding until <|endoftext|>; returns the new ids of each row (without the EOT).
        A copy decoder needs `source`, the line(s) each row copies from."""
        self._check_source(source)
        out: list[list[int]] = [[] for _ in prompts]
        by_length = defaultdict(list)  # prompts of one length share a batch: no padding needed
        for b, p in enumerate(prompts):
            by_length[len(p)].append(b)
        for length, rows in by_length.items():
            lat = latent[rows]
            ids = torch.tensor([prompts[b] for b in rows], device=latent.device)
            cache = self._prefix(lat)
            enc = None if source is None else self.copier.encode(source.rows(rows))

            def embed(tokens: torch.Tensor) -> torch.Tensor:  # [b, t] -> [b, t, E], as in training
                x = self.gpt2.transformer.wte(tokens)
                return x if enc is None else x + self.copier.input_feedback(enc, tokens)

            hidden = self._hidden(lat, embed(ids), cache, 0)
            done = torch.zeros(len(rows), dtype=torch.bool, device=latent.device)
            for step in range(max_new_tokens):
                nxt = self.next_distribution(hidden[:, -1], enc).argmax(-1)  # [b]
                done |= nxt == EOT
                for j, b in enumerate(rows):
                    if not done[j]:
                        out[b].append(int(nxt[j]))
                if done.all():
                    break
                hidden = self._hidden(lat, embed(nxt[:, None]), cache, length + step)
        return out

    def decode(self, ids: list[int]) -> str:
        return self.encoding.decode(ids).strip()

    def whole_words(self, ids: list[int], line: list[int]) -> list[int]:
        """`ids` widened to whole words of `line` when they are a run of its tokens that starts or ends
        inside a word: a copy decoder trained on one-piece answers may copy only a word's last piece
        ("ullery" of " scullery"). The last such run is taken (answers end bAbI-style lines); ids that
        are not a run of the line are returned as they are."""
        n = len(ids)
        starts = [j for j in range(len(line) - n + 1) if n and line[j:j + n] == ids]
        if not starts:
            return ids
        j, k = starts[-1], starts[-1] + n
        piece = [self.encoding.decode([t]) for t in line]
        while j > 0 and piece[j][:1].isalnum() and piece[j - 1][-1:].isalnum():
            j -= 1  # the run starts inside a word: take the word's first pieces too
        while k < len(line) and piece[k][:1].isalnum() and piece[k - 1][-1:].isalnum():
            k += 1  # it ends inside a word: take the rest of the word
        return line[j:k]
