"""A cheap first pass for huge inputs: decide which lines the full encoder must see.

The full encoder (MiniLM) reads ~90 lines/s on two cores: a 1M-token haystack (~41k lines) would
take minutes. Static token embeddings distilled from the same encoder with `model2vec` read
thousands of lines per second. A plain cosine to the training centroid on them is too blunt (story
facts rank in the thousands among 4,000 book lines at 128k); a Gaussian fitted to the static
embeddings of the training lines (Mahalanobis distance, shrunk covariance) ranks every story fact
of the bAbI vocabulary at most 1 place below the story's own size (measured on 10 haystacks, qa1
and qa2, 128k, ~2,000-4,600 lines each). It is learned from training lines alone, never from distractors.

Limit, measured: for stories whose names, places and objects never occur in training, the static
embeddings of the new words move the facts far from the fitted Gaussian (ranks ~2,000-4,000 of
4,000 at 128k), so the first pass keeps a wide margin (`keep` lines) and only switches on past
`min_lines`; below that, every line goes to the full encoder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import InputError


def static_model(encoder_path: str, cache_dir: str | Path | None = None):
    """The model2vec distillation of `encoder_path`, made once and kept on disk."""
    from model2vec import StaticModel

    cache_dir = Path(cache_dir or Path.home() / ".cache" / "memreasoner" / "static")
    folder = cache_dir / hashlib.sha1(str(Path(encoder_path).resolve()).encode()).hexdigest()[:16]
    if not (folder / "model.safetensors").is_file():
        try:
            from model2vec.distill import distill
        except ImportError:
            raise InputError("the static first pass needs model2vec's distill extra: pip install 'model2vec[distill]'") from None
        tmp = folder.with_name(folder.name + ".tmp")
        distill(model_name=encoder_path, pca_dims=None).save_pretrained(str(tmp))
        tmp.replace(folder)
    return StaticModel.from_pretrained(str(folder))


class StaticFirstPass(nn.Module):
    """Scores lines by closeness (negative Mahalanobis distance) to the training lines' static embeddings."""

    def __init__(self, dim: int = 384, keep: int = 1024, min_lines: int = 2048, shrinkage: float = 1e-2):
        super().__init__()
        self.keep, self.min_lines, self.shrinkage = keep, min_lines, shrinkage
        self.register_buffer("mean", torch.zeros(dim))  # fitted; saved with the checkpoint
        self.register_buffer("precision", torch.eye(dim))
        self.embedder = None  # the static model, attached by `attach` (not part of the state dict)

    def attach(self, embedder) -> None:
        self.embedder = embedder

    def embed(self, lines: list[str]) -> torch.Tensor:
        vectors = self.embedder.encode(lines, use_multiprocessing=False)  # [n, d]
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))

    @torch.no_grad()
    def fit(self, train_lines: list[str]) -> None:
        z = self.embed(sorted(set(train_lines)))  # [n, d]
        mean = z.mean(0)
        cov = torch.cov((z - mean).T) + self.shrinkage * torch.eye(z.shape[1])
        self.mean.copy_(mean)
        self.precision.copy_(torch.linalg.inv(cov))

    @torch.no_grad()
    def score(self, lines: list[str]) -> torch.Tensor:
        """[n] scores, higher = more like a training line."""
        d = self.embed(lines) - self.mean  # [n, d]
        return -((d @ self.precision) * d).sum(-1)

    def select(self, lines: list[str]) -> list[int]:
        """Indices (ascending) of the lines the full encoder should see."""
        if len(lines) <= max(self.min_lines, self.keep):
            return list(range(len(lines)))
        top = self.score(lines).topk(self.keep).indices
        return sorted(top.tolist())
