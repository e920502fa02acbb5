"""Cost against context length: seconds, tokens/s and peak RSS per length, one fresh process each.

    python benchmarks/scale.py --model runs/qa1-fp --lengths 1k,8k,64k,128k,512k,1M --out runs/scale

Each (path, length) is measured in its own process (after one warm-up answer of one line), so its
peak RSS is its own, with an empty embedding cache of its own (a temporary $MEMREASONER_CACHE; building the haystack is not timed).
"process" is what a user waits for: the child from its first line (imports, loading the checkpoint,
the warm-up, the cold answer), less the haystack's build. The same answer is then timed again in
that process with the cache warm. Paths:
  fast      static first pass -> full encoder on its pick -> IU (needs a checkpoint trained with --first-pass)
  faithful  every line through the full encoder -> IU (the paper's path)
Prints a table and the log-log slope of time against length per path, and writes scale.json and
scale.png (time and peak RSS against length, log-log).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STARTED = time.perf_counter()  # before any memreasoner import: "process" seconds count from here
PATHS = {"fast": {"first_pass": "true"}, "faithful": {"first_pass": "false"}}


def measure_one(model: str, task: str, length: str, seed: int, options: dict[str, str]) -> dict:
    """Runs inside the child process: build one sample (untimed), then time one answer, cold then warm."""
    from memreasoner.data.benchmark import build_benchmark
    from memreasoner.data.tokens import count_tokens
    from memreasoner.metrics import exact_match
    from memreasoner.reader import load_reader

    began = time.perf_counter()
    sample = build_benchmark(task, [length], 1, seed=seed, allow_repeats=True, progress=False)[0]
    built = time.perf_counter() - began
    tokens = count_tokens(sample.input)
    reader = load_reader(model).with_options(**options)
    # One throwaway answer first: the first forward pass of each network pays one-off set-up costs
    # (~4 s here) that are not reading the haystack. Its line never occurs in a haystack.
    reader.answer_question(["A warm-up line that no book contains."], "Where is the warm-up?")
    began = time.perf_counter()
    answer = reader.answer([sample])[0]
    seconds = time.perf_counter() - began
    process = time.perf_counter() - STARTED - built
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reader.encoder.clear_cache()  # the in-process cache too: the warm run reads the disk cache only
    began = time.perf_counter()
    reader.answer([sample])
    warm = time.perf_counter() - began
    return {"length": length, "tokens": tokens, "lines": len(sample.lines()), "seconds": seconds,
            "process_seconds": process, "warm_seconds": warm, "tokens_per_s": tokens / seconds, "peak_rss_mb": rss,
            "kept_lines": answer.trace.get("kept_lines"), "correct": exact_match(answer.text, sample.target)}


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y against log x (1.0 = linear cost)."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def run_child(args, path: str, length: str) -> dict:
    options = [f"{k}={v}" for k, v in PATHS[path].items()] + args.set
    cmd = [sys.executable, __file__, "--child", "--model", args.model, "--task", args.task, "--lengths", length,
           "--seed", str(args.seed)] + [f"--set={s}" for s in options]
    with tempfile.TemporaryDirectory(prefix="memreasoner-cache-") as cache:
        env = dict(os.environ, MEMREASONER_CACHE=cache)
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(f"{path} {length}: child failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def plot(results: dict, title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for path, summary in results.items():
        rows = summary["rows"]
        tokens = [r["tokens"] for r in rows]
        label = f"{path} (slope {summary['time_slope']:.2f})" if "time_slope" in summary else path
        a.loglog(tokens, [r["seconds"] for r in rows], "o-", label=label)
        b.loglog(tokens, [r["peak_rss_mb"] for r in rows], "o-", label=path)
    a.set_xlabel("context tokens"), a.set_ylabel("seconds per answer (cold cache)"), a.legend()
    b.set_xlabel("context tokens"), b.set_ylabel("peak RSS (MB)"), b.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="MemReasoner checkpoint folder")
    p.add_argument("--task", default="qa1")
    p.add_argument("--lengths", default="1k,8k,64k,128k,512k,1M")
    p.add_argument("--paths", default="fast,faithful", help=f"comma-separated, of {', '.join(PATHS)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="inference option (eval --set)")
    p.add_argument("--out", default="runs/scale")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    from memreasoner.commands.eval import parse_options

    if args.child:  # one length, in this process
        print(json.dumps(measure_one(args.model, args.task, args.lengths, args.seed, parse_options(args.set))))
        return
    results = {}
    for path in args.paths.split(","):
        rows = []
        for length in args.lengths.split(","):
            row = run_child(args, path, length)
            rows.append(row)
            print(f"{path:>9} {length:>5} {row['tokens']:>9} tokens {row['lines']:>6} lines  cold {row['seconds']:7.2f} s "
                  f"({row['tokens_per_s']:>8.0f} tok/s)  process {row['process_seconds']:7.2f} s  warm {row['warm_seconds']:6.2f} s  "
                  f"{row['peak_rss_mb']:6.0f} MB  correct={row['correct']}", flush=True)
        summary = {"options": PATHS[path], "rows": rows}
        if len(rows) > 1:
            tokens = [r["tokens"] for r in rows]
            summary["time_slope"] = slope(tokens, [r["seconds"] for r in rows])
            summary["rss_slope"] = slope(tokens, [r["peak_rss_mb"] for r in rows])
            print(f"{path:>9} log-log slope: time {summary['time_slope']:.2f}, peak RSS {summary['rss_slope']:.2f}")
        results[path] = summary
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps({"model": args.model, "task": args.task, "set": args.set,
                                                "paths": results}, indent=1))
    plot(results, f"{args.model}, {args.task}", out / "scale.png")
    print(f"wrote {out}/scale.json and {out}/scale.png")


if __name__ == "__main__":
    main()
