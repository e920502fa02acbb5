"""`memreasoner compare` on a tiny setting: trains each model under the budget, evaluates all on the
same samples, writes results.json with the documented keys, a table and a heatmap; --from reuses models."""

from __future__ import annotations

import json

import pytest

from memreasoner.cli import main
from memreasoner.studies.compare import flags_for

pytestmark = pytest.mark.usefixtures("one_thread")


def test_compare_tiny(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", "--models", "memn2n,transformer", "--task", "qa1", "--lengths", "0k,1k", "--samples", "2",
            "--budget-minutes", "0.5", "--out", str(out), "--quiet", "--train-flag=--steps=3",
            "--train-flag=--eval-limit=2", "--train-flag=transformer:--transformer-dim=16",
            "--train-flag=transformer:--transformer-layers=1", "--train-flag=transformer:--transformer-heads=2"]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results) == ["memn2n", "transformer"]
    for name, r in results.items():
        assert set(r["accuracy"]) == set(r["tokens_per_s"]) == {"0k", "1k"}
        assert all(0 <= a <= 1 for a in r["accuracy"].values()) and all(v > 0 for v in r["tokens_per_s"].values())
        assert isinstance(r["params"], int) and r["params"] > 0
        assert isinstance(r["train_minutes"], float) and r["train_minutes"] <= 0.5
    assert results["transformer"]["params"] > 50257 * 16  # the tiny config reached its trainer
    table = (out / "table.md").read_text()
    assert "| memn2n |" in table and "Speed" in table and table in capsys.readouterr().out
    assert (out / "heatmap.png").stat().st_size > 0
    settings = json.loads((out / "settings.json").read_text())
    assert settings["budget_minutes"] == 0.5 and settings["lengths"] == ["0k", "1k"] and settings["train_variant"] == "en"
    # Every model answered the same samples.
    ids = [[row["id"] for row in json.loads((out / "results" / f"{m}.json").read_text())["samples"]] for m in results]
    assert ids[0] == ids[1] and len(ids[0]) == 4

    again = tmp_path / "again"
    assert main(["compare", "--models", "memn2n", "--lengths", "0k", "--samples", "2", "--from", str(out),
                 "--out", str(again), "--quiet"]) == 0
    assert not (again / "models").exists()  # loaded, not trained
    assert json.loads((again / "results.json").read_text())["memn2n"]["params"] == results["memn2n"]["params"]
    assert f"models from {out}" in (again / "table.md").read_text()


def test_compare_rejects_unknown_models_and_missing_checkpoints(tmp_path, capsys):
    assert main(["compare", "--models", "memn2n,gpt5", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "gpt5" in capsys.readouterr().err
    assert main(["compare", "--models", "rmt", "--from", str(tmp_path), "--out", str(tmp_path / "y"), "--quiet"]) == 2
    assert "no trained rmt" in capsys.readouterr().err


def test_train_flags_for_one_model_or_all():
    flags = ["--steps=3", "rmt:--rmt-segment=64", "mamba:--mamba-dim=8"]
    assert flags_for("rmt", flags) == ["--steps=3", "--rmt-segment=64"]
    assert flags_for("memn2n", flags) == ["--steps=3"]


def test_compare_trains_and_evaluates_an_agent_on_its_own_babi_set(tmp_path):
    from memreasoner.paths import babi_file

    small = tmp_path / "qa2_train.txt"
    small.write_text("\n".join(babi_file("qa2", "train").read_text().splitlines()[:90]) + "\n")
    toy = ["--imitation-questions=12", "--agent-train-lengths=1k", "--imitation-steps=2", "--grpo-steps=1",
           "--grpo-questions=1", "--group-size=2", "--grpo-lengths=1k", "--agent-eval-samples=1",
           "--agent-eval-lengths=1k", "--policy-dim=16", "--policy-layers=1", "--policy-heads=2", f"--babi={small}"]
    out = tmp_path / "agent"
    args = ["compare", "--models", "memagent", "--task", "qa2", "--lengths", "0k", "--samples", "1", "--out", str(out),
            "--quiet", *[f"--train-flag=memagent:{flag}" for flag in toy]]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["memagent"]["accuracy"]) == {"0k"} and results["memagent"]["params"] is None
    assert json.loads((out / "settings.json").read_text())["train_variant"] == "en-10k"
    report = out / "models" / "memagent" / "report.json"
    written = report.stat().st_mtime_ns
    assert main(args) == 0 and report.stat().st_mtime_ns == written  # finished: not trained again


def test_a_step_budget_gives_every_model_the_same_number_of_steps(tmp_path, capsys):
    out = tmp_path / "steps"
    args = ["compare", "--models", "memn2n,retrieval", "--task", "qa1", "--lengths", "0k", "--samples", "2",
            "--budget-steps", "4", "--out", str(out), "--quiet", "--train-flag=--eval-limit=2"]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert {name: r["train_steps"] for name, r in results.items()} == {"memn2n": 4, "retrieval": 4}
    assert json.loads((out / "settings.json").read_text())["budget_steps"] == 4
    assert "for 4 optimiser steps each" in (out / "table.md").read_text()
    capsys.readouterr()
    both = ["compare", "--models", "memn2n", "--budget-steps", "4", "--budget-minutes", "1", "--out", str(tmp_path / "x")]
    assert main(both) == 2 and "one budget" in capsys.readouterr().err
