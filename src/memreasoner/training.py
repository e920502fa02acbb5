"""Training any registered model: what `memreasoner train` runs, and what the studies call directly.

Each model's trainer module (see registry.py) declares its own flags (`add_arguments`) and trains
from the parsed namespace (`run`). `train` builds that namespace from keyword settings plus the
model's flags as strings, so a study trains a model exactly as the command line does, without
going through the command line.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from . import registry
from .device import DEVICE_HELP, resolve_device
from .errors import InputError


class _Parser(argparse.ArgumentParser):
    """A bad training flag is an InputError (one line), from the command line or from a study."""

    def __init__(self, model: str):
        super().__init__(prog=f"memreasoner train --model {model}", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        self.model = model

    def error(self, message: str):
        raise InputError(f"train --model {self.model}: {message}")


def shared_flags(p: argparse.ArgumentParser) -> None:
    """The flags every trainer takes."""
    p.add_argument("--model", default="memreasoner", help=f"which model: {', '.join(registry.MODELS)}")
    p.add_argument("--task", default="qa1", help="qa1-qa5 for MemReasoner and the peers (vt: MemReasoner and Larimar), qa1 or qa2 for the agents")
    p.add_argument("--babi", help="bAbI-format training file (default: the data dir's train split)")
    p.add_argument("--out", help="checkpoint folder to write (required)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--minutes", type=float, default=None, help="stop training after this many minutes")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from --out")
    # Shared knobs; None means the model's own default.
    p.add_argument("--steps", type=int, default=None, help="optimiser steps")
    p.add_argument("--lr", type=float, default=None, help="learning rate")
    p.add_argument("--batch-size", type=int, default=None)


def parser(model: str) -> argparse.ArgumentParser:
    """The shared flags and those of `model`'s trainer (imported here: naming a model imports nothing)."""
    full = _Parser(model)
    shared_flags(full)
    registry.get(model).trainer_module().add_arguments(full.add_argument_group(f"{model} options"))
    return full


def train(model: str, task: str, out: str | Path, flags: Sequence[str] = (), *, variant: str | None = None,
          babi: str | None = None, seed: int = 0, device: str = "auto", minutes: float | None = None,
          resume: bool = False, steps: int | None = None, lr: float | None = None,
          batch_size: int | None = None) -> int:
    """Train `model` on `task` into the checkpoint folder `out`; the trainer's exit code (0: done).

    `flags` are command-line flags (the model's own, e.g. "--rmt-segment=256", or shared ones); where
    one sets what a keyword also sets, the flag wins. `variant` is the bAbI training set (en, en-10k);
    a model whose trainer reads only one (registry: `variant`) refuses any other.
    """
    spec = registry.get(model)
    settings = argparse.Namespace(model=model, task=task, out=str(out), babi=babi, seed=seed, device=device,
                                  minutes=minutes, resume=resume, steps=steps, lr=lr, batch_size=batch_size)
    if variant is not None:
        if spec.variant and variant != spec.variant:
            raise InputError(f"{model} trains on bAbI {spec.variant} only, not {variant}")
        if not spec.variant:
            settings.variant = variant
    args = parser(model).parse_args([str(f) for f in flags], namespace=settings)
    args.device = resolve_device(args.device)  # every trainer gets a concrete, usable device
    return spec.trainer_module().run(args)
