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
