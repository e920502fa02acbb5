"""`memreasoner compare`: MemReasoner and its peers, same data, same budget (optimiser steps), same test samples."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    from ..registry import MODELS, compared

    p = sub.add_parser("compare", help="train (or load) several models under one budget and evaluate them on the same samples",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--models", default=",".join(compared()), help=f"comma-separated, of: {', '.join(MODELS)}")
    p.add_argument("--task", default="qa1", help="qa1-qa5 (the agents: qa1 or qa2)")
    p.add_argument("--lengths", default="0k,1k,4k", help="comma-separated lengths, e.g. 0k,1k,2k,4k,8k,16k,32k,64k,128k")
    p.add_argument("--samples", type=int, default=20, help="test samples per length")
    p.add_argument("--budget-steps", type=int, default=None,
                   help="optimiser steps per model, the same for every model (default: each model's own default)")
    p.add_argument("--budget-minutes", type=float, default=None,
                   help="wall-clock training time per model instead (on a shared machine models get unequal steps)")
    p.add_argument("--out", required=True, help="folder for models, data, results, table and heatmap")
    p.add_argument("--from", dest="from_dir", help="load the models from this earlier compare folder instead of training")
    p.add_argument("--unseen", action="store_true", help="test stories with names, places and objects never seen in training")
    p.add_argument("--variant", choices=["en", "en-10k"], default=None,
                   help="bAbI training set for every model (default: MemReasoner's for the task: en for qa1 and qa3, en-10k "
                        "for the others)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-flag", action="append", default=[], metavar="FLAG",
                   help="extra `memreasoner train` flag, for every model (--train-flag=--steps=300) "
                        "or one (--train-flag=rmt:--rmt-segment=256); repeatable")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads for training and evaluation (0: torch's default); 1 is faster on a busy machine")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..data.haystack import parse_lengths
    from ..errors import InputError
    from ..studies.compare import run_compare

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models:
        raise InputError("--models names no model")
    if args.budget_steps is not None and args.budget_minutes is not None:
        raise InputError("give one budget: --budget-steps or --budget-minutes")
    if args.budget_steps is not None and args.budget_steps < 1:
        raise InputError(f"--budget-steps must be at least 1, got {args.budget_steps}")
    run_compare(models, args.task, parse_lengths(args.lengths), args.samples, args.budget_minutes, args.out,
                budget_steps=args.budget_steps,
                from_dir=args.from_dir, unseen=args.unseen, seed=args.seed, variant=args.variant,
                train_flags=args.train_flag,
                progress=not args.quiet)
    return 0
