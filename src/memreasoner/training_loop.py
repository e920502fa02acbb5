"""What every trainer shares: the learning-rate schedule and the trainer state kept for `--resume`.

MemReasoner's trainer, the baselines' and the agent's imitation stage warm up and decay the same
way, and the two that resume keep the same state in `trainer.pt`, so a resumed run repeats the
draws (batches, dropout, negatives) an uninterrupted one would have made.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import torch

from .errors import InputError

TRAINER_FILE, METRICS_FILE = "trainer.pt", "metrics.json"


def warmup_cosine(done: float, total: float, warmup: float, first: float = 1.0) -> float:
    """The learning-rate factor once `done` of `total` is trained (steps, or a share of the run):
    linear warm-up over `warmup` (the first step at `first / warmup`, not zero), then cosine decay
    to a tenth at `total`."""
    if done < warmup:
        return (done + first) / warmup
    progress = (done - warmup) / (total - warmup) if total > warmup else 1.0
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def local_rngs(device: torch.device | str = "cpu") -> tuple:
    """This process's torch generator states: the CPU one, and the CUDA one on a GPU (else None)."""
    device = torch.device(device)
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def save_state(folder: str | Path, *, step: int, steps: int, elapsed: float, optimiser: torch.optim.Optimizer,
               generator: torch.Generator, rngs: list[tuple] | None = None, **extra) -> None:
    """Write folder/trainer.pt: progress, optimiser, the batch generator and every random state.

    `rngs` holds each process's `local_rngs()` in rank order (default: this process's alone);
    `extra` holds what one trainer adds (a scheduler's state, the losses so far, a learning curve).
    """
    torch.save({"step": step, "steps": steps, "elapsed": elapsed, "optimiser": optimiser.state_dict(),
                "generator": generator.get_state(), "rngs": rngs or [local_rngs()], "python_rng": random.getstate(),
                **extra}, Path(folder) / TRAINER_FILE)


def load_state(folder: str | Path) -> dict:
    """The trainer state of an interrupted run in checkpoint `folder`; InputError when there is none."""
    path = Path(folder) / TRAINER_FILE
    if not path.is_file():
        raise InputError(f"nothing to resume: no {TRAINER_FILE} in the checkpoint folder", folder)
    return torch.load(path, weights_only=False)


def restore_state(state: dict, optimiser: torch.optim.Optimizer, generator: torch.Generator,
                  rank: int = 0, device: torch.device | str = "cpu") -> None:
    """Put the optimiser, the batch generator and rank `rank`'s random states back as `save_state` kept them.

    On another number of processes than the run that saved them, ranks reuse the saved ones in turn
    (the shards differ then, so the draws could not repeat anyway). A state saved before the
    trainers kept one per rank has only "torch_rng".
    """
    optimiser.load_state_dict(state["optimiser"])
    generator.set_state(state["generator"])
    rngs = state.get("rngs") or [(state["torch_rng"], None)]
    torch_rng, cuda_rng = rngs[rank % len(rngs)]
    torch.set_rng_state(torch_rng)
    if cuda_rng is not None and torch.device(device).type == "cuda":
        torch.cuda.set_rng_state(cuda_rng, device)
    random.setstate(state["python_rng"])
