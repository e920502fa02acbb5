import pytest

from memreasoner.cli import make_parser
from memreasoner.commands.eval import load_eval_samples
from memreasoner.data.babi import BABI_NAMES, UNSEEN_NAMES
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
