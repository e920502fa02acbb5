"""Step 5 of MemReasoner: iterative read with query update, and each hop's nearest line.

    q_0     = Q z_q                                 query latent (Q learned, starts as identity)
    r_t     = read(M, q_t)                          memory.py
    l_t,i   = beta * cos(r_t, z~_i)                 nearest-line logits over the written lines
    q_{t+1} = q_t + alpha * U z~_(nearest line of r_t)   query update (P: add the readout, weighted by alpha)

Stopping (P: threshold; open: the cap): at inference a story stops after hop t once its readout
direction has stopped changing, |r_t/|r_t| - r_{t-1}/|r_{t-1}|| < `threshold`, or at the hop cap
(`hops`: 1 for qa1, 2 for qa2). Training always runs the cap, so every hop gets gradients.

Query update (config `update`, open):
  readout  q + alpha * r, the paper's update read literally. With an exact pseudo-inverse it cannot
           move a second hop anywhere new: r_t already lies in the span of the written latents, so the
           next read is P(q_t + alpha r_t) = r_t + alpha r_t, the same direction, the same line.
  mapped   q + alpha * U r with a learned C x C map U: the readout of "Mary got the football" can
           then point the next read at Mary's location lines, which is what qa2 needs. U starts as the
           identity (= `readout`); alpha still weighs the readout against the question.
  line     (default) q + alpha * U z~_i*, the readout first replaced by its nearest line's latent (the
           attention-weighted mix of z~ in training): what the next hop follows is exactly one written
           line, not the least-squares blend of every line that a projection read returns. On qa2 it
           learns the second hop in far fewer steps than `mapped`.

Revisiting (config `hop_revisit`, open; default off): at inference a later hop may not land on a line
an earlier hop chose, so the chosen lines are distinct, as qa2's two facts and a variable chain's
statements always are. A hop that finds nothing new for an unseen name otherwise falls back on the
line it came from, which barring revisits prevents (README: unseen answers). An answer that was right
cannot change: a right second hop never lands on the first hop's line. Training's soft attention has no single chosen line
and its hops never need one twice, so training is the same either way.

Order between hops (config `hop_order`, open; default `rank`): a later hop's logits get a bias by
where each line lies relative to the previous hop's line j, set by what that line says. Cosine
similarity and shared words find the holder's moves; which of them answers is a matter of order:
after "put down the milk" the holder's last move *before* it, after "took the milk" the holder's last
move of all.
  rank      (default) counted in candidates, not lines: with p_k = exp(l_t,k - max l_t) (1 for the
            best line, near 0 for lines far below it; no gradient),
                l_t,i += a_0 + a_in (p between j and i) + a_out (p beyond i)    for i after j,
                         b_0 + b_in (p between i and j) + b_out (p beyond i)    for i before j,
            (a_0, a_in, a_out, b_0, b_in, b_out) = W z~_j (W starts at zero: no bias). "The latest
            move before the drop" is the candidate with none between it and j, "the latest move of
            all" the one with none beyond it, however many other lines lie between.
  relative  distance in lines: a_0 + a_1 (i - j)/10 after j, b_0 + b_1 (j - i)/10 before; a story with
            more events between the facts than training's moves the hop to the wrong move.
  none      the paper's hop, and what checkpoints from before the order bias load as.

Order by the previous line's words (config `order_words`, open; default on): the same count again, each
line counted by how much it shares the previous hop's line's own words (word_match.py's `previous` term:
the holder's name, not the question's words) and is a candidate by what the shared words and the
token-level keys say of it, the latents left out:
    w_k     = match(words of line j the question does not hold, line k) * exp(s_k - max s)   (no gradient)
    l_t,i  += a'_0 + a'_in (w between j and i) + a'_out (w beyond i)   for i after j,
              b'_0 + b'_in (w between i and j) + b'_out (w beyond i)   for i before j,
with s the hop's shared-word and key logits and (a'_0 .. b'_out) = W' z~_j (W' starts at zero). The
candidates' count misses when the right line scores lower than an earlier one: an unseen place moves a
line's latent, and qa3's third hop took the holder's move before the right one, whose cosine was 1-3
logits below it. Counted by the holder's words in lines of the kind the keys ask for (a move, not a
take), every earlier move of the holder lies behind the right one, whatever the latents say. The
words alone (w = match) count the holder's takes and drops and every line sharing the verb: qa3 on
unseen words fell from 86 to 78, the third hop pulled to anyone's move just before the second's
line. `order_words=false` is without it, and what checkpoints from before it load as.
From the third hop on the shared words have a fourth term, with its own gate (config `chain_words`,
open; default on): the words a line shares with *every* earlier hop's line (word_match.py `chain`).
After "Henry got the apple." and "Henry journeyed to the library." that is Henry, the holder, where
the previous line's words also count "journeyed" in anyone's move; in a RULER chain, where each line
names the variable the one before assigned, it is nothing, and the gate can leave it. At the first two
hops the term is zero, so qa2 is unchanged. `chain_words=false` is without it, and what checkpoints from
before it load as.

Order at the first hop (config `first_order`, open; default on): the first hop has no previous line,
but "where is Mary?" asks for her *latest* move, which the temporal encoding says less and less
clearly the further a story runs past training's lengths. So its logits get the same count, from
the story's end:
    l_0,i += c * (p beyond i),   c = w . q_0 + b   (zero at the start: no bias)
the latest candidate is the one with none beyond it, however long the story. `first_order=false` is
without it, and what checkpoints from before it load as.

Where the question's words were said last (config `first_latest`, open; default on): the first hop's
logits also get
    l_0,i += sum_k c_k latest_k,i,   c = W q_0   (W starts at zero)
with latest_k,i = 1 on the last line holding the question's k-th word (word_match.py). "Where was the
football before the bathroom?" starts at the football's last line: a take three lines after a drop, which
the latents tell apart by kind, not by time, and the candidates' count above misses when the drop scores
higher. The words match by identity, so it holds for names training never saw. `first_latest=false` is
without it, and what checkpoints from before it load as.

Shared words (config `hop_match`, open; default `words`): each hop's logits also get
    l_t,i += g . (new_i, both_i, previous_i),   g = G [q_0 ; z~_j]   (3 gates; G starts at zero)
the idf-weighted words line i shares with the question but not the previous hop's line j, with both,
and with j but not the question (word_match.py). The latents find the kind of line a hop needs; a
shared word finds whose line it is, for names training never saw: the holder of the object at qa2's
second hop (previous, and not the object's other lines: both), the named place at qa3's (new), the
next variable of a vt chain (previous).
`none` is without it, and what checkpoints from before it load as.

Where the question's words stand (config `hop_roles`, open; default on): each hop's logits also get
a learned score of each line read token by token, l_t,i += g_t s_t,i (line_roles.py): who does what to
whom, which the sentence latent blurs and shared words ignore; a later hop's score also sees which of
a line's tokens hold the previous hop's words (`roles_follow`: whose move it is). `hop_roles=false` is
without it, and what checkpoints from before it load as (those from before `roles_follow` score every
hop alike).

Nearest line, hard or soft (config `select`, open): argmax over the logits is the paper's mapping and
is what inference uses. argmax has no gradient, so training needs a stand-in:
  soft      (default) the softmax attention over lines; the decoder is conditioned on the attention-
            weighted mix of line latents. beta is learned, and the answer loss sharpens it.
  straight  straight-through: the forward pass uses the argmax line (as at inference), the backward
            pass the softmax's gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .line_roles import MAX_RANK, LineRoles
from .memory import EpisodicMemory, Memory
from .word_match import TERMS, WordMatch

UPDATES = ("line", "mapped", "readout")
ORDERS = ("rank", "relative", "none")
MATCHES = ("words", "none")
ORDER_SCALE = 10.0  # lines per unit of relative distance in the order bias
SELECTS = ("soft", "straight")


def candidates(logits: torch.Tensor) -> torch.Tensor:
    """[B, N] logits -> how much each line is a candidate: 1 for the best, near 0 far below it and on
    padding; no gradient (what counts as a candidate is not what training moves)."""
    return (logits - logits.max(-1, keepdim=True).values).exp().detach()


def counted_order(gates: torch.Tensor, counts: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """The order bias counted in `counts` [B, N] (how much each line counts) from the previous hop's line weights
    previous [B, N]; gates [B, 6] = (a_0, a_in, a_out, b_0, b_in, b_out) -> [B, N]:
        a_0 + a_in (count between j and i) + a_out (count beyond i)    for line i after line j,
        b_0 + b_in (count between i and j) + b_out (count beyond i)    for line i before line j."""
    N = counts.shape[1]
    pos = torch.arange(N, device=counts.device)
    after = (pos[:, None] > pos[None, :]).to(counts.dtype)  # [N(i), N(j)]: line i after line j
    before = (pos[:, None] < pos[None, :]).to(counts.dtype)
    c = counts.cumsum(-1)
    ci, cj, pi, pj = c[:, :, None], c[:, None, :], counts[:, :, None], counts[:, None, :]
    a0, a_in, a_out, b0, b_in, b_out = gates[:, :, None, None].unbind(1)
    bias = (after * (a0 + a_in * (ci - pi - cj) + a_out * (c[:, -1, None, None] - ci))  # i > j
            + before * (b0 + b_in * (cj - pj - ci) + b_out * (ci - pi)))  # i < j
    return torch.einsum("bij,bj->bi", bias, previous)


def counted_order_reference(gates: torch.Tensor, counts: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """The same as `counted_order`, line by line: the readable twin the tests hold it equal to."""
    B, N = counts.shape
    out = torch.zeros(B, N)
    for b in range(B):
        a0, a_in, a_out, b0, b_in, b_out = gates[b].tolist()
        for i in range(N):
            for j in range(N):
                between = float(counts[b, min(i, j) + 1:max(i, j)].sum())
                if i > j:
                    out[b, i] += previous[b, j] * (a0 + a_in * between + a_out * float(counts[b, i + 1:].sum()))
                elif i < j:
                    out[b, i] += previous[b, j] * (b0 + b_in * between + b_out * float(counts[b, :i].sum()))
    return out


def padding_mask(lengths: torch.Tensor, n: int) -> torch.Tensor:
    """[B] line counts -> [B, n] True on padding."""
    return torch.arange(n, device=lengths.device)[None, :] >= lengths[:, None]


@dataclass
class HopResult:
    logits: torch.Tensor  # [B, T, N] nearest-line logits per hop (-inf on padding)
    attention: torch.Tensor  # [B, T, N] line weights per hop (one-hot when hard)
    readouts: torch.Tensor  # [B, T, C]
    lines: torch.Tensor  # [B, T] argmax line per hop
    used: torch.Tensor  # [B] hops each story actually used (<= T)

    @property
    def final(self) -> torch.Tensor:
        """[B, N] line weights of each story's last used hop: what conditions the decoder."""
        idx = (self.used - 1)[:, None, None].expand(-1, 1, self.attention.shape[-1])
        return self.attention.gather(1, idx).squeeze(1)


class HopReader(nn.Module):
    def __init__(self, dim: int, hops: int = 1, alpha: float = 8.0, update: str = "line",
                 threshold: float = 1e-3, select: str = "soft", beta: float = 10.0, revisit: bool = False,
                 order: str = "rank", match: str = "words", roles: bool = False, follow: bool = False,
                 first_order: bool = False, rank: bool = False, first_latest: bool = False,
                 order_words: bool = False, chain_words: bool = False):
        super().__init__()
        if update not in UPDATES:
            raise ValueError(f"hop update must be one of {UPDATES}, not {update!r}")
        if select not in SELECTS:
            raise ValueError(f"line selection must be one of {SELECTS}, not {select!r}")
        if order not in ORDERS:
            raise ValueError(f"hop order must be one of {ORDERS}, not {order!r}")
        if match not in MATCHES:
            raise ValueError(f"hop match must be one of {MATCHES}, not {match!r}")
        self.hops, self.alpha, self.update, self.threshold, self.select = hops, alpha, update, threshold, select
        self.revisit = revisit
        self.query = nn.Linear(dim, dim)
        nn.init.eye_(self.query.weight)
        nn.init.zeros_(self.query.bias)
        if update != "readout":
            self.hop_map = nn.Linear(dim, dim, bias=False)
            nn.init.eye_(self.hop_map.weight)
        self.log_beta = nn.Parameter(torch.tensor(math.log(beta)))
        self.order_kind = order
        self.order = None
        if order != "none":  # (a_0, a_in, a_out, b_0, b_in, b_out) or (a_0, a_1, b_0, b_1) from the previous hop's line
            self.order = nn.Linear(dim, 6 if order == "rank" else 4)
            nn.init.zeros_(self.order.weight)
            nn.init.zeros_(self.order.bias)
        self.first_order = None
        if first_order:  # c, the weight of the candidates beyond a line, from the question
            self.first_order = nn.Linear(dim, 1)
            nn.init.zeros_(self.first_order.weight)
            nn.init.zeros_(self.first_order.bias)
        self.first_latest = None
        if first_latest:  # c_k, the weight of the k-th question word's last line, from the question
            self.first_latest = nn.Linear(dim, MAX_RANK)
            nn.init.zeros_(self.first_latest.weight)
            nn.init.zeros_(self.first_latest.bias)
        self.chain_words = chain_words
        self.order_words = None
        if order_words:  # (a'_0, a'_in, a'_out, b'_0, b'_in, b'_out) from the previous hop's line
            self.order_words = nn.Linear(dim, 6)
            nn.init.zeros_(self.order_words.weight)
            nn.init.zeros_(self.order_words.bias)
        if match == "words":
            # gates from [q_0 ; previous hop's line], one per term and, with chain_words, one for the chain's words
            self.match_gates = nn.Linear(2 * dim, len(TERMS) + chain_words)
            nn.init.zeros_(self.match_gates.weight)
            nn.init.zeros_(self.match_gates.bias)
        else:
            self.match_gates = None
        self.roles = LineRoles(dim, follow=follow, rank=rank) if roles else None

    def order_bias(self, previous: torch.Tensor, line: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """previous: [B, N] the previous hop's line weights (one-hot at inference); line [B, C] its latent;
        logits [B, N] this hop's logits so far (what makes a line a candidate) -> [B, N]."""
        if self.order_kind == "rank":
            return counted_order(self.order(line), candidates(logits), previous)
        N = logits.shape[1]
        pos = torch.arange(N, device=logits.device)
        after = (pos[:, None] > pos[None, :]).to(line.dtype)  # [N(i), N(j)]: line i after line j
        before = (pos[:, None] < pos[None, :]).to(line.dtype)
        d = (pos[:, None] - pos[None, :]).to(line.dtype) / ORDER_SCALE  # distance of line i after line j
        a0, a1, b0, b1 = self.order(line)[:, :, None, None].unbind(1)
        bias = after * (a0 + a1 * d) + before * (b0 - b1 * d)  # [B, N(i), N(j)]
        return torch.einsum("bij,bj->bi", bias, previous)

    def first_order_bias(self, q0: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """q0 [B, C]; logits [B, N] the first hop's logits so far -> [B, N] c * (candidates beyond each line)."""
        p = candidates(logits)
        beyond = p.sum(-1, keepdim=True) - p.cumsum(-1)
        return self.first_order(q0) * beyond

    def first_latest_bias(self, words: WordMatch, q0: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
        """q0 [B, C] -> [B, N] sum_k c_k (line i is the last holding the question's k-th word)."""
        return torch.einsum("bnk,bk->bn", words.latest(shape, MAX_RANK), self.first_latest(q0))

    def match_bias(self, terms: torch.Tensor, q0: torch.Tensor, line: torch.Tensor) -> torch.Tensor:
        """Shared-word bias [B, N]: terms [K, B, N] the lines' word matches (WordMatch.matches, + chain); q0 [B, C] the
        hops' first query; line [B, C] the previous hop's line latent (zeros at the first hop)."""
        gates = self.match_gates(torch.cat([q0, line], -1))  # [B, K]
        return torch.einsum("kbn,bk->bn", terms, gates)

    def nearest(self, r: torch.Tensor, keys: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """Nearest-line logits beta * cos(r, z~_i): r [B, C], keys [B, N, C] unit rows, pad [B, N] -> [B, N]."""
        beta = self.log_beta.exp().clamp(max=100.0)
        logits = beta * torch.einsum("bc,bnc->bn", F.normalize(r, dim=-1), keys)
        return logits.masked_fill(pad, float("-inf"))

    def forward(self, memory: EpisodicMemory, written: Memory, keys: torch.Tensor, lengths: torch.Tensor,
                zq: torch.Tensor, words: WordMatch | None = None, hard: bool = False, stop: bool = True,
                tokens: tuple[torch.Tensor, torch.Tensor] | None = None) -> HopResult:
        """keys: [B, N, C] the written z~; lengths: [B]; zq: [B, C] question latents; words: the lines'
        shared words (needed when the reader matches words or its roles follow the previous hop, then built
        with the lines' tokens); tokens: the lines' GPT-2 ids [B, N, L] (-1 padding) and question flags
        [B, N, L] (needed when the reader reads roles).

        hard=True is inference: one-hot attention and (unless stop=False) the stopping threshold.
        """
        B, N, _ = keys.shape
        pad = padding_mask(lengths, N)
        q = q0 = self.query(zq)
        follow = self.roles is not None and self.roles.follow
        if (self.match_gates is not None or follow or self.first_latest is not None
                or self.order_words is not None) and words is None:
            raise ValueError("this hop reader matches words: pass the lines' WordMatch")
        if self.roles is not None and tokens is None:
            raise ValueError("this hop reader reads roles: pass the lines' tokens")
        states = None if self.roles is None else self.roles.states(*tokens, q0)  # [B, N, L, E]
        logits, attention, readouts = [], [], []
        chosen = torch.zeros_like(pad)  # [B, N] lines earlier hops landed on
        for t in range(self.hops):
            r = memory.read(written, q)  # [B, C]
            cosine = self.nearest(r, keys, pad)
            line = torch.zeros_like(q0) if t == 0 else torch.einsum("bn,bnc->bc", attention[-1], keys)  # previous hop's
            previous = attention[-1] if t else None
            terms = None  # [3 (+1 chain), B, N] each line's shared words (word_match.py TERMS)
            if self.match_gates is not None or (t and self.order_words is not None):
                terms = words.matches(previous, pad.shape)
                if self.match_gates is not None and self.chain_words:  # the words every earlier hop's line holds
                    chain = words.chain(attention, pad.shape) if t > 1 else torch.zeros_like(cosine)
                    terms = torch.cat([terms, chain[None]])
            said = torch.zeros_like(cosine)  # [B, N] what shared words and token-level keys say of each line
            if self.match_gates is not None:
                said = said + self.match_bias(terms, q0, line)
            if states is not None:
                held = words.previous_tokens(previous) if t and follow else None
                said = said + self.roles.gate(q0, line) * self.roles(states, tokens[0], held, line)
            lt = cosine + said
            if t == 0 and self.first_latest is not None:
                lt = lt + self.first_latest_bias(words, q0, pad.shape)
            if t == 0 and self.first_order is not None:
                lt = lt + self.first_order_bias(q0, lt)
            if t and self.order is not None:
                lt = lt + self.order_bias(previous, line, lt)
            if t and self.order_words is not None:  # the previous line's words in lines the words and keys pick
                counts = terms[2].detach() * candidates(said.masked_fill(pad, float("-inf")))
                lt = lt + counted_order(self.order_words(line), counts, previous)
            if hard and not self.revisit:
                lt = lt.masked_fill(chosen, float("-inf"))
            soft = lt.softmax(-1)
            one_hot = F.one_hot(lt.argmax(-1), N).to(soft.dtype)
            if hard:
                at = one_hot
            elif self.select == "straight":
                at = one_hot + soft - soft.detach()
            else:
                at = soft
            chosen |= one_hot.bool()
            logits.append(lt)
            attention.append(at)
            readouts.append(r)
            if t + 1 < self.hops:
                if self.update == "readout":
                    q = q + self.alpha * r
                elif self.update == "mapped":
                    q = q + self.alpha * self.hop_map(r)
                else:  # "line": the readout first mapped to its nearest line's z~ (soft in training)
                    q = q + self.alpha * self.hop_map(torch.einsum("bn,bnc->bc", at, keys))
        logits, attention, readouts = torch.stack(logits, 1), torch.stack(attention, 1), torch.stack(readouts, 1)
        used = torch.full((B,), self.hops, dtype=torch.long, device=keys.device)
        if hard and stop and self.hops > 1:
            # First hop t >= 1 whose readout direction moved less than the threshold: stop at t - 1.
            unit = F.normalize(readouts, dim=-1)
            still = (unit[:, 1:] - unit[:, :-1]).norm(dim=-1) < self.threshold  # [B, T-1]
            first = torch.where(still.any(1), still.float().argmax(1) + 1, torch.full_like(used, self.hops))
            used = first
        return HopResult(logits, attention, readouts, logits.argmax(-1), used)
