"""What one MemReasoner training step costs, and where it goes (a measurement, not a test).

    MEMREASONER_DATA=../shared/data .venv/bin/python benchmarks/train_step.py --task qa2 --steps 30

Builds a share of the task's default training set (--share of its bAbI questions and of its generated
stories, so that the mix of short bAbI and longer generated stories is the default run's and encoding
stays short; any other `memreasoner train` flag, e.g. --window 32, is passed on), then times --steps
optimiser steps after --warmup ones, split into building the batch (Python: token grids, word matches,
question flags), the forward pass, the backward pass and the optimiser. Multiply seconds per step by
the task's steps (TASK_DEFAULTS) for the minutes of a default run's steps; encoding the full training
set comes on top.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from memreasoner.data.babi import load_babi
from memreasoner.model import train as trainer
from memreasoner.model.parallel import Ranks
from memreasoner.paths import babi_file
from memreasoner.training import parser as training_parser


def main() -> None:
    bench = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("--task", default="qa2", choices=[t for t in trainer.TASK_DEFAULTS if t != "vt"])
    bench.add_argument("--steps", type=int, default=30, help="timed steps")
    bench.add_argument("--warmup", type=int, default=10, help="untimed steps first (caches, allocator)")
    bench.add_argument("--share", type=float, default=0.1, help="share of the task's default training set used: "
                       "its first bAbI questions and as many generated stories, in the default run's proportion")
    bench.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args, training_flags = bench.parse_known_args()  # the rest are `memreasoner train` flags (--window 32)
    if args.threads:
        torch.set_num_threads(args.threads)

    settings = argparse.Namespace(model="memreasoner", task=args.task, out="unused", babi=None, seed=0, device="cpu",
                                  minutes=None, resume=False, steps=None, lr=None, batch_size=None)
    task = trainer.TASK_DEFAULTS[args.task]
    questions = len(load_babi(babi_file(args.task, "train", task["variant"]), args.task))
    flags = training_parser("memreasoner").parse_args(
        ["--train-limit", str(round(args.share * questions)), "--augment", str(round(args.share * task["augment"])),
         *training_flags], namespace=settings)
    ranks = Ranks(device="cpu")
    plan = trainer.plan(flags, ranks)
    torch.manual_seed(0)
    model = trainer.MemReasoner(trainer.model_config(flags))
    start = time.perf_counter()
    data, _ = trainer.training_set(flags, plan, model)
    encode = time.perf_counter() - start
    model.train()
    run = trainer.Trainer(model, flags, ranks, plan.steps, None)

    split = {"batch": 0.0, "forward": 0.0, "backward": 0.0, "optimiser": 0.0}
    for step in range(args.warmup + args.steps):
        marks = [time.perf_counter()]
        idx, ae_line = data.draw(plan.batch_size, run.gen)
        batch = data.batch(idx, ae_line)
        marks.append(time.perf_counter())
        parts = trainer.losses(model, batch, flags.negatives)
        total = trainer.total_loss(parts, flags)
        marks.append(time.perf_counter())
        run.optimiser.zero_grad(set_to_none=True)
        total.backward()
        marks.append(time.perf_counter())
        torch.nn.utils.clip_grad_norm_(run.params, flags.clip)
        run.optimiser.step()
        marks.append(time.perf_counter())
        if step >= args.warmup:
            for name, begin, end in zip(split, marks, marks[1:]):
                split[name] += end - begin

    per_step = sum(split.values()) / args.steps
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"{args.task}: {len(data)} questions, {len(data.sentence_text):,} distinct sentences; read and encoded "
          f"in {encode:.1f} s; batch {plan.batch_size}")
    print(f"{per_step:.3f} s per step: " + ", ".join(f"{name} {seconds / args.steps:.3f}" for name, seconds in split.items()))
    print(f"the task's {plan.steps} default steps: {plan.steps * per_step / 60:.1f} min")


if __name__ == "__main__":
    main()
