"""`--style official`: each rule of BABILong's generator, checked on books whose sentences we know."""

import json

import numpy as np
import pytest

from memreasoner.data.babi import load_babi, parse_babi
from memreasoner.data.benchmark import build_official_benchmark
from memreasoner.data.books import book_texts
from memreasoner.data.haystack import context_tokens
from memreasoner.data.official import Haystack, keep_questions, make_haystack, max_n_facts, noise_sentences
from memreasoner.data.tokens import gpt2_encoding
from memreasoner.errors import InputError

QA1_TEST = "babi/en/qa1_single-supporting-fact_test.txt"
# a book of numbered sentences (each >= 10 tokens) with short ones between them that must never be taken
SENTENCES = [f"The old sailor counted {i} gulls above the grey harbour wall{' again' * (i % 7)} that morning." for i in range(400)]
BOOK = " ".join(f"{s} Yes. No." for s in SENTENCES)
FACTS = ["Mary moved to the bathroom.", "John went to the hallway.", "Daniel travelled to the office."]


@pytest.fixture(scope="module")
def enc():
    return gpt2_encoding()


def _count(enc, tokens) -> int:
    """Tokens of a piece as the generator's length filter counts it: the bare sentence."""
    return len(enc.encode_ordinary(enc.decode(tokens).strip()))


def test_sizes_and_the_max_n_facts_rule():
    assert [context_tokens(n) for n in ("0k", "1k", "4k")] == [0, 700, 3700]
    assert max_n_facts(700) == 87 and max_n_facts(3700) == 462 and max_n_facts(0) is None
    # a story of 86 sentences plus its question is 87 lines (kept at 1k); 87 sentences are 88 lines (left out)
    stories = []
    for n_facts in (86, 87):
        lines = [f"{i} Mary went to the kitchen." for i in range(1, n_facts + 1)]
        stories.append("\n".join([*lines, f"{n_facts + 1} Where is Mary? \tkitchen\t{n_facts}"]))
    questions = parse_babi("\n".join(stories), "qa1")
    assert keep_questions(questions, 700) == [0]
    assert keep_questions(questions, 0) == [0, 1]  # no limit at 0k
    assert keep_questions(questions, 1300) == [0, 1]


@pytest.mark.parametrize("seed", range(6))
def test_exact_size_whole_sentences_and_a_cut_last_piece(enc, seed):
    size = 700
    haystack = make_haystack(FACTS, [BOOK], size, np.random.default_rng(seed), enc)
    assert len(haystack.tokens()) == size
    assert sum(map(len, haystack.facts)) + sum(map(len, haystack.noise)) == size
    whole = [enc.decode(piece).strip() for piece in haystack.noise[:-1]]
    assert all(s in SENTENCES for s in whole)  # slices' cut first and last sentences dropped, short ones skipped
    assert all(_count(enc, piece) >= 10 for piece in haystack.noise[:-1])
    cut = enc.decode(haystack.noise[-1]).strip()
    assert any(s.startswith(cut) for s in SENTENCES)
    # every fact is there, in story order, each after a single space
    text = haystack.text(enc)
    at = [text.index(fact) for fact in FACTS]
    assert at == sorted(at) and all(i == 0 or text[i - 1] == " " for i in at)


def test_cut_piece_is_short_of_its_sentence_when_the_total_overshoots(enc):
    cuts = 0
    for seed in range(20):
        noise = noise_sentences([BOOK], 300, np.random.default_rng(seed), enc)
        cut = enc.decode(noise[-1]).strip()
        cuts += cut not in SENTENCES
        assert sum(map(len, noise)) == 300
    assert cuts >= 15  # a sentence ending exactly at the target is the rare case


def test_a_fact_at_the_last_gap_is_glued_to_the_cut_fragment(enc):
    noise = [enc.encode_ordinary(" The town was quiet when the coach came in at last."),
             enc.encode_ordinary(" Still later he removed to the city of Boston.")[:5]]
    facts = [enc.encode_ordinary(" " + f) for f in FACTS]
    glued = Haystack(facts[2:], noise, [2]).text(enc)
    assert glued.endswith("Still later he removed to Daniel travelled to the office.")
    # several facts in one gap keep story order and go before that gap's noise sentence
    shared = Haystack(facts, noise, [0, 0, 1]).text(enc)
    assert shared.startswith("Mary moved to the bathroom. John went to the hallway. The town")
    assert "came in at last. Daniel travelled to the office. Still later he removed to" in shared


def test_fact_gaps_are_uniform_over_every_gap_including_the_last(enc):
    gaps, ends = [], 0
    for seed in range(300):
        haystack = make_haystack(FACTS[:1], [BOOK], 300, np.random.default_rng(seed), enc)
        gap = haystack.positions[0]
        assert 0 <= gap <= len(haystack.noise)
        gaps.append(gap / len(haystack.noise))
        ends += gap == len(haystack.noise)
    assert 0.4 < np.mean(gaps) < 0.6 and ends > 0


def test_0k_is_the_story_joined_by_single_spaces(enc):
    haystack = make_haystack(FACTS, [], 0, np.random.default_rng(0), enc)
    assert haystack.text(enc) == " ".join(FACTS)


def test_errors_name_the_story_or_the_books(enc):
    with pytest.raises(InputError, match="story alone has") as err:
        make_haystack(FACTS * 30, [BOOK], 100, np.random.default_rng(0), enc, where=("qa1.txt", 7))
    assert str(err.value).startswith("qa1.txt:7: ")
    with pytest.raises(InputError, match="no sentence of >= 10") as err:
        noise_sentences(["Yes. No. Maybe so. Why not."], 50, np.random.default_rng(0), enc, "shelf")
    assert str(err.value).startswith("shelf: ")


def test_records_are_release_records_with_the_question_as_written(data_dir, enc):
    books = data_dir / "books" / "gutenberg"
    records, notes = build_official_benchmark("qa1", ["0k", "1k"], 3, books=books, seed=1, progress=False)
    assert notes == []  # qa1 stories are far below the limit
    assert all(set(r) == {"input", "question", "target", "task", "length", "id"} for r in records)
    assert [r["id"] for r in records] == ["qa1-0k-1", "qa1-0k-4", "qa1-0k-10", "qa1-1k-1", "qa1-1k-4", "qa1-1k-10"]
    questions = load_babi(data_dir / QA1_TEST)
    raw = (data_dir / QA1_TEST).read_text().splitlines()
    for record in records:
        question = questions[int(record["id"].rsplit("-", 1)[1])]
        assert record["question"] == question.question + " " and f" {record['question']}\t" in raw[question.meta["line"] - 1]
        assert record["target"] == question.answer
        at = [record["input"].index(line) for line in question.lines]  # every story sentence, in order
        assert at == sorted(at)
    assert [r["input"] for r in records[:3]] == [" ".join(questions[n].lines) for n in (1, 4, 10)]
    assert all(abs(len(enc.encode_ordinary(r["input"])) - 700) <= 2 for r in records[3:])
    again, _ = build_official_benchmark("qa1", ["1k"], 3, books=books, seed=1, progress=False)
    assert again == records[3:]  # each sample has its own stream: the same whichever lengths are built


@pytest.mark.parametrize("task, file", [("qa3", "qa3_three-supporting-facts"), ("qa4", "qa4_two-arg-relations"),
                                        ("qa5", "qa5_three-arg-relations")])
def test_qa3_qa4_qa5_records_keep_the_story_in_order_and_the_question_as_written(data_dir, enc, task, file):
    books = data_dir / "books" / "gutenberg"
    records, notes = build_official_benchmark(task, ["0k", "2k"], 3, books=books, seed=2, progress=False)
    assert notes == [] and len(records) == 6
    path = data_dir / f"babi/en/{file}_test.txt"
    questions, raw = load_babi(path), path.read_text().splitlines()
    for record in records:
        question = questions[int(record["id"].rsplit("-", 1)[1])]
        assert f" {record['question']}\t{record['target']}\t" in raw[question.meta["line"] - 1]  # qa4 has no space before the tab
        at = -1
        for line in question.lines:  # every story sentence, in story order
            at = record["input"].index(line, at + 1)
    assert all(abs(len(enc.encode_ordinary(r["input"])) - 1700) <= 2 for r in records if r["length"] == "2k")


def test_max_n_facts_changes_qa2_at_1k_only(data_dir):
    books = data_dir / "books" / "gutenberg"
    questions = load_babi(data_dir / "babi/en/qa2_two-supporting-facts_test.txt")
    too_long = [n for n, q in enumerate(questions) if len(q.lines) + 1 > 87]
    assert too_long == [534]
    records, notes = build_official_benchmark("qa2", ["1k"], 100, books=books, progress=False)
    index_list = json.loads((data_dir / "babilong/test_100_idxs.json").read_text())["qa2"]
    # as in the generator, the indices count the questions kept: from 534 on they name the next question
    assert [int(r["id"].rsplit("-", 1)[1]) for r in records] == [i + (i >= 534) for i in index_list]
    assert len(notes) == 1 and "qa2 1k: 1 question(s)" in notes[0]
    assert build_official_benchmark("qa2", ["2k"], 2, books=books, progress=False)[1] == []


def test_book_texts_are_the_bodies_of_every_book(data_dir):
    texts = book_texts(data_dir / "books" / "gutenberg")
    assert len(texts) == 6 and not any("*** START OF" in t or "\r" in t for t in texts)
