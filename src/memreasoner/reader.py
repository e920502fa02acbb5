"""The one interface every model answers through (MemReasoner, the baselines, the agent).

The evaluation harness only ever calls `Reader.answer`, `Reader.save` and `load_reader`: it never
special-cases a model. A checkpoint is a folder holding `config.json` whose `"model"` key names the
reader that wrote it (see registry.py), plus whatever weights that reader keeps (safetensors).

A reader's dataclass config mixes what training fixes (the architecture, what training fits) with
what may change when answering; the latter are declared with `option`, and `with_options` (what
`memreasoner eval --set` calls) changes those alone, so a setting that would be silently ignored or
break the weights is refused with a reason instead.
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

ANSWER_TIME = "answer_time"  # field metadata: the setting may change when answering


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

    def answer_options(self) -> list[str]:
        """Names of the config fields that may change when answering: those declared with `option`."""
        config = getattr(self, "config", None)
        if not dataclasses.is_dataclass(config):
            return []
        return [f.name for f in dataclasses.fields(config) if f.metadata.get(ANSWER_TIME)]

    def options_in_use(self) -> dict:
        """Every answer-time option and its value now: what a results file records."""
        return {name: getattr(self.config, name) for name in self.answer_options()}

    def with_options(self, **options) -> "Reader":
        """Change answer-time options (e.g. `iu=False`; strings are parsed to the field's type).

        A setting fixed when the model was trained, an unknown name or a bad value is an InputError
        that lists the options, and changes nothing."""
        allowed = self.answer_options()
        listed = f"answer-time options of {self.name}: {', '.join(allowed) or 'none'}"
        fields = {f.name: f for f in dataclasses.fields(self.config)} if allowed else {}
        values = {}
        for key, value in options.items():
            if key not in allowed:
                why = "is fixed when the model is trained" if hasattr(self.config, key) else f"is no setting of {self.name}"
                raise InputError(f"{key} {why}; {listed}")
            current = getattr(self.config, key)
            value = _coerce(key, value, type(current)) if isinstance(value, str) else value
            choices = fields[key].metadata.get("choices")
            if choices and value not in choices:
                raise InputError(f"{key} must be one of {', '.join(map(str, choices))}, not {value!r}")
            values[key] = value
        for key, value in values.items():
            setattr(self.config, key, value)
        return self


def option(default=dataclasses.MISSING, help: str = "", choices: tuple = (), **kw):
    """A config field that may change when answering (`memreasoner eval --set NAME=VALUE`); every
    other field of a reader's config is fixed when the model is trained (or fitted by training)."""
    return field(default=default, metadata={ANSWER_TIME: True, "help": help, "choices": choices}, **kw)


def setting(default=dataclasses.MISSING, help: str = "", choices: tuple = (), **kw):
    """A config field fixed when the model is trained (architecture, or what training fits)."""
    return field(default=default, metadata={"help": help, "choices": choices}, **kw)


def _coerce(key: str, text: str, kind: type):
    """Parse a command-line option value to the type the config field holds."""
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise InputError(f"{key} takes true or false, not {text!r}")
        return text.lower() in ("true", "1", "yes")
    try:
        return kind(text)
    except (TypeError, ValueError):
        what = {int: "a whole number", float: "a number"}.get(kind, f"a {kind.__name__}")
        raise InputError(f"{key} takes {what}, not {text!r}") from None


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
