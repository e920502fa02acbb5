"""Data-parallel training of MemReasoner: this process's place among the ranks torchrun started.

Every rank draws the same global batch and trains on its share; one all-reduce sums the gradients,
so every rank steps the single-process gradient and the weights stay identical across ranks.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..device import resolve_device


@dataclass
class Ranks:
    """This process's place in a data-parallel run: rank `rank` of `world` processes (0 of 1 alone)."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"  # where this rank's tensors live (NCCL only moves CUDA tensors)

    @property
    def main(self) -> bool:
        """Rank 0 alone prints, evaluates and writes checkpoints."""
        return self.rank == 0

    def shard(self, items: list) -> list:
        """This rank's share of a global batch: every world-th item, so shares differ by at most one."""
        return items[self.rank::self.world]

    def start_equal(self, model: torch.nn.Module) -> None:
        """Give every rank rank 0's weights and buffers. The same seed already builds the same model
        everywhere; this makes it a guarantee (as DistributedDataParallel does) rather than an assumption."""
        if self.world > 1:
            for tensor in model.state_dict().values():
                dist.broadcast(tensor, 0)

    def sum_gradients(self, params: list[torch.nn.Parameter]) -> None:
        """Sum every parameter's gradient across ranks, in one all-reduce of a flat buffer.

        Each rank's loss is its share of the global batch mean (see `losses`), so the sum is the
        gradient of the global batch: after it, every rank clips and steps the same gradient and the
        weights stay identical. A parameter that no rank used this step keeps `grad = None`, as on
        one process: AdamW skips it then, where a zero gradient would still decay it. Hence the one
        used/unused flag per parameter at the end of the buffer.
        """
        if self.world == 1:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        used = torch.tensor([p.grad is not None for p in params], dtype=grads[0].dtype, device=grads[0].device)
        flat = torch.cat([g.flatten() for g in grads] + [used])
        dist.all_reduce(flat)
        summed = flat[: -len(params)].split([p.numel() for p in params])
        for p, g, n_used in zip(params, summed, flat[-len(params):].tolist()):
            p.grad = g.view_as(p) if n_used else None

    def gather(self, obj) -> list:
        """Every rank's `obj`, in rank order, on every rank."""
        if self.world == 1:
            return [obj]
        objs = [None] * self.world
        dist.all_gather_object(objs, obj)
        return objs

    def any(self, flag: bool) -> bool:
        """True on every rank when `flag` is true on one: a stop decision all ranks take together."""
        if self.world == 1:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())


@contextlib.contextmanager
def launch(device: str):
    """Yield this process's Ranks, joining the process group when torchrun started it.

    torchrun (or any launcher that sets WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT)
    starts one process per rank; each trains on its share of every global batch. On CUDA each process
    takes GPU LOCAL_RANK and the NCCL backend; on CPU, gloo.
    """
    device = resolve_device(device)  # callers that bypass the CLI (tests) may still pass "auto"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        yield Ranks(device=device)
        return
    if torch.device(device).type == "cuda":
        device = f"cuda:{os.environ['LOCAL_RANK']}"
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    try:
        yield Ranks(dist.get_rank(), dist.get_world_size(), device)
    finally:
        dist.destroy_process_group()
