"""A cheap first pass for huge inputs: decide which lines the full encoder must see.

IU as a cascade: static scores for every line -> the top `keep` go to the full encoder -> IU's
relevance score keeps the top eta of those. On a long haystack the full encoder (MiniLM) is most of
the cost of reading every line (benchmarks/scale.py); static token embeddings distilled from the same
encoder with `model2vec` read lines far faster. A plain cosine to the training centroid on them is
too blunt (story facts rank deep among the book lines); a Gaussian fitted to the static embeddings of
the training lines (Mahalanobis distance, shrunk covariance) ranks the story facts of the bAbI
vocabulary close to the top. It is learned from training lines alone, never from distractors.

Limit: for stories whose names, places and objects never occur in training, the static embeddings
of the new words move the facts far from the fitted Gaussian, so the first pass keeps a wide margin
(`keep` lines) and only switches on past `min_lines`; below that, every line goes to the full encoder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoint import replace_folder
from ..errors import InputError
from ..paths import cache_dir
from .relevance import top_in_order


def static_model(encoder_path: str):
    """The model2vec distillation of `encoder_path`, made once and kept under the cache directory."""
    from model2vec import StaticModel

    folder = cache_dir() / "static" / hashlib.sha1(str(Path(encoder_path).resolve()).encode()).hexdigest()[:16]
    if not (folder / "model.safetensors").is_file():
        try:
            from model2vec.distill import distill
        except ImportError:
            raise InputError("the static first pass needs model2vec's distill extra: pip install 'model2vec[distill]'") from None
        with replace_folder(folder) as tmp:  # processes distilling at once each write their own, then swap it in
            distill(model_name=encoder_path, pca_dims=None).save_pretrained(str(tmp))
    return StaticModel.from_pretrained(str(folder))


class StaticFirstPass(nn.Module):
    """Scores lines by closeness (negative Mahalanobis distance) to the training lines' static embeddings."""

    def __init__(self, embedder, keep: int = 1024, min_lines: int = 2048, shrinkage: float = 1e-2,
                 stream_lines: int = 8192):
        super().__init__()
        self.keep, self.min_lines, self.shrinkage, self.stream_lines = keep, min_lines, shrinkage, stream_lines
        self.embedder = embedder  # the static model (a model2vec StaticModel); saved beside the state dict
        self.register_buffer("mean", torch.zeros(embedder.dim))  # fitted; saved with the checkpoint
        self.register_buffer("precision", torch.eye(embedder.dim))

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
        """Indices (ascending) of the lines the full encoder should see; streamed `stream_lines` at a time."""
        if len(lines) <= max(self.min_lines, self.keep):
            return list(range(len(lines)))
        keep_idx, keep_s = torch.empty(0, dtype=torch.long), torch.empty(0)
        for start in range(0, len(lines), self.stream_lines):
            s = self.score(lines[start:start + self.stream_lines])
            keep_idx = torch.cat([keep_idx, torch.arange(start, start + len(s))])
            keep_s = torch.cat([keep_s, s])
            if len(keep_s) > self.keep:
                top = top_in_order(keep_s, self.keep)
                keep_idx, keep_s = keep_idx[top], keep_s[top]
        return keep_idx.tolist()
