"""`memreasoner experiment` end to end at toy size, and what both studies share: a rerun keeps the
trained model and answers the same test samples."""

from __future__ import annotations

import json

import pytest

from memreasoner.cli import main
from memreasoner.studies.common import markdown, percents

pytestmark = pytest.mark.usefixtures("one_thread")

TOY = ["--train-flag=--augment=0", "--train-flag=--steps=2", "--train-flag=--train-limit=20", "--train-flag=--eval-limit=2",
       "--train-flag=--decoder-layers=1", "--train-flag=--decoder-dim=32", "--train-flag=--decoder-heads=2",
       "--train-flag=--gru-hidden=16", "--train-flag=--slots=32", "--train-flag=--no-first-pass"]


def test_experiment_trains_once_and_reruns_on_the_same_samples(tmp_path, capsys):
    out = tmp_path / "exp"
    args = ["experiment", "single-hop", "--out", str(out), "--samples", "2", "--lengths", "0k", *TOY]
    assert main(args) == 0
    weights = out / "models" / "alpha1-sf0" / "model.safetensors"
    config = json.loads(weights.with_name("config.json").read_text())
    assert (config["hops"], config["alpha"], config["decoder_layers"]) == (1, 1.0, 1)  # variant and toy flags
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == "single-hop" and set(results["variants"]["alpha1-sf0"]["qa1"]) == {"0k"}
    table = (out / "table.md").read_text()
    printed = capsys.readouterr().out
    assert "| alpha1-sf0 |" in table and table in printed
    assert f"wrote {out / 'results.json'}, {out / 'table.md'}, {out / 'heatmap.png'}" in printed  # ends saying where
    assert (out / "heatmap.png").stat().st_size > 0
    data = sorted((out / "data").iterdir())
    answered = json.loads((out / "results" / "alpha1-sf0--qa1.json").read_text())["samples"]

    trained_at = weights.stat().st_mtime_ns
    assert main(args) == 0
    assert weights.stat().st_mtime_ns == trained_at  # finished: kept, not trained again
    assert sorted((out / "data").iterdir()) == data
    again = json.loads((out / "results" / "alpha1-sf0--qa1.json").read_text())["samples"]
    assert [r["id"] for r in again] == [r["id"] for r in answered] and len(again) == 2


def test_markdown_tables_right_align_every_cell_column():
    lines = markdown("model", ["0k", "1k"], {"a": percents({"0k": 0.5}, ["0k", "1k"])})
    assert lines == ["| model | 0k | 1k |", "|---|---:|---:|", "| a | 50 |  |"]
