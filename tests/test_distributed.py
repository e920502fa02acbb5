"""Data-parallel training: two gloo processes on CPU, launched by torchrun, train the same model as one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("distributed_worker.py")

# Tiny and free of per-process randomness: no sampled negatives (the worker also builds the decoder
# without dropout). --ridge 1: at the default 1e-4 the memory prior's gradient is rounding noise
# (~1e-9, about Adam's eps), which Adam turns into lr-sized steps: there even one process on 1 vs 2
# threads ends 1e-3 apart after 6 steps. Here 2 processes end ~2e-5 from one (~3e-6 before the hops'
# token-level keys, whose packed BiGRU and max-pool round differently over half batches; the largest
# differences are in the query map and the memory prior, which both paths feed).
ARGS = ["--augment", "0", "--decoder-layers", "1", "--decoder-dim", "32", "--decoder-heads", "2", "--gru-hidden", "32", "--slots", "32",
        "--ridge", "1", "--threads", "1", "--train-limit", "40", "--steps", "6", "--batch-size", "8", "--warmup", "2",
        "--negatives", "0", "--eval-limit", "2", "--checkpoint-every", "3", "--device", "cpu"]


def start(dump: Path, out: Path, processes: int) -> subprocess.Popen:
    dump.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    # --standalone: torchrun picks a free port on localhost itself.
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes)] if processes > 1 else []
    return subprocess.Popen([sys.executable, *launcher, str(WORKER), str(dump), "train", "--task", "qa1", "--out", str(out),
                             *ARGS], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen) -> None:
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output[-3000:]


def test_two_processes_train_the_same_weights_as_one_and_only_rank_0_writes(tmp_path):
    one, two = start(tmp_path / "dump1", tmp_path / "one", 1), start(tmp_path / "dump2", tmp_path / "two", 2)
    finish(one)
    finish(two)
    single = torch.load(tmp_path / "dump1" / "rank0.pt")
    rank0, rank1 = torch.load(tmp_path / "dump2" / "rank0.pt"), torch.load(tmp_path / "dump2" / "rank1.pt")

    # Both ranks step the same summed gradient: bit-identical weights. Without the all-reduce each
    # would follow its own half of every batch.
    assert all(torch.equal(rank0["state"][k], rank1["state"][k]) for k in rank0["state"])
    # ... and that gradient is the global batch's: the single-process weights up to rounding.
    diff = max((rank0["state"][k] - single["state"][k]).abs().max().item() for k in single["state"])
    assert diff < 5e-5, diff

    # Rank 0 wrote the checkpoint (step 3 and the end), rank 1 nothing; what is on disk is rank 0's model.
    assert (rank0["saves"], rank1["saves"], single["saves"]) == (2, 0, 2)
    saved = load_file(tmp_path / "two" / "model.safetensors")
    assert all(torch.equal(saved[k], rank0["state"][k]) for k in saved)
    assert json.loads((tmp_path / "two" / "metrics.json").read_text())["processes"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dump1", "dump2", "one", "two"]  # no half-written folders
