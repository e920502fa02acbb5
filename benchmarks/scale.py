"""Cost against context length: seconds, tokens/s and peak RSS per length, one fresh process each.

    python benchmarks/scale.py --model runs/qa1 --lengths 1k,8k,64k,128k,512k,1M --out runs/scale
    python benchmarks/scale.py --model runs/qa1 --variant faithful --set iu=false ...

Each length is measured in its own process, so its peak RSS is its own and every cache starts cold
(the book pool's disk cache aside: building the haystack is not timed). Prints a table and the
log-log slope of time against length, and writes scale.json and scale.png.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path


def measure_one(model: str, task: str, length: str, seed: int, options: dict[str, str]) -> dict:
    """Runs inside the child process: build one sample (untimed), then time one answer."""
    from memreasoner.data.haystack import build_benchmark
    from memreasoner.data.tokens import count_tokens
    from memreasoner.metrics import exact_match
    from memreasoner.reader import load_reader

    sample = build_benchmark(task, [length], 1, seed=seed, allow_repeats=True, progress=False)[0]
    reader = load_reader(model).with_options(**options)
    began = time.perf_counter()
    answer = reader.answer([sample])[0]
    seconds = time.perf_counter() - began
    tokens = count_tokens(sample.input)
    return {"length": length, "tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "correct": exact_match(answer.text, sample.target)}


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y against log x (1.0 = linear cost)."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="checkpoint folder or NAME:PATH")
    p.add_argument("--task", default="qa1")
    p.add_argument("--lengths", default="1k,8k,64k,128k,512k,1M")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="inference option (eval --set)")
    p.add_argument("--variant", default="default", help="label for this configuration in the output")
    p.add_argument("--out", default="runs/scale")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    from memreasoner.commands.eval import parse_options

    if args.child:  # one length, in this process
        print(json.dumps(measure_one(args.model, args.task, args.lengths, args.seed, parse_options(args.set))))
        return
    rows = []
    for length in args.lengths.split(","):
        cmd = [sys.executable, __file__, "--child", "--model", args.model, "--task", args.task,
               "--lengths", length, "--seed", str(args.seed)] + [f"--set={s}" for s in args.set]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"{length}: child failed:\n{done.stderr[-2000:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{args.variant:>10} {length:>6} {row['tokens']:>9} tokens {row['seconds']:8.2f} s "
              f"{row['tokens_per_s']:>10.0f} tok/s {row['peak_rss_mb']:8.0f} MB  correct={row['correct']}", flush=True)
    tokens, secs, rss = [r["tokens"] for r in rows], [r["seconds"] for r in rows], [r["peak_rss_mb"] for r in rows]
    summary = {"variant": args.variant, "options": args.set, "rows": rows}
    if len(rows) > 1:
        summary["time_slope"], summary["rss_slope"] = slope(tokens, secs), slope(tokens, rss)
        print(f"log-log slope: time {summary['time_slope']:.2f}, peak RSS {summary['rss_slope']:.2f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"scale-{args.variant}.json").write_text(json.dumps(summary, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.loglog(tokens, secs, "o-"), a.set_xlabel("context tokens"), a.set_ylabel("seconds per answer")
    b.loglog(tokens, rss, "o-"), b.set_xlabel("context tokens"), b.set_ylabel("peak RSS (MB)")
    fig.suptitle(f"{args.model} ({args.variant})")
    fig.tight_layout()
    fig.savefig(out / f"scale-{args.variant}.png", dpi=110)
    print(f"wrote {out}/scale-{args.variant}.json and .png")


if __name__ == "__main__":
    main()
