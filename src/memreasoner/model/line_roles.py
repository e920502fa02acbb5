"""Token-level keys for the hops (config `hop_roles`): where in a line the question's words stand.

A sentence latent says what a line is about, hardly who does what to whom: mean-pooled MiniLM puts
"The studio is north of the garage." and "The garage is north of the studio." close together, and
shared words (word_match.py) count a word wherever it stands. bAbI never needs more: its qa4 always
asks about the place its supporting fact names second, with the question's direction or its
opposite. Asked the other way round ("What is south of the studio?" over "The studio is south of the
library." and "The studio is north of the garage."), the right line is the one whose direction is
*not* the question's, because the studio comes first in it: a pattern of which words the question
holds and where they stand, whatever the words are.

So each line is also read token by token, as the copy keys read it (pointer.py's TokenReader): a token's shape,
which closed-class word it is, its position from either end, and whether its word is one of the
question's; the question's latent is added at every step, so the pattern can depend on how the
question is put. A small BiGRU reads that, its states are max-pooled, and a linear map scores the
line:

    s_i     = w . maxpool_j BiGRU(x_i,1 .. x_i,L)_j            [B, N]
    x_i,j   = shape(tok) + start(j) + end(L - 1 - j) + v * asked_i,j + Q q_0
    l_t,i  += g_t * s_i,   g_t = G [q_0 ; z~_j(t-1)]           (G: weight zero, bias one; w starts at zero)

No content word enters by identity, so an unseen place scores as a seen one in the same slot. A
line's score depends on its own tokens and the question only: not on its neighbours or on padding.

Words, not pieces (config `roles_words`, default on): read token by token, "Cornelius journeyed to
the belfry." is ten tokens and "Tom went to the hall." six, so the same roles stand at other positions
and the score of a holder's move varied by 2-5 logits with how GPT-2 splits its words, enough to
pick the holder's earlier move over the right one. The reader is given each word's first piece
only (pointer.py `at_word_starts`; the flags are the word's), and a word of several pieces fills one
slot, as a word of one does.

Following the previous hop (config `roles_follow`, default on): with one score for every hop, qa2's
second hop is scored as its first, by where the *question's* words stand, and it needs the holder's
move: "Zelda" first, a place last, the object nowhere. So a later hop's pooling also sees, per token,
how much the previous hop's line holds its word (word_match.py `previous_tokens`; the holder's name),
and that line's latent (what kind of line it was: a take, a drop), both added to the states before the
max-pool (zero at the first hop; both maps start at zero, so an untrained follow changes nothing):

    s_t,i   = w . maxpool_j (h_i,j + u * prev_t,i,j + P z~_j(t-1))      h = BiGRU(x) as above

Which question word (config `roles_rank`, default on): "asked" says that the question holds a token's
word, not which of its words it is, so how the question is put ("What is north of the studio?" or "What
is the studio north of?") reached the reader only through the question's latent Q q_0, which moves with
every unseen place in it: qa4's misses on unseen words took the line with the right places the wrong
way round. So an asked token also gets its word's place among the question's words (1 for the first,
2 for the second...; an embedding, zero at the start): "studio" then second of the question's words, its
place in the line first, is a pattern of positions that holds whatever the words are.

    x_i,j  += R[rank_i,j],   rank = place of the token's word among the question's words (0: not asked)

The BiGRU runs once per story; a hop costs a max-pool.
"""

from __future__ import annotations

import torch
from torch import nn

from .pointer import TokenReader


MAX_RANK = 8  # question words from the eighth on share one rank


class LineRoles(TokenReader):
    def __init__(self, latent_dim: int, dim: int = 64, follow: bool = False, rank: bool = False):
        super().__init__(dim, words=True)
        self.asked = nn.Linear(1, dim, bias=False)
        self.rank = nn.Embedding(MAX_RANK + 1, dim) if rank else None  # R: which question word (0: none)
        if rank:
            nn.init.zeros_(self.rank.weight)
        self.question = nn.Linear(latent_dim, dim, bias=False)
        self.score = nn.Linear(dim, 1, bias=False)
        nn.init.zeros_(self.score.weight)  # no effect until training finds one
        self.gates = nn.Linear(2 * latent_dim, 1)  # per hop, from [q_0 ; previous hop's line]
        nn.init.zeros_(self.gates.weight)
        nn.init.ones_(self.gates.bias)
        self.follow = follow
        if follow:
            self.previous = nn.Linear(1, dim, bias=False)  # u: a token's word held by the previous hop's line
            self.context = nn.Linear(latent_dim, dim, bias=False)  # P: the previous hop's line latent
            nn.init.zeros_(self.previous.weight)
            nn.init.zeros_(self.context.weight)

    def states(self, ids: torch.Tensor, asked: torch.Tensor, q0: torch.Tensor) -> torch.Tensor:
        """ids [B, N, L] GPT-2 ids of each story's lines (-1 padding); asked [B, N, L] the place of the token's
        word among the question's words (1, 2, ...; 1 for any with `rank` off), 0 where the question lacks
        it; q0 [B, C] -> token states [B, N, L, E], read once for every hop."""
        extra = self.asked((asked > 0).to(q0.dtype)[..., None]) + self.question(q0)[:, None, None, :]
        if self.rank is not None:
            extra = extra + self.rank(asked.long().clamp(max=MAX_RANK))
        return self.read_tokens(ids, extra)

    def forward(self, states: torch.Tensor, ids: torch.Tensor, previous: torch.Tensor | None = None,
                line: torch.Tensor | None = None) -> torch.Tensor:
        """states [B, N, L, E] (`states`); ids [B, N, L] (-1 padding); previous [B, N, L] the previous hop's
        words per token and line [B, C] its latent (None at the first hop, or without follow) -> line
        scores [B, N] (0 on padding lines)."""
        pad = ids < 0
        if self.follow and previous is not None:
            states = states + self.previous(previous[..., None]) + self.context(line)[:, None, None, :]
        pooled = states.masked_fill(pad[..., None], float("-inf")).amax(2)  # [B, N, E]
        return self.score(pooled.masked_fill(pad.all(-1)[..., None], 0.0)).squeeze(-1)

    def gate(self, q0: torch.Tensor, line: torch.Tensor) -> torch.Tensor:
        """[B, C] first query and [B, C] previous hop's line latent (zeros at the first hop) -> [B, 1]."""
        return self.gates(torch.cat([q0, line], -1))
