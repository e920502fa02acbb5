"""Policies the agent loop can call: a local Hugging Face causal LM, or an OpenAI-compatible server.

Both take chat messages and return `loop.Reply`s. Only the local policy returns token ids, which is
what GRPO trains on; a server is for inference (vLLM, llama.cpp, TGI and others serve this API).
Nothing is downloaded unless the user names a Hugging Face hub model instead of a local folder.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import torch

from ..errors import InputError
from .loop import Reply
from .tokenizer import collapse_unknown


def messages_to_text(tokenizer, messages: list[dict]) -> tuple[str, bool]:
    """(model input text, whether it came from a chat template). Without a template: the contents joined."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), True
    return "\n\n".join(m["content"] for m in messages), False


class HFPolicy:
    """A causal LM and its tokenizer; batched greedy or sampled generation with left padding.

    Sampling draws from the plain softmax at `temperature` (no top-k/top-p), so that the probability
    GRPO computes for a reply is the probability it was sampled with.
    """

    def __init__(self, model, tokenizer, device: str = "cpu", batch_size: int = 16, temperature: float = 1.0):
        self.model = model.to(device)
        self.tokenizer = tokenizer
        self.device = device
        self.batch_size = batch_size
        self.temperature = temperature
        self.collapse_unk = bool(getattr(model.config, "collapse_unk", False))
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        eos = model.generation_config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in eos:
            eos.append(tokenizer.eos_token_id)
        if not eos:
            raise InputError("the model defines no end-of-sequence token, so replies could not stop")
        self.eos_ids = eos
        self.max_positions = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)

    @classmethod
    def from_path(cls, path: str | Path, device: str = "cpu", **kwargs) -> "HFPolicy":
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if Path(path).exists() and not Path(path).is_dir():
            raise InputError("expected a Hugging Face model folder", path)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path))
            model = AutoModelForCausalLM.from_pretrained(str(path), dtype="auto")
        except (OSError, ValueError) as err:
            raise InputError(f"cannot load a causal LM from here ({str(err).splitlines()[0]})", path) from None
        return cls(model.eval(), tokenizer, device=device, **kwargs)

    def encode(self, messages: list[dict]) -> list[int]:
        text, templated = messages_to_text(self.tokenizer, messages)
        ids = self.tokenizer(text, add_special_tokens=not templated)["input_ids"]
        if self.collapse_unk:
            ids = collapse_unknown(ids, self.tokenizer.unk_token_id)
        return ids

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], sample: bool, max_new_tokens: int) -> list[list[int]]:
        """Reply token ids for each prompt, each ending at (and including) its end token if it stopped."""
        if self.max_positions:
            longest = max(map(len, prompts), default=0)
            if longest + max_new_tokens > self.max_positions:
                raise InputError(f"a prompt of {longest} tokens plus {max_new_tokens} new ones exceeds the model's "
                                 f"{self.max_positions} positions; use a smaller chunk size")
        was_training = self.model.training
        self.model.eval()
        out: list[list[int]] = [[] for _ in prompts]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths pad less
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            width = max(len(prompts[i]) for i in batch)
            ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                ids[row, width - len(prompts[i]) :] = torch.tensor(prompts[i])
                mask[row, width - len(prompts[i]) :] = 1
            settings = dict(do_sample=sample, max_new_tokens=max_new_tokens, pad_token_id=self.pad_id,
                            eos_token_id=self.eos_ids)
            if sample:
                settings.update(temperature=self.temperature, top_k=0, top_p=1.0)
            else:
                settings.update(temperature=None, top_k=None, top_p=None)
            generated = self.model.generate(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), **settings)
            for row, i in enumerate(batch):
                reply = generated[row, width:].tolist()
                stops = [k for k, t in enumerate(reply) if t in self.eos_ids]
                out[i] = reply[: stops[0] + 1] if stops else reply
        self.model.train(was_training)
        return out

    def act(self, requests, *, sample: bool = False, max_new_tokens: int = 256) -> list[Reply]:
        prompts = [self.encode(r.messages) for r in requests]
        outputs = self.generate(prompts, sample, max_new_tokens)
        return [Reply(self.decode(o), p, o) for p, o in zip(prompts, outputs)]


def api_base(url: str) -> str:
    """The API root: a bare server address gets vLLM's usual "/v1"."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"not an http(s) URL: {url!r}")
    return url.rstrip("/") if parts.path.strip("/") else url.rstrip("/") + "/v1"


class OpenAIPolicy:
    """Any OpenAI-compatible chat server, through the official `openai` client.

    `timeout` (seconds) bounds each request and the client retries failed ones `retries` times with
    backoff; a request that still fails stops the run with one line naming the server. Requests of
    one step run `concurrency` at a time (servers batch them). Greedy means temperature 0.
    """

    def __init__(self, url: str, model: str | None = None, api_key: str | None = None, timeout: float = 300.0,
                 retries: int = 3, concurrency: int = 8, temperature: float = 1.0):
        from openai import OpenAI

        self.url = api_base(url)
        self.client = OpenAI(base_url=self.url, api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
                             timeout=timeout, max_retries=retries)
        self.concurrency = concurrency
        self.temperature = temperature
        self.model = model or self._served_model()

    def _served_model(self) -> str:
        """The first model the server lists (vLLM and llama.cpp serve one)."""
        try:
            models = [m.id for m in self.client.models.list()]
        except Exception as err:  # the client raises several connection/status error types
            raise InputError(f"cannot list the models of {self.url} ({type(err).__name__}: {err})") from None
        if not models:
            raise InputError(f"{self.url} serves no model")
        return models[0]

    def _complete(self, messages: list[dict], sample: bool, max_new_tokens: int) -> str:
        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=messages, max_tokens=max_new_tokens,
                temperature=self.temperature if sample else 0.0)
        except Exception as err:
            raise InputError(f"{self.url} failed a chat request after retries ({type(err).__name__}: {err})") from None
        return response.choices[0].message.content or ""

    def act(self, requests, *, sample: bool = False, max_new_tokens: int = 1024) -> list[Reply]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            texts = list(pool.map(lambda r: self._complete(r.messages, sample, max_new_tokens), requests))
        return [Reply(t) for t in texts]
