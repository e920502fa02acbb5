"""`memreasoner build`: a BABILong-style (any bAbI task, qa1-qa20) or RULER Variable Tracking (vt) benchmark file.

`--unseen` (qa1-qa5) and `--variant` (qa1, qa2) take the facts from generated stories, outside bAbI's
vocabulary or distribution (data/generalization.py), hidden in books like any other.

`--style official` writes bAbI files the way BABILong's own generator writes its releases (see
data/official.py), so a model can be measured on text made as real files are, from our facts and books.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from ..data.haystack import STANDARD_LENGTHS, context_tokens, parse_lengths
from ..data.benchmark import TASKS, build_benchmark, build_official_benchmark
from ..data.generalization import variants
from ..data.sample import Sample, sample_from_dict, write_records, write_samples
from ..data.tokens import count_tokens
from ..errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "build",
        help="build a benchmark file (JSONL): bAbI facts hidden in book text, or RULER variable tracking",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--task", required=True, help=f"one of {', '.join(TASKS)}")
    p.add_argument("--lengths", default=",".join(STANDARD_LENGTHS[:9]), help="comma-separated: 0k (bare story), Nk, NM")
    p.add_argument("--samples", type=int, default=100, help="samples per length")
    p.add_argument("--books", help="folder of .txt books for distractor text (default: the data dir's books/)")
    p.add_argument("--babi", help="bAbI-format file to take facts from (default: the data dir's test split)")
    p.add_argument("--split", default="test", help="bAbI split when no --babi: test or train")
    p.add_argument("--first", action="store_true", help="take the first N questions, not BABILong's official 100 (qa1-qa5 have one)")
    p.add_argument("--unseen", action="store_true", help="facts from generated stories with unseen names/places/objects (qa1-qa5)")
    p.add_argument("--variant", help="facts from generated stories of a generalization variant (qa1, qa2): "
                   f"{', '.join(variants('qa2'))} (holder-stays: qa2 only)")
    p.add_argument("--knob", action="append", default=[], metavar="KEY=VALUE",
                   help="change one knob of --variant, e.g. people=6, events=3-9, distance=5-12, gap=any, holder=stays, "
                        "vocabulary=one-piece, phrasing=paraphrased (repeatable)")
    p.add_argument("--repeat-books", action="store_true", help="re-use book text when a haystack needs more than the books hold (ours)")
    p.add_argument(
        "--style",
        choices=("ours", "official"),
        default="ours",
        help="ours: whole sentences, with line offsets and the facts marked; official: as BABILong's generator "
        "writes its releases (the last noise sentence cut by tokens, facts in random gaps, only input/question/"
        "target plus task, length, id; bAbI tasks only)",
    )
    p.add_argument("--chains", type=int, default=1, help="vt: number of variable chains")
    p.add_argument("--hops", type=int, default=4, help="vt: assignments after the value in each chain")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True, help="output JSONL file")
    p.set_defaults(func=run)


def run(args) -> int:
    lengths = parse_lengths(args.lengths)
    if args.seed < 0:
        raise InputError(f"--seed must be a non-negative integer, got {args.seed}")
    # where the facts come from: the same for both styles
    facts = dict(task=args.task, lengths=lengths, samples=args.samples, books=args.books, babi=args.babi, seed=args.seed,
                 first=args.first, unseen=args.unseen, variant=args.variant, knobs=args.knob, split=args.split)
    if args.style == "official":
        if args.repeat_books:
            raise InputError("--repeat-books is for --style ours: the official style draws random books, repeats included")
        records, notes = build_official_benchmark(**facts)
        write_records(records, args.out)  # the questions as bAbI writes them, which a `Sample` would normalise
        samples = [sample_from_dict(r) for r in records]
    else:
        notes = []
        samples = build_benchmark(**facts, allow_repeats=args.repeat_books, n_chains=args.chains, hops=args.hops,
                                  notes=notes)
        write_samples(samples, args.out)
    _print_notes(notes)
    print(summary(samples, lengths))
    style = " (official style)" if args.style == "official" else ""
    print(f"wrote {len(samples)} samples{style} to {args.out}")
    return 0


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


def summary(samples: list[Sample], lengths: list[str]) -> str:
    """Samples and context tokens per length (exact by construction above 0k; counted at 0k)."""
    per_length = Counter(s.length for s in samples)
    rows = [f"{'length':>7} {'samples':>8} {'context tokens':>16}"]
    for length in lengths:
        size = context_tokens(length)
        if size:
            tokens = f"{size:,}"
        else:
            counts = [count_tokens(s.input) for s in samples if s.length == length]
            tokens = f"{min(counts):,}-{max(counts):,}"
        rows.append(f"{length:>7} {per_length[length]:>8} {tokens:>16}")
    return "\n".join(rows)
