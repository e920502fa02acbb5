"""Step 7 of MemReasoner: the inference-time update (IU) for long inputs.

A memory of C-dim latents cannot hold a haystack: once more than C lines are written, the read is
the identity (memory.py). IU keeps only the lines most likely to be story facts, in their original
order, and runs the temporal encoding, write and read on those alone (P). The relevance score, eta
and how a second-hop fact survives are open; the choices here:

Score (config `relevance`), learned from the training lines alone, never from distractors:
  centroid  (default) cosine between a line's latent and the mean latent of every training line
            (unit-normalised). It asks "does this look like a story line?", not "is this about the
            question?", so a qa2 second-hop fact ("Mary went to the kitchen"), which shares no word
            with "Where is the football?", scores as high as the first-hop fact.
  question  cosine to the question latent. Kept as the ablation SPEC warns about: it ranks the
            supporting fact around 218th of 1,300 book lines and throws the second hop away.

Which lines survive: the top `eta` lines by score, minus those scoring below `threshold` (unless
none would be left). The threshold is calibrated at training time (`fit`): the lowest score any training line gets, lowered
by `margin` so that stories with new names, places and objects (the unseen-answer tests) still pass.
For `question` scores the threshold stays at -inf: only the top-eta cut applies.

Streaming: lines are encoded and scored `stream_lines` at a time, and only the running top-eta
(indices, scores, latents) is kept, so a 1M-token haystack (~41k lines) never becomes one tensor.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

SCORES = ("centroid", "question")


class RelevanceFilter(nn.Module):
    def __init__(self, dim: int, score: str = "centroid", eta: int = 128, margin: float = 0.1,
                 stream_lines: int = 2048):
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"relevance score must be one of {SCORES}, not {score!r}")
        self.score_kind, self.eta, self.margin, self.stream_lines = score, eta, margin, stream_lines
        # Fitted on training lines; saved with the checkpoint.
        self.register_buffer("centroid", torch.zeros(dim))
        self.register_buffer("threshold", torch.tensor(float("-inf")))

    @torch.no_grad()
    def fit(self, train_latents: torch.Tensor) -> None:
        """train_latents: [n, C] unit latents of the (distinct) training lines."""
        centroid = F.normalize(train_latents.mean(0), dim=0)
        self.centroid.copy_(centroid)
        self.threshold.fill_(float((train_latents @ centroid).min()) - self.margin)

    def score(self, z: torch.Tensor, zq: torch.Tensor) -> torch.Tensor:
        """z: [n, C] line latents, zq: [C] question latent -> [n] scores (higher = keep)."""
        return z @ (self.centroid if self.score_kind == "centroid" else zq)

    @torch.no_grad()
    def select(self, lines: list[str], zq: torch.Tensor, encode: Callable[[list[str]], torch.Tensor]
               ) -> tuple[list[int], torch.Tensor, torch.Tensor]:
        """Stream `lines` through `encode` -> (kept line indices ascending, their latents [k, C], scores [k])."""
        keep_idx = torch.empty(0, dtype=torch.long)
        keep_z = torch.empty(0, zq.shape[-1], device=zq.device)
        keep_s = torch.empty(0, device=zq.device)
        for start in range(0, len(lines), self.stream_lines):
            z = encode(lines[start:start + self.stream_lines])  # [b, C]
            s = self.score(z, zq)
            idx = torch.arange(start, start + len(z))
            keep_idx, keep_z, keep_s = torch.cat([keep_idx, idx]), torch.cat([keep_z, z]), torch.cat([keep_s, s])
            if len(keep_s) > self.eta:
                top = keep_s.topk(self.eta).indices
                keep_idx, keep_z, keep_s = keep_idx[top.cpu()], keep_z[top], keep_s[top]
        above = keep_s >= self.threshold  # the threshold only ever removes lines, never all of them
        if above.any():
            keep_idx, keep_z, keep_s = keep_idx[above.cpu()], keep_z[above], keep_s[above]
        order = keep_idx.argsort()  # back to document order: the temporal encoding needs it
        return keep_idx[order].tolist(), keep_z[order.to(keep_z.device)], keep_s[order.to(keep_s.device)]
