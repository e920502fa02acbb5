"""Build throughput of the BABILong-style haystack builder (a measurement, not a test).

    MEMREASONER_DATA=../shared/data .venv/bin/python benchmarks/build_throughput.py --samples 100 --lengths 128k

Reports the cost of getting the books ready (tokenising them the first time, reading the disk cache
after), then samples/s and context tokens/s for
building the asked samples (facts from the bAbI test split, official 100-question subset).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from memreasoner.data.babi import load_babi
from memreasoner.data.books import load_books
from memreasoner.data.benchmark import official_indices, pick_questions
from memreasoner.data.haystack import build_haystacks, context_tokens, parse_lengths
from memreasoner.paths import babi_file, babilong_index_file, books_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="qa1", choices=["qa1", "qa2"])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--lengths", default="128k")
    parser.add_argument("--books", default=None, help="default: the data dir's books/")
    args = parser.parse_args()
    lengths = parse_lengths(args.lengths)

    start = time.perf_counter()
    pool = load_books(args.books or books_dir())
    pool_seconds = time.perf_counter() - start
    print(f"books: {len(pool.names)} files, {len(pool.sentences):,} sentences, {pool.total_tokens:,} tokens; "
          f"ready in {pool_seconds:.1f} s (tokenised once, then cached on disk)")

    questions = pick_questions(load_babi(babi_file(args.task, "test")), args.samples,
                               official_indices(args.task, babilong_index_file()))
    start = time.perf_counter()
    samples = build_haystacks(questions, lengths, pool, seed=42)
    seconds = time.perf_counter() - start
    tokens = sum(context_tokens(s.length) for s in samples)
    print(f"built {len(samples)} {args.task} samples at {','.join(lengths)} in {seconds:.1f} s: "
          f"{len(samples) / seconds:.1f} samples/s, {tokens / seconds / 1e6:.2f} M context tokens/s "
          f"({seconds + pool_seconds:.1f} s including the books)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}")


if __name__ == "__main__":
    main()
