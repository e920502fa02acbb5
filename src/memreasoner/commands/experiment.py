"""`memreasoner experiment NAME`: one of the paper's experiments, end to end, as one command."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    from ..studies.experiments import EXPERIMENTS

    listing = "; ".join(f"{name}: {e.description}" for name, e in EXPERIMENTS.items())
    p = sub.add_parser("experiment", help="run one of the paper's experiments (train, build, evaluate, plot)",
                       description=listing, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("name", choices=list(EXPERIMENTS))
    p.add_argument("--out", help="folder for models, data, results (default: runs/experiments/NAME)")
    p.add_argument("--full", action="store_true", help="paper sizes: 100 samples per length, every length")
    p.add_argument("--samples", type=int, default=None, help="samples per length (default: 20, or 100 with --full)")
    p.add_argument("--lengths", default=None, help="override the test lengths, e.g. 0k,1k")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-flag", action="append", default=[], metavar="FLAG",
                   help="extra `memreasoner train` flag for every variant, e.g. --train-flag=--steps=300")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..data.haystack import parse_lengths
    from ..studies.experiments import run_experiment

    run_experiment(args.name, args.out or f"runs/experiments/{args.name}", full=args.full, samples=args.samples,
                   lengths=parse_lengths(args.lengths) if args.lengths else None,
                   train_flags=args.train_flag, seed=args.seed)
    return 0
