import csv
import json

import pytest

from memreasoner.cli import main, make_parser
from memreasoner.commands.eval import load_eval_samples
from memreasoner.data.babi import BABI_NAMES, PARAPHRASED_MOVE_VERBS, UNSEEN_NAMES
from memreasoner.data.generalization import ONE_PIECE_NAMES, variants
from memreasoner.errors import InputError


def eval_args(*extra):
    return make_parser().parse_args(["eval", "--model", "unused", "--task", "qa1", "--samples", "3", *extra])


def test_unseen_builds_stories_with_names_never_in_training():
    samples = load_eval_samples(eval_args("--lengths", "0k", "--unseen"))
    text = " ".join(s.input for s in samples)
    assert len(samples) == 3 and any(n in text for n in UNSEEN_NAMES) and not any(n in text for n in BABI_NAMES)


def test_repeat_books_lets_a_small_library_fill_a_long_haystack(tmp_path):
    (tmp_path / "tiny.txt").write_text(" ".join(f"The old sailor counted {i} gulls above the harbour wall today."
                                                for i in range(20)))
    args = ("--lengths", "1k", "--books", str(tmp_path))
    with pytest.raises(InputError, match="allow"):
        load_eval_samples(eval_args(*args))
    assert len(load_eval_samples(eval_args(*args, "--repeat-books"))) == 3


def test_lines_punkt_reads_our_file_as_a_real_one(tmp_path):
    from memreasoner.commands.eval import data_read
    from memreasoner.data.sample import Sample, write_samples

    path = tmp_path / "ours.jsonl"
    # the file says its first line runs on past a full stop (as a cut fragment glued to a fact does)
    text = "Still later he removed to. Mary moved to the bathroom. It rained."
    write_samples([Sample(text, "Where is Mary?", "bathroom", "qa1", "1k", sentence_starts=[0, 55], facts=[0], story=[0], id="a")], path)
    parse = make_parser().parse_args
    ours = load_eval_samples(parse(["eval", "--model", "unused", "--data", str(path)]))
    assert ours[0].lines() == ["Still later he removed to. Mary moved to the bathroom.", "It rained."] and ours[0].facts == [0]
    args = parse(["eval", "--model", "unused", "--data", str(path), "--lines", "punkt"])
    punkt = load_eval_samples(args)[0]
    assert punkt.lines() == ["Still later he removed to.", "Mary moved to the bathroom.", "It rained."]
    assert punkt.facts == [] and punkt.story == [] and punkt.id == "a"  # labels of other lines would mislead
    assert data_read(args) == {"data": str(path), "lines": "punkt"}
    assert data_read(eval_args("--lengths", "0k"))["lines"] == "file"


def test_variant_builds_that_variants_stories():
    samples = load_eval_samples(eval_args("--lengths", "0k", "--variant", "paraphrased"))
    assert len(samples) == 3 and all(any(f" {verb} the " in s.input for verb in PARAPHRASED_MOVE_VERBS) for s in samples)


@pytest.fixture(scope="module")
def memn2n(tmp_path_factory):
    """Any reader will do: a MemN2N trained for two steps, which also reports the lines its hops chose."""
    import torch

    from memreasoner.training import train

    folder = tmp_path_factory.mktemp("memn2n") / "model"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    flags = ["--steps", "2", "--batch-size", "4", "--eval-limit", "2", "--memn2n-dim", "8"]
    assert train("memn2n", "qa1", folder, flags, device="cpu") == 0
    torch.set_num_threads(before)
    return folder


def test_generalization_suite_end_to_end(memn2n, tmp_path, capsys):
    out = tmp_path / "suite" / "qa1.json"
    args = ["eval", "--suite", "generalization", "--model", str(memn2n), "--task", "qa1", "--lengths", "0k,1k",
            "--samples", "2", "--device", "cpu", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out.splitlines()
    names = list(variants("qa1"))
    result = json.loads(out.read_text())
    rows = result["samples"]
    assert len(rows) == len(names) * 2 * 2 and len({r["id"] for r in rows}) == len(rows)
    assert list(result["by_variant"]) == names and all(v["n"] == {"0k": 2, "1k": 2} for v in result["by_variant"].values())
    assert result["built"]["suite"] == "generalization" and result["built"]["variants"]["other-stats"]["distance"] == [5, 12]

    def mean(key, variant, length):
        values = [r[key] for r in rows if r["variant"] == variant and r["length"] == length]
        return sum(values) / len(values)

    # one table per score, a row per variant and a column per length, each cell the mean of its samples
    for title, key in (("exact", "correct"), ("facts hit", "facts_hit")):
        at = next(i for i, line in enumerate(printed) if line.startswith(title))
        assert printed[at].split()[-2:] == ["0k", "1k"]
        for name, line in zip(names, printed[at + 1:at + 1 + len(names)]):
            assert line.split() == [name, *(f"{100 * mean(key, name, length):.1f}%" for length in ("0k", "1k"))]
    # the samples are each variant's own: unseen names there, and paraphrasing keeps babi-words' answers
    by = {name: [r for r in rows if r["variant"] == name] for name in names}
    assert all(r["question"].split()[-1].rstrip("?") in ONE_PIECE_NAMES for r in by["unseen-one-piece"])
    assert [r["target"] for r in by["paraphrased"]] == [r["target"] for r in by["babi-words"]]
    with open(out.with_suffix(".csv"), newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["variant"] for r in table] == [r["variant"] for r in rows]
    assert out.with_suffix(".png").stat().st_size > 0


@pytest.mark.parametrize("extra, message", [
    (["--task", "qa1", "--unseen"], "--suite builds its own stories"),
    (["--task", "qa1", "--variant", "crowded"], "--suite builds its own stories"),
    (["--data", "x.jsonl"], "--suite builds its own stories"),
    (["--task", "vt"], "the generalization suite has qa1 and qa2 stories, not 'vt'"),
])
def test_suite_refusals_are_one_line(capsys, extra, message):
    assert main(["eval", "--suite", "generalization", "--model", "unused", "--device", "cpu", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("memreasoner: error: ") and message in err[-1]


def test_plain_eval_writes_no_variant_columns(memn2n, tmp_path, capsys):
    out = tmp_path / "plain.json"
    assert main(["eval", "--model", str(memn2n), "--task", "qa1", "--lengths", "0k", "--samples", "2", "--device", "cpu",
                 "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[0].split()[:3] == ["length", "n", "exact"]
    result = json.loads(out.read_text())
    assert "by_variant" not in result and result["n"] == {"0k": 2} and result["built"]["variant"] is None
    assert out.with_suffix(".csv").read_text().splitlines()[0].startswith("id,task,length,")
    assert out.with_suffix(".png").stat().st_size > 0


@pytest.fixture(scope="module")
def five(memn2n, tmp_path_factory):
    """A folder of per-task checkpoints: five/qa1 is the MemN2N above, five/qa2 the same weights with every
    answer renamed "B-...", so a prediction tells which of the two answered it."""
    import shutil

    folder = tmp_path_factory.mktemp("five")
    shutil.copytree(memn2n, folder / "qa1")
    shutil.copytree(memn2n, folder / "qa2")
    config = json.loads((folder / "qa2" / "config.json").read_text())
    config["answers"] = [f"B-{answer}" for answer in config["answers"]]
    (folder / "qa2" / "config.json").write_text(json.dumps(config))
    return folder


def predictions(result: dict) -> dict[str, list[str]]:
    by_task = {}
    for row in result["samples"]:
        by_task.setdefault(row["task"], []).append(row["prediction"])
    return by_task


@pytest.mark.parametrize("form", ["pairs", "folder"])
def test_each_task_is_answered_by_its_own_model(five, tmp_path, form):
    models = {"pairs": ["--model", f"qa1={five / 'qa1'}", "--model", f"qa2={five / 'qa2'}"],
              "folder": ["--model", str(five)]}[form]
    out = tmp_path / "babilong.json"
    assert main(["eval", "--task", "qa1,qa2", *models, "--lengths", "0k,1k", "--samples", "2", "--device", "cpu",
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["checkpoint"] == {"qa1": str(five / "qa1"), "qa2": str(five / "qa2")}
    answers = predictions(result)
    assert len(answers["qa1"]) == len(answers["qa2"]) == 4
    assert not any(a.startswith("B-") for a in answers["qa1"]) and all(a.startswith("B-") for a in answers["qa2"])


def test_one_task_from_a_folder_of_tasks_keeps_the_plain_table(five, tmp_path, capsys):
    out = tmp_path / "qa2.json"
    assert main(["eval", "--task", "qa2", "--model", str(five), "--lengths", "0k", "--samples", "2", "--device", "cpu",
                 "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[0].split()[:3] == ["length", "n", "exact"]
    result = json.loads(out.read_text())
    assert result["checkpoint"] == str(five / "qa2") and all(a.startswith("B-") for a in predictions(result)["qa2"])
    assert "by_task" not in result and "average" not in result


def test_task_table_has_a_row_per_task_and_their_average(five, memn2n, tmp_path, capsys):
    # one spec answers every task it is not overridden for: the folder's qa1 and qa2, and qa3 by --model qa3=
    out = tmp_path / "table" / "babilong.json"
    assert main(["eval", "--task", "qa1,qa2,qa3", "--model", str(five), "--model", f"qa3={memn2n}",
                 "--lengths", "0k,1k", "--samples", "4", "--device", "cpu", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    result = json.loads(out.read_text())
    rows = result["samples"]
    assert result["checkpoint"]["qa3"] == str(memn2n) and not any(a.startswith("B-") for a in predictions(result)["qa3"])

    def mean(task, length):
        values = [r["correct"] for r in rows if r["task"] == task and r["length"] == length]
        return sum(values) / len(values)

    assert printed[0].split() == ["exact", "0k", "1k"]
    cells = {line.split()[0]: line.split()[1:] for line in printed[1:5]}
    assert list(cells) == ["qa1", "qa2", "qa3", "average"]
    for task in ("qa1", "qa2", "qa3"):
        assert cells[task] == [f"{100 * mean(task, length):.1f}%" for length in ("0k", "1k")]
        assert result["by_task"][task]["accuracy"] == {length: mean(task, length) for length in ("0k", "1k")}
    average = {length: sum(mean(t, length) for t in ("qa1", "qa2", "qa3")) / 3 for length in ("0k", "1k")}
    assert cells["average"] == [f"{100 * average[length]:.1f}%" for length in ("0k", "1k")]
    assert result["average"]["accuracy"] == pytest.approx(average)
    with open(out.with_suffix(".csv"), newline="") as f:
        table = list(csv.DictReader(f))
    assert out.with_suffix(".csv").read_text().startswith("id,task,length,")  # one task column, not two
    assert [r["task"] for r in table] == [r["task"] for r in rows]
    assert out.with_suffix(".png").stat().st_size > 0


def test_the_average_row_weighs_each_task_alike_and_skips_missing_lengths():
    from memreasoner.evaluate import Results

    def row(task, length, correct):
        return {"id": f"{task}-{length}", "task": task, "length": length, "correct": correct, "facts_hit": None}

    # qa1 has two samples at 0k, qa2 one (a sample mean would give 2/3), and only qa1 has 1k
    results = Results("m", [row("qa1", "0k", True), row("qa1", "0k", False), row("qa1", "1k", True),
                            row("qa2", "0k", True)], group="task", average=True)
    assert results.grid("correct", "task")["average"] == {"0k": 0.75, "1k": 1.0}
    assert results.grid_table("task").splitlines()[-1].split() == ["average", "75.0%", "100.0%"]


@pytest.mark.parametrize("extra, message", [
    (["--task", "qa1,qa2", "--model", "qa1=somewhere"],
     "no model for qa2: give --model SPEC for every task, --model qa2=SPEC, or --model FOLDER holding"),
    (["--task", "qa1,qa3", "--model", "FIVE"], "no model for qa3: give --model SPEC for every task"),
    (["--task", "qa1,qa2", "--model", "a", "--model", "b"], "one --model may answer every task, not 2"),
    (["--task", "qa1", "--model", "qa2=a"], "--model qa2=a names qa2, which --task does not ask for"),
    (["--task", "qa1,qa9x", "--model", "a"], "unknown task 'qa9x' in --task"),
    (["--task", "qa1,qa2", "--data", "x.jsonl", "--model", "a"], "give no --data or --suite with it"),
    (["--task", "qa1,qa2", "--suite", "generalization", "--model", "a"], "give no --data or --suite with it"),
])
def test_task_list_refusals_are_one_line(five, capsys, extra, message):
    extra = [str(five) if a == "FIVE" else a for a in extra]
    assert main(["eval", "--device", "cpu", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("memreasoner: error: ") and message in err[0]
