import numpy as np
import pytest

from memreasoner.data.babi import derive_answer, load_babi
from memreasoner.data.benchmark import build_benchmark, official_indices, pick_questions
from memreasoner.data.books import load_books
from memreasoner.data.haystack import build_haystacks, context_tokens, cut_to_tokens, hide_story, parse_lengths
from memreasoner.data.sample import read_samples, write_samples
from memreasoner.data.tokens import gpt2_encoding
from memreasoner.errors import InputError
from memreasoner.paths import babi_file

QA1_TEST = "babi/en/qa1_single-supporting-fact_test.txt"
QA2_TEST = "babi/en/qa2_two-supporting-facts_test.txt"


@pytest.fixture(scope="module")
def books(data_dir):
    return data_dir / "books" / "gutenberg"


@pytest.fixture(scope="module")
def pool(books):
    return load_books(books)


@pytest.fixture(scope="module")
def qa2(data_dir):
    return load_babi(data_dir / QA2_TEST)


def _count(text: str) -> int:
    return len(gpt2_encoding().encode_ordinary(text))


def test_lengths_are_gpt2_tokens_minus_the_question_margin():
    assert [context_tokens(x) for x in ("0k", "1k", "4k", "128k", "1M", "10M")] == [0, 700, 3700, 127700, 999700, 9999700]
    assert parse_lengths("0k, 1k,4k") == ["0k", "1k", "4k"]
    for bad in ("4x", "0.5k", "4K", "", "k"):
        with pytest.raises(InputError, match="length"):
            parse_lengths(bad)


def test_4k_sample_is_exact_and_keeps_story_and_facts(qa2, pool, data_dir):
    picked = pick_questions(qa2, 3)
    for (number, question), sample in zip(picked, build_haystacks(picked, ["4k"], pool, seed=1)):
        assert _count(sample.input) == 3700
        lines = sample.lines()
        assert len(lines) == len(sample.sentence_starts)
        assert " ".join(lines) == sample.input  # single spaces between lines, nothing else
        assert sample.story == sorted(sample.story)  # story sentences keep their order
        assert [lines[i] for i in sample.story] == question.lines
        assert [lines[i] for i in sample.facts] == [question.lines[i] for i in question.support]
        assert (sample.question, sample.target, sample.task, sample.length) == (question.question, question.answer, "qa2", "4k")
        distractors = [i for i in range(len(lines)) if i not in set(sample.story)]
        known = set(pool.sentences)
        assert all(lines[i] in known for i in distractors[:-1])
        cut = lines[distractors[-1]]  # the last distractor sentence is cut to hit the length
        assert any(s.startswith(cut) for s in pool.sentences)


@pytest.mark.parametrize("task", ["qa3", "qa4", "qa5"])
def test_qa3_qa4_qa5_samples_keep_their_facts_in_order_and_the_exact_length(task, pool, data_dir):
    questions = load_babi(babi_file(task, "test"), derive=True)
    picked = pick_questions(questions, 4, official_indices(task, data_dir / "babilong/test_100_idxs.json"))
    for (number, question), sample in zip(picked, build_haystacks(picked, ["2k"], pool, seed=3)):
        assert _count(sample.input) == 1700 and sample.id == f"{task}-2k-{number}"
        lines = sample.lines()
        assert sample.story == sorted(sample.story) and [lines[i] for i in sample.story] == question.lines
        # the facts in the file's order (qa3: the object's last get or drop, then the two moves, latest first)
        assert [lines[i] for i in sample.facts] == [question.lines[i] for i in question.support]
        assert len(sample.facts) == {"qa3": 3, "qa4": 1, "qa5": 1}[task]
        story = [lines[i] for i in sample.story]
        assert derive_answer(story, sample.question) == (sample.target, [sample.story.index(f) for f in sample.facts])


def test_a_story_longer_than_a_length_is_left_out_there_with_a_note(books):
    notes = []
    samples = build_benchmark("qa3", ["0k", "1k"], 100, books=books, notes=notes, progress=False)
    at_0k, at_1k = ([s for s in samples if s.length == length] for length in ("0k", "1k"))
    assert len(at_0k) == 100 and len(at_1k) == 93
    left_out = {s.id.rsplit("-", 1)[1] for s in at_0k} - {s.id.rsplit("-", 1)[1] for s in at_1k}
    assert all(_count(s.input) > 700 for s in at_0k if s.id.rsplit("-", 1)[1] in left_out)
    assert all(_count(s.input) == 700 for s in at_1k)
    assert notes == ["qa3 1k: 7 of the 100 questions taken have stories longer than the 700-token context and are left "
                     "out there (e.g. question 74)"]


def test_0k_is_the_bare_story(qa2):
    picked = pick_questions(qa2, 2)
    for (_, question), sample in zip(picked, build_haystacks(picked, ["0k"], None)):
        assert sample.input == " ".join(question.lines)
        assert sample.facts == question.support and sample.story == list(range(len(question.lines)))


@pytest.mark.parametrize("length", ["1k", "2k", "16k", "128k"])
def test_every_length_is_exact(qa2, pool, length):
    samples = build_haystacks(pick_questions(qa2, 2), [length], pool, seed=5)
    assert {_count(s.input) for s in samples} == {context_tokens(length)}


def test_same_seed_is_byte_identical_other_seed_differs(qa2, pool, tmp_path):
    picked = pick_questions(qa2, 3)
    paths = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        paths.append(tmp_path / f"{name}.jsonl")
        write_samples(build_haystacks(picked, ["1k", "4k"], pool, seed=seed), paths[-1])
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
    alone = build_haystacks(picked, ["4k"], pool, seed=7)  # a sample does not depend on what else is built
    assert [s.input for s in alone] == [s.input for s in read_samples(paths[0]) if s.length == "4k"]


def test_official_100_indices_or_first_n(data_dir, books):
    official = build_benchmark("qa1", ["0k"], 5, books=books)
    assert [s.id for s in official] == ["qa1-0k-1", "qa1-0k-4", "qa1-0k-10", "qa1-0k-17", "qa1-0k-25"]
    first = build_benchmark("qa1", ["0k"], 3, books=books, first=True)
    assert [s.id for s in first] == ["qa1-0k-0", "qa1-0k-1", "qa1-0k-2"]
    assert len(build_benchmark("qa1", ["0k"], 101, books=books)) == 101  # beyond the list: first N
    custom = build_benchmark("qa1", ["0k"], 2, babi=data_dir / "babi/en/qa1_single-supporting-fact_train.txt")
    assert [s.id for s in custom] == ["qa1-0k-0", "qa1-0k-1"]


def test_unseen_build_uses_generated_vocabulary(books):
    samples = build_benchmark("qa1", ["1k"], 3, books=books, unseen=True)
    assert all(s.target in ("attic", "cellar", "library", "garage", "porch", "studio") for s in samples)


def test_story_longer_than_the_length_names_file_and_line(tmp_path, pool):
    moves = [f"{i} Mary {'moved' if i % 2 else 'went'} to the {'kitchen' if i % 2 else 'garden'}." for i in range(1, 151)]
    path = tmp_path / "qa1_long.txt"
    path.write_text("\n".join(moves) + "\n151 Where is Mary? \tgarden\t150\n")
    questions = load_babi(path)
    with pytest.raises(InputError, match="more than the 700-token context") as err:
        build_haystacks(pick_questions(questions, 1), ["1k"], pool, source=path)
    assert str(err.value).startswith(f"{path}:151: ")


def test_books_too_short_for_the_length(tmp_path, qa2):
    (tmp_path / "tiny.txt").write_text("The old captain walked slowly along the quay, looking at every ship. " * 20)
    with pytest.raises(InputError, match="books too short"):
        build_haystacks(pick_questions(qa2, 1), ["4k"], load_books(tmp_path))
    sample = build_haystacks(pick_questions(qa2, 1), ["4k"], load_books(tmp_path), allow_repeats=True)[0]
    assert _count(sample.input) == 3700


def test_asking_for_more_questions_than_the_file_has(qa2):
    with pytest.raises(InputError, match="has 1000 questions"):
        pick_questions(qa2, 1001)


def test_story_sentences_land_in_uniformly_random_gaps():
    """One story sentence among 100 equal distractors: its position is uniform over the 101 gaps."""
    texts = [f"Distractor sentence number {i} is here, long enough to count for the test." for i in range(100)]
    counts = np.array([len(gpt2_encoding().encode_ordinary(" " + t)) for t in texts])
    source = lambda n, rng: (texts, counts)  # noqa: E731 - a fixed haystack of known size
    total = len(gpt2_encoding().encode_ordinary(" ".join(["Mary moved to the bathroom."] + texts)))
    rng = np.random.default_rng(0)
    positions = [hide_story(["Mary moved to the bathroom."], source, total, rng).story_at[0] for _ in range(2000)]
    assert abs(np.mean(positions) - 50) < 3 and min(positions) == 0 and max(positions) == 100
    assert np.histogram(positions, bins=4, range=(0, 101))[0].min() > 400


def test_token_counts_add_up_across_single_space_joins(pool):
    """The claim the builder's speed rests on, checked on 3000 random book sentences."""
    ids = np.random.default_rng(0).choice(len(pool.sentences), 3000, replace=False)
    joined = " ".join(pool.sentences[i] for i in ids)
    first = len(gpt2_encoding().encode_ordinary(pool.sentences[ids[0]]))
    assert _count(joined) == first + int(pool.tokens[ids[1:]].sum())


def test_cut_to_tokens_gives_an_exact_prefix_or_none(pool):
    enc = gpt2_encoding()
    prose = [s for s in pool.sentences if s.isascii() and "\n" not in s][:300]
    for sentence in prose:
        for n in (1, 5, 9):
            cut = cut_to_tokens(enc, sentence, n)
            assert cut is not None and sentence.startswith(cut)
            assert len(enc.encode_ordinary(" " + cut)) == n
    assert cut_to_tokens(enc, "Mary moved to the bathroom.", 3, after_space=False) == "Mary moved to"
    # a line cannot end in whitespace, and half a character is no prefix: then there is no exact cut
    assert cut_to_tokens(enc, "London\n                             George Allen.", 5) is None
    assert cut_to_tokens(enc, "\u201cIs he married or single?\u201d", 1) is None
