"""The one interface every model answers through (MemReasoner, the baselines, the agent).

The evaluation harness only ever calls `Reader.answer`, `Reader.save` and `load_reader`: it never
special-cases a model. A checkpoint is a folder holding `config.json` whose `"model"` key names the
reader that wrote it (see registry.py), plus whatever weights that reader keeps (safetensors).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from . import registry
from .data.sample import Sample
from .errors import InputError
from .files import read_json


@dataclass
class Answer:
    text: str  # the generated answer
    hops: list[int] = field(default_factory=list)  # line index each hop landed on (empty if the model has no hops)
    seconds: float = 0.0  # wall time to answer this sample
    trace: dict = field(default_factory=dict)  # model-specific detail worth keeping (agent memories, ...)


class Reader(ABC):
    """A model that answers a question over a (possibly huge) context."""

    name: str = ""

    @abstractmethod
    def answer(self, samples: list[Sample]) -> list[Answer]:
        """Answer each sample; one `Answer` per sample, in order."""

    @abstractmethod
    def save(self, path: str | Path) -> None:
        """Write a checkpoint folder (config.json with "model": self.name, plus weights), atomically."""

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "Reader":
        """Read a checkpoint folder written by `save`."""

    def with_options(self, **options) -> "Reader":
        """Change inference-time options (e.g. `iu=False`) of a reader whose dataclass `config` has them."""
        if not options:
            return self
        config = getattr(self, "config", None)
        known = {f.name: f for f in dataclasses.fields(config)} if dataclasses.is_dataclass(config) else {}
        for key, value in options.items():
            if key not in known:
                raise InputError(f"{self.name} has no option {key!r}; options: {', '.join(known) or 'none'}")
            current = getattr(config, key)
            setattr(config, key, _coerce(value, type(current)) if isinstance(value, str) else value)
        return self


def _coerce(text: str, kind: type):
    """Parse a command-line option value to the type the config field holds."""
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise InputError(f"expected true or false, got {text!r}")
        return text.lower() in ("true", "1", "yes")
    try:
        return kind(text)
    except (TypeError, ValueError):
        raise InputError(f"expected a {kind.__name__}, got {text!r}") from None


def load_reader(spec: str, device: str = "cpu") -> Reader:
    """Load `NAME:PATH` or a checkpoint folder `PATH` (its config.json names the model)."""
    name, sep, path = spec.partition(":")
    if not sep or name not in registry.MODELS:
        name, path = "", spec
    if not name:
        config = Path(path) / "config.json"
        if not config.is_file():
            raise InputError("not a checkpoint folder (no config.json); use NAME:PATH for other models", path)
        obj = read_json(config)
        if not isinstance(obj, dict) or not isinstance(obj.get("model"), str):
            raise InputError('no "model" key naming the reader', config)
        name = obj["model"]
        if name not in registry.MODELS:
            raise InputError(f'"model" names no known reader ({name!r}; known: {", ".join(registry.MODELS)})', config)
    return registry.get(name).reader_class().load(path, device=device)
