"""`memreasoner train --model NAME ...`: every model trains through here.

The flags every trainer shares, and the training itself, live in `memreasoner.training` (the studies
train through it too); the model's own flags come from its trainer module (see registry.py).
"""

from __future__ import annotations

from ..errors import InputError
from ..training import parser, shared_flags, train


def add_parser(sub) -> None:
    # Only the shared flags here: a trainer module (and torch with it) is imported only once --model
    # names it, so `memreasoner build` and `--help` stay fast. `run` parses the model's own flags.
    p = sub.add_parser("train", add_help=False, help="train a model on bAbI (no distractors) and save a checkpoint")
    p.add_argument("-h", "--help", action="store_true", help="show the flags of --model (default memreasoner)")
    shared_flags(p)
    p.set_defaults(func=run, takes_extra=True)


def run(args, extra: list[str]) -> int:
    if args.help:
        parser(args.model).print_help()
        return 0
    if not args.out:
        raise InputError("train needs --out FOLDER for the checkpoint")
    return train(args.model, args.task, args.out, extra, babi=args.babi, seed=args.seed, device=args.device,
                 minutes=args.minutes, resume=args.resume, steps=args.steps, lr=args.lr, batch_size=args.batch_size)
