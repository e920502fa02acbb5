"""ReMemR1 and MemAgent as benchmark `Reader`s (`load_reader("rememr1:SPEC")`, `"memagent:SPEC"`).

SPEC is one of
    a checkpoint folder written by `save` (or by `memreasoner train --model rememr1|memagent`):
        config.json {"model": "rememr1", "agent": {AgentConfig fields}, "backend": "hf" | "openai", ...}
        policy/     the Hugging Face model and tokenizer ("hf"), absent for "openai" (which has "url")
    a Hugging Face causal-LM folder (or hub name) -- run with the `instruct` prompt and 5000-token chunks;
    an http(s) URL of an OpenAI-compatible server, e.g. http://gpu-box:8000/v1. Settings ride in the
    query string: ?model=NAME&chunk_tokens=5000&recall_method=bm25&max_new_tokens=1024&timeout=300
    &concurrency=8 (without model=, the first model the server lists).
The two readers differ only in recall: on for ReMemR1, off for MemAgent.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ..checkpoint import check_weights_file
from ..data.sample import Sample
from ..errors import InputError
from ..files import read_json, write_atomic
from ..reader import Answer, Reader
from .backends import HFPolicy, OpenAIPolicy
from .loop import AgentConfig, new_episodes, run_episodes

_URL_AGENT_KEYS = {"chunk_tokens": int, "recall_method": str, "template": str, "max_new_tokens": int,
                   "final_max_new_tokens": int}
_URL_SERVER_KEYS = {"model": str, "timeout": float, "concurrency": int, "retries": int}


def _from_url(spec: str, recall: bool) -> tuple[OpenAIPolicy, AgentConfig, dict]:
    parts = urlsplit(spec)
    agent, server = {}, {}
    for key, value in parse_qsl(parts.query):
        kind = _URL_AGENT_KEYS.get(key) or _URL_SERVER_KEYS.get(key)
        if kind is None:
            raise InputError(f"unknown setting {key!r} in the URL; known: {', '.join([*_URL_AGENT_KEYS, *_URL_SERVER_KEYS])}")
        try:
            (agent if key in _URL_AGENT_KEYS else server)[key] = kind(value)
        except ValueError:
            raise InputError(f"URL setting {key}={value!r} is not a {kind.__name__}") from None
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    policy = OpenAIPolicy(url, **server)
    config = AgentConfig(recall=recall, **agent).check()
    return policy, config, {"backend": "openai", "url": url, "llm": policy.model}


class RememR1Reader(Reader):
    name = "rememr1"
    recall = True
    # What may change when answering (AgentConfig marks none itself): recall is what tells ReMemR1 from
    # MemAgent, and the prompt template is the one the policy was trained with.
    OPTIONS = ("chunk_tokens", "recall_method", "max_new_tokens", "final_max_new_tokens")

    def __init__(self, policy, config: AgentConfig, source: dict | None = None):
        self.policy = policy
        self.config = dataclasses.replace(config, recall=self.recall).check()
        self.source = source or {}  # how to re-create the policy: {"backend": "hf"} or {"backend": "openai", "url", "llm"}

    def answer(self, samples: list[Sample]) -> list[Answer]:
        start = time.perf_counter()
        episodes = run_episodes(self.policy, new_episodes(samples, self.config), self.config)
        # The episodes run in lockstep batches, so the wall time is shared evenly.
        each = (time.perf_counter() - start) / max(len(samples), 1)
        return [Answer(e.answer_text, [], each, e.trace()) for e in episodes]

    def answer_options(self) -> list[str]:
        return list(self.OPTIONS)

    def with_options(self, **options) -> "RememR1Reader":
        before = dataclasses.replace(self.config)
        super().with_options(**options)
        try:
            self.config.check()
        except InputError:
            self.config = before
            raise
        return self

    def save(self, path: str | Path) -> None:
        """Write config.json and policy/ into `path`, each swapped in only once complete; other
        files there (a training report, an imitation checkpoint) are left alone."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        source = dict(self.source)
        if isinstance(self.policy, HFPolicy):
            source["backend"] = "hf"
            tmp, old = path / "policy.tmp", path / "policy.old"
            shutil.rmtree(tmp, ignore_errors=True)
            self.policy.model.save_pretrained(tmp)
            self.policy.tokenizer.save_pretrained(tmp)
            if (path / "policy").exists():
                shutil.rmtree(old, ignore_errors=True)
                (path / "policy").replace(old)
            tmp.replace(path / "policy")
            shutil.rmtree(old, ignore_errors=True)
        config = {"model": self.name, "agent": dataclasses.asdict(self.config), **source}
        write_atomic(path / "config.json", json.dumps(config, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "RememR1Reader":
        spec = str(path)
        if spec.startswith(("http://", "https://")):
            policy, config, source = _from_url(spec, cls.recall)
            return cls(policy, config, source)
        folder = Path(spec)
        config_file = folder / "config.json"
        meta = read_json(config_file) if config_file.is_file() else {}
        if not isinstance(meta, dict):
            raise InputError("holds no JSON object", config_file)
        if meta.get("model") in ("rememr1", "memagent"):
            try:
                config = AgentConfig(**meta.get("agent", {}))
            except TypeError as err:
                raise InputError(f"bad agent settings in config.json ({err})", config_file) from None
            if meta.get("backend") == "openai":
                if "url" not in meta:
                    raise InputError('backend "openai" but no "url" of the server', config_file)
                policy = OpenAIPolicy(meta["url"], model=meta.get("llm"))
                return cls(policy, config, {k: meta[k] for k in ("backend", "url", "llm") if k in meta})
            return cls(_hf_policy(folder / "policy", device), config, {"backend": "hf"})
        # Any other Hugging Face causal LM (a local folder, or a hub name the user chose to download).
        return cls(_hf_policy(spec, device), AgentConfig(template="instruct"), {"backend": "hf"})


def _hf_policy(path: str | Path, device: str) -> HFPolicy:
    """A Hugging Face policy; a damaged weights file in a local folder is named in one line."""
    for weights in sorted(Path(path).glob("*.safetensors")):
        check_weights_file(weights)
    return HFPolicy.from_path(path, device=device)


class MemAgentReader(RememR1Reader):
    name = "memagent"
    recall = False
