"""`memreasoner train --model NAME ...`: every model trains through here.

Each trainer module (see TRAINERS) exposes `add_arguments(group)` for its own flags and `run(args)`.
The flags every trainer shares are defined once below.
"""

from __future__ import annotations

import argparse
import importlib

from ..device import DEVICE_HELP, resolve_device
from ..errors import InputError

# model name -> trainer module
TRAINERS: dict[str, str] = {
    "memreasoner": "memreasoner.model.train",
    "rememr1": "memreasoner.agent.train",
    "memagent": "memreasoner.agent.train",
    "larimar": "memreasoner.baselines.larimar",
    "rmt": "memreasoner.baselines.rmt",
    "mamba": "memreasoner.baselines.mamba",
    "transformer": "memreasoner.baselines.transformer",
    "memn2n": "memreasoner.baselines.memn2n",
    "retrieval": "memreasoner.baselines.retrieval",
}


def shared_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="memreasoner", help=f"which model: {', '.join(TRAINERS)}")
    p.add_argument("--task", default="qa1", help="qa1, qa2 or vt")
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


def add_parser(sub) -> None:
    # Only the shared flags here: a trainer module (and torch with it) is imported only once --model
    # names it, so `memreasoner build` and `--help` stay fast. `run` parses the model's own flags.
    p = sub.add_parser("train", add_help=False, help="train a model on bAbI (no distractors) and save a checkpoint")
    p.add_argument("-h", "--help", action="store_true", help="show the flags of --model (default memreasoner)")
    shared_flags(p)
    p.set_defaults(func=run, takes_extra=True)


def run(args, extra: list[str]) -> int:
    if args.model not in TRAINERS:
        raise InputError(f"unknown model {args.model!r} for train; known: {', '.join(TRAINERS)}")
    trainer = importlib.import_module(TRAINERS[args.model])
    full = argparse.ArgumentParser(prog="memreasoner train", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    shared_flags(full)
    trainer.add_arguments(full.add_argument_group(f"{args.model} options"))
    if args.help:
        full.print_help()
        return 0
    args = full.parse_args(extra, namespace=args)  # the shared flags are already in `args`
    if not args.out:
        raise InputError("train needs --out FOLDER for the checkpoint")
    args.device = resolve_device(args.device)  # every trainer gets a concrete, usable device
    return trainer.run(args)
