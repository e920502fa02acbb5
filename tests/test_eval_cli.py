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
