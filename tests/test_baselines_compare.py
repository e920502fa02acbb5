"""`memreasoner compare` on a tiny setting: trains each model under the budget, evaluates all on the
same samples, writes results.json with the documented keys, a table and a heatmap; --from reuses models."""

from __future__ import annotations

import json

import pytest

from memreasoner.cli import main
from memreasoner.studies.compare import flags_for, tables

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
    assert "for 4 optimiser steps each (" in (out / "table.md").read_text()
    # A model trained to other steps than the budget: the title no longer says "each" without a caveat.
    results["retrieval"]["train_steps"] = 300
    settings = json.loads((out / "settings.json").read_text())
    assert "for 4 optimiser steps each unless its row says otherwise (" in tables(results, settings)
    capsys.readouterr()
    both = ["compare", "--models", "memn2n", "--budget-steps", "4", "--budget-minutes", "1", "--out", str(tmp_path / "x")]
    assert main(both) == 2 and "one budget" in capsys.readouterr().err


# Every model compare trains by default, at toy size (2 steps each), reading a small slice of the task's file.
TINY = {"memreasoner": ["--augment=0", "--decoder-layers=1", "--decoder-dim=32", "--decoder-heads=2", "--gru-hidden=16",
                        "--slots=32", "--no-first-pass"],
        "larimar": ["--augment=0", "--decoder-layers=1", "--decoder-dim=32", "--decoder-heads=2", "--slots=32",
                    "--no-first-pass"],
        "rmt": ["--rmt-dim=16", "--rmt-layers=1", "--rmt-heads=2"],
        "mamba": ["--mamba-dim=16", "--mamba-layers=1"],
        "transformer": ["--transformer-dim=16", "--transformer-layers=1", "--transformer-heads=2"],
        "memn2n": [], "retrieval": []}


def test_compare_takes_memreasoners_training_set_for_each_babilong_task():
    from memreasoner.errors import InputError
    from memreasoner.model.train import TASK_DEFAULTS
    from memreasoner.paths import babi_file
    from memreasoner.studies.compare import default_variant

    assert {t: default_variant(t) for t in ("qa1", "qa2", "qa3", "qa4", "qa5")} == {
        "qa1": "en", "qa2": "en-10k", "qa3": "en", "qa4": "en-10k", "qa5": "en-10k"}
    assert all(default_variant(t) == TASK_DEFAULTS[t]["variant"] for t in ("qa1", "qa2", "qa3", "qa4", "qa5"))
    assert all(babi_file(t, "train", default_variant(t)).is_file() for t in ("qa1", "qa2", "qa3", "qa4", "qa5"))
    with pytest.raises(InputError, match="qa1, qa2, qa3, qa4, qa5"):
        default_variant("vt")


@pytest.mark.parametrize("task", ["qa3", "qa4", "qa5"])
def test_compare_trains_and_answers_every_peer_on_qa3_qa4_qa5(tmp_path, task):
    from memreasoner.data.babi import load_babi
    from memreasoner.paths import babi_file
    from memreasoner.studies.compare import default_variant

    train_file = babi_file(task, "train", default_variant(task))
    small = tmp_path / "train.txt"  # the first stories only: 10k questions would make memn2n's set-up the test
    small.write_text("\n".join(train_file.read_text().splitlines()[:120]) + "\n")
    answers = {s.answer for s in load_babi(small, task)}
    out = tmp_path / task
    args = ["compare", "--task", task, "--lengths", "0k", "--samples", "2", "--budget-steps", "2", "--out", str(out),
            "--quiet", f"--train-flag=--babi={small}", "--train-flag=--eval-limit=2",
            *[f"--train-flag={model}:{flag}" for model, flags in TINY.items() for flag in flags]]
    assert main(args) == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results) == list(TINY)
    for name, r in results.items():
        assert r["train_steps"] == 2 and set(r["accuracy"]) == {"0k"}
        assert r["babi_test"]["source"] == "metrics.json" and r["babi_test"]["n"] == 2
        answered = json.loads((out / "results" / f"{name}.json").read_text())["samples"]
        assert len(answered) == 2 and all(row["task"] == task for row in answered)
    # The classifiers' output classes are the task's answers (qa5: people and objects; qa3, qa4: places).
    for name in ("memn2n", "retrieval"):
        assert set(json.loads((out / "models" / name / "config.json").read_text())["answers"]) == answers
    assert json.loads((out / "settings.json").read_text())["train_variant"] == default_variant(task)


def test_an_agent_is_refused_on_a_task_it_does_not_train_on(tmp_path, capsys):
    assert main(["compare", "--models", "memagent", "--task", "qa3", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "memagent trains on qa1, qa2 only, not qa3" in capsys.readouterr().err


def test_bare_babi_accuracy_comes_from_training_else_from_answering_the_bare_stories(tmp_path):
    out = tmp_path / "cmp"
    assert main(["compare", "--models", "memn2n,retrieval", "--task", "qa1", "--lengths", "0k", "--samples", "2",
                 "--budget-steps", "2", "--out", str(out), "--quiet", "--train-flag=--eval-limit=3"]) == 0
    results = json.loads((out / "results.json").read_text())
    recorded = json.loads((out / "models" / "memn2n" / "metrics.json").read_text())["held_out_accuracy"]
    assert results["memn2n"]["babi_test"] == {"accuracy": recorded, "n": 3, "source": "metrics.json"}
    assert "bAbI test" in (out / "table.md").read_text()

    (out / "models" / "memn2n" / "metrics.json").unlink()  # as an agent's folder: no bAbI test number recorded
    again = tmp_path / "again"
    assert main(["compare", "--models", "memn2n,retrieval", "--task", "qa1", "--lengths", "1k", "--samples", "2",
                 "--from", str(out), "--out", str(again), "--quiet"]) == 0
    results = json.loads((again / "results.json").read_text())
    answered = json.loads((again / "results.json").read_text())["memn2n"]["babi_test"]
    assert answered["source"] == "0k samples" and answered["n"] == 2  # the bare stories were answered
    assert results["retrieval"]["babi_test"]["source"] == "metrics.json"
    assert set(results["memn2n"]["accuracy"]) == {"1k"}  # the bare stories are not a haystack length


def test_a_model_far_below_the_best_on_bare_babi_is_flagged_under_trained():
    from memreasoner.studies.compare import flag_under_trained, tables

    table = {name: {"accuracy": {"0k": a, "1k": a}, "tokens_per_s": {"0k": 10.0, "1k": 10.0}, "params": 5,
                    "train_minutes": 0.1, "train_steps": 2, "babi_test": {"accuracy": a, "n": 100, "source": "metrics.json"}}
             for name, a in [("good", 0.9), ("close", 0.7), ("far", 0.69)]}
    flag_under_trained(table)
    assert {name: r["under_trained"] for name, r in table.items()} == {"good": False, "close": False, "far": True}
    settings = {"from": None, "train_variant": "en", "budget_steps": 2, "task": "qa1", "unseen": False,
                "samples_per_length": 2, "cache_warmup": None}
    accuracy = tables(table, settings).split("Speed")[0]
    rows = {line.split("|")[1].strip(): line for line in accuracy.splitlines() if line.startswith("| ")}
    assert rows["far"].endswith("| 69 (100) | 5 | 2 | 0.1 | under-trained: bAbI test 69% vs best 90% |")
    assert "under-trained" not in rows["good"] + rows["close"]


def test_every_model_is_timed_from_the_same_warm_embedding_cache(tmp_path, monkeypatch):
    import memreasoner.evaluate as evaluation
    from memreasoner.paths import cache_dir

    books = cache_dir() / "books"
    books.mkdir(parents=True, exist_ok=True)
    fresh = tmp_path / "cache"
    fresh.mkdir()
    (fresh / "books").symlink_to(books)  # the tokenised books are shared; the line embeddings start empty
    monkeypatch.setenv("MEMREASONER_CACHE", str(fresh))
    before = []  # per model, as it starts answering: (name, test texts its disk cache holds, texts, in memory)
    evaluate = evaluation.evaluate

    def checked(reader, samples, model_name="", **kw):
        texts = list(dict.fromkeys(t for s in samples for t in [*s.lines(), s.question]))
        reader.answer([])  # attaches the cache the model answers through; answers nothing
        before.append((model_name, len(reader.encoder.disk_cache.get(texts)), len(texts), len(reader.encoder._cache)))
        return evaluate(reader, samples, model_name=model_name, **kw)

    monkeypatch.setattr(evaluation, "evaluate", checked)
    out = tmp_path / "cmp"
    args = ["compare", "--models", "memreasoner,retrieval", "--task", "qa1", "--lengths", "0k,1k", "--samples", "2",
            "--budget-steps", "2", "--out", str(out), "--quiet", "--train-flag=--eval-limit=2",
            "--train-flag=retrieval:--retrieval-retriever=embedding",
            *[f"--train-flag=memreasoner:{flag}" for flag in TINY["memreasoner"]]]
    assert main(args) == 0
    n = before[0][2]
    assert n > 20 and before == [("memreasoner", n, n, 0), ("retrieval", n, n, 0)]  # every line on disk, none in memory
    warm = json.loads((out / "settings.json").read_text())["cache_warmup"]
    assert warm["texts"] == n and len(warm["encoders"]) == 1  # one shared encoder, warmed once
    assert f"same warm embedding cache: the {n} test lines" in (out / "table.md").read_text()
