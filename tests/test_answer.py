"""`memreasoner answer`, and its `--verbose` account of where the time went."""

import argparse
import builtins
import re
import sys
import time

import pytest

from memreasoner.cli import main
from memreasoner.commands import train as train_command
from memreasoner.commands.answer import Stopwatch
from memreasoner.model import train as trainer

SMALL = ["--augment", "0", "--decoder-layers", "1", "--decoder-dim", "64", "--decoder-heads", "2", "--gru-hidden", "64",
         "--slots", "64", "--threads", "1", "--no-first-pass"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("answer") / "M"
    parser = argparse.ArgumentParser()
    train_command.shared_flags(parser)
    trainer.add_arguments(parser)
    args = parser.parse_args(["--task", "qa1", "--out", str(out), "--steps", "3", "--batch-size", "4", "--warmup", "1",
                              "--train-limit", "20", "--eval-limit", "2", *SMALL])
    args.device = "cpu"
    assert trainer.run(args) == 0
    return out


@pytest.mark.usefixtures("one_thread")
def test_verbose_prints_where_the_time_went(checkpoint, tmp_path, capsys):
    context = tmp_path / "story.txt"
    context.write_text("Mary went to the kitchen. John moved to the garden. Mary travelled to the office.\n")
    assert main(["answer", "--model", str(checkpoint), "--context", str(context), "--question", "Where is Mary?",
                 "--device", "cpu", "--verbose"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("answer: ") and "time spent" not in out  # the breakdown goes to stderr only
    rows = dict(re.findall(r"^  (.+?)\s+(\d+\.\d\d) s", err, re.MULTILINE))
    assert list(rows) == ["imports", "choosing the device", "splitting lines", "loading the checkpoint",
                          "answering (3 lines)", "total"]
    seconds = {name: float(value) for name, value in rows.items()}
    assert abs(sum(v for k, v in seconds.items() if k != "total") - seconds["total"]) <= 0.03
    assert builtins.__import__.__module__ == "builtins"  # the import hook is gone


def test_stopwatch_counts_an_import_as_import_time_not_phase_time(tmp_path, monkeypatch):
    (tmp_path / "slow_module_for_stopwatch.py").write_text("import time\ntime.sleep(0.3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    clock = Stopwatch()
    with clock.timing_imports(), clock.phase("work"):
        import slow_module_for_stopwatch  # noqa: F401
        time.sleep(0.1)
    sys.modules.pop("slow_module_for_stopwatch", None)
    assert clock.imports >= 0.3
    assert 0.1 <= clock.phases["work"] < 0.3


def test_without_verbose_no_breakdown(checkpoint, tmp_path, capsys):
    context = tmp_path / "story.txt"
    context.write_text("Mary went to the kitchen.\n")
    assert main(["answer", "--model", str(checkpoint), "--context", str(context), "--question", "Where is Mary?",
                 "--device", "cpu"]) == 0
    assert capsys.readouterr().err == ""
