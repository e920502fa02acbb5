"""`memreasoner train --model NAME ...`: every model trains through here.

Each trainer module (see TRAINERS) exposes `add_arguments(group)` for its own flags and `run(args)`.
The flags every trainer shares are defined once below.
"""

from __future__ import annotations

import argparse
import importlib

from ..errors import InputError

# model name -> trainer module
TRAINERS: dict[str, str] = {
    "memreasoner": "memreasoner.model.train",
}


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model on bAbI (no distractors) and save a checkpoint",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="memreasoner", help=f"which model: {', '.join(TRAINERS)}")
    p.add_argument("--task", default="qa1", help="qa1, qa2 or vt")
    p.add_argument("--babi", help="bAbI-format training file (default: the data dir's train split)")
    p.add_argument("--out", required=True, help="checkpoint folder to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--minutes", type=float, default=None, help="stop training after this many minutes")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from --out")
    # Shared knobs; None means the model's own default.
    p.add_argument("--steps", type=int, default=None, help="optimiser steps")
    p.add_argument("--lr", type=float, default=None, help="learning rate")
    p.add_argument("--batch-size", type=int, default=None)
    for name, module in TRAINERS.items():
        importlib.import_module(module).add_arguments(p.add_argument_group(f"{name} options"))
    p.set_defaults(func=run)


def run(args) -> int:
    if args.model not in TRAINERS:
        raise InputError(f"unknown model {args.model!r} for train; known: {', '.join(TRAINERS)}")
    return importlib.import_module(TRAINERS[args.model]).run(args)
