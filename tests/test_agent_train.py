"""`memreasoner train --model rememr1|memagent` end to end, at toy size."""

import json

import pytest

from memreasoner.cli import main
from memreasoner.data.babi import load_babi
from memreasoner.paths import babi_file
from memreasoner.reader import load_reader

TOY = ["--imitation-questions", "12", "--agent-train-lengths", "1k", "--imitation-steps", "4",
       "--grpo-steps", "1", "--grpo-questions", "1", "--group-size", "2", "--grpo-lengths", "1k",
       "--agent-eval-samples", "2", "--agent-eval-lengths", "1k", "--policy-dim", "16", "--policy-layers", "1",
       "--policy-heads", "2", "--chunk-tokens", "256"]


@pytest.mark.parametrize("model", ["rememr1", "memagent"])
def test_train_writes_checkpoints_and_report(tmp_path, model):
    stories = babi_file("qa2", "train").read_text().splitlines()
    small = tmp_path / "qa2_train.txt"
    small.write_text("\n".join(stories[:90]) + "\n")  # a few stories: the rest of the data is not needed
    assert len(load_babi(small)) >= 13
    out = tmp_path / model
    assert main(["train", "--model", model, "--task", "qa2", "--babi", str(small), "--out", str(out), *TOY]) == 0
    report = json.loads((out / "report.json").read_text())
    for stage in ("imitation", "grpo"):
        assert set(report[stage]["accuracy"]) == {"1k"} and 0.0 <= report[stage]["accuracy"]["1k"] <= 1.0
    assert report["grpo"]["training"]["iterations"] == 1
    reader = load_reader(str(out))
    assert reader.name == model and reader.config.recall == (model == "rememr1")
    assert load_reader(str(out / "imitation")).name == model


def test_train_refuses_tasks_without_an_oracle(tmp_path):
    assert main(["train", "--model", "rememr1", "--task", "vt", "--out", str(tmp_path)]) == 2
