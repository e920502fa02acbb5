"""Every model the toolkit knows, named once: its reader, its trainer and what the studies assume of it.

`memreasoner train` finds the trainer here, `load_reader` (and with it `memreasoner eval`) the reader,
`memreasoner compare` the models it trains by default. Entries hold import paths, not classes, so
naming a model imports nothing (torch least of all) until it is used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from .errors import InputError

if TYPE_CHECKING:
    from .reader import Reader


@dataclass(frozen=True)
class Model:
    name: str
    reader: str  # "module:Class", a Reader subclass
    trainer: str  # module with add_arguments(group) (the model's own flags) and run(args)
    description: str
    compare: bool = True  # trained by `memreasoner compare` unless --models says otherwise
    done_file: str = "metrics.json"  # what its trainer writes last: the run finished
    resume_file: str = "trainer.pt"  # what an interrupted run leaves for --resume
    variant: str = ""  # the bAbI training set of a trainer that has no --variant flag
    tasks: tuple[str, ...] = ()  # the bAbI tasks its trainer takes, where it does not take all of qa1-qa5

    def reader_class(self) -> type[Reader]:
        module, cls = self.reader.split(":")
        return getattr(importlib.import_module(module), cls)

    def trainer_module(self) -> ModuleType:
        return importlib.import_module(self.trainer)


MODELS: dict[str, Model] = {m.name: m for m in [
    Model("memreasoner", "memreasoner.model.memreasoner:MemReasoner", "memreasoner.model.train",
          "episodic memory, temporal encoding and hops over line latents"),
    Model("larimar", "memreasoner.baselines.larimar:Larimar", "memreasoner.baselines.larimar",
          "MemReasoner without temporal encoding and hops"),
    Model("rmt", "memreasoner.baselines.rmt:RecurrentMemoryTransformer", "memreasoner.baselines.rmt",
          "Recurrent Memory Transformer, GPT-2 backbone, memory carried across segments"),
    Model("mamba", "memreasoner.baselines.mamba:MambaLM", "memreasoner.baselines.mamba",
          "selective state-space model"),
    Model("transformer", "memreasoner.baselines.transformer:FullAttentionTransformer",
          "memreasoner.baselines.transformer", "full-attention GPT-2 over context + question, up to its window"),
    Model("memn2n", "memreasoner.baselines.memn2n:MemN2N", "memreasoner.baselines.memn2n",
          "End-To-End Memory Network"),
    Model("retrieval", "memreasoner.baselines.retrieval:RetrieveThenRead", "memreasoner.baselines.retrieval",
          "BM25 (or embedding) top-k lines, read by a MemN2N"),
    # The agents train for long on their own schedule (imitation, then GRPO): compare them when asked.
    Model("rememr1", "memreasoner.agent.reader:RememR1Reader", "memreasoner.agent.train",
          "LLM agent reading chunk by chunk into a textual memory, with recall", compare=False,
          done_file="report.json", resume_file="imitation/config.json", variant="en-10k", tasks=("qa1", "qa2")),
    Model("memagent", "memreasoner.agent.reader:MemAgentReader", "memreasoner.agent.train",
          "the same agent without recall", compare=False,
          done_file="report.json", resume_file="imitation/config.json", variant="en-10k", tasks=("qa1", "qa2")),
]}


def get(name: str) -> Model:
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name]


def compared() -> list[str]:
    """The models `memreasoner compare` trains by default."""
    return [name for name, m in MODELS.items() if m.compare]
