"""`python -m memreasoner train ...` with two test hooks, launched by test_distributed.py (alone or
under torchrun): the decoder is built without dropout, and at the end each process saves the weights
it trained, and how many checkpoints it wrote, to DUMP/rank{RANK}.pt.

Dropout masks (and sampled-softmax negatives, switched off by `--negatives 0`) are drawn by each
process for its own rows, so only without them can a data-parallel run match one process in value.
"""

import os
import runpy
import sys

import torch

from memreasoner.model import memreasoner as memreasoner_module
from memreasoner.model import train as trainer

dump = sys.argv.pop(1)
seen = {"saves": 0}

small_gpt2_config = memreasoner_module.small_gpt2_config


def no_dropout(*args, **kwargs):
    config = small_gpt2_config(*args, **kwargs)
    config.resid_pdrop = config.embd_pdrop = config.attn_pdrop = 0.0
    return config


def recording_losses(model, *args, **kwargs):
    seen["model"] = model
    return real_losses(model, *args, **kwargs)


def counting_save(self, *args, **kwargs):
    seen["saves"] += 1
    return real_save(self, *args, **kwargs)


real_losses, real_save = trainer.losses, memreasoner_module.MemReasoner.save
memreasoner_module.small_gpt2_config = no_dropout
trainer.losses = recording_losses
memreasoner_module.MemReasoner.save = counting_save

sys.argv[0] = "memreasoner"
try:
    runpy.run_module("memreasoner", run_name="__main__", alter_sys=True)
except SystemExit as done:
    code = done.code
rank = os.environ.get("RANK", "0")
torch.save({"state": seen["model"].state_dict(), "saves": seen["saves"]}, os.path.join(dump, f"rank{rank}.pt"))
sys.exit(code)
