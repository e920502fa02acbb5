import re

import pytest

from memreasoner.data.babi import (
    BABI_NAMES,
    BABI_OBJECTS,
    BABI_PLACES,
    UNSEEN_NAMES,
    UNSEEN_OBJECTS,
    UNSEEN_PLACES,
    VARIED_NAMES,
    VARIED_OBJECTS,
    VARIED_PLACES,
    derive_answer,
    generate_babi,
    generate_varied_babi,
    load_babi,
    parse_babi,
    read_event,
)
from memreasoner.errors import InputError

UNSEEN = dict(names=UNSEEN_NAMES, places=UNSEEN_PLACES, objects=UNSEEN_OBJECTS)


# The tasks the world simulator and the story generators cover; the data dir holds all twenty.
SIMULATED = "qa[12]_*.txt"


def test_every_answer_and_support_in_the_babi_files_rederives(data_dir):
    files = sorted((data_dir / "babi").glob(f"*/{SIMULATED}"))
    assert len(files) == 8
    total = 0
    for path in files:
        for sample in load_babi(path):
            assert derive_answer(sample.lines, sample.question) == (sample.answer, sample.support), (path, sample.meta)
            total += 1
    assert total == 26000


def test_loader_keeps_story_order_support_and_line(data_dir):
    samples = load_babi(data_dir / "babi/en/qa2_two-supporting-facts_test.txt")
    first = samples[0]
    assert first.task == "qa2" and first.question == "Where is the milk?" and first.answer == "hallway"
    assert first.lines == ["Mary got the milk there.", "John moved to the bedroom.",
                           "Sandra went back to the kitchen.", "Mary travelled to the hallway."]
    assert [first.lines[i] for i in first.support] == ["Mary got the milk there.", "Mary travelled to the hallway."]
    assert first.meta["line"] == 5
    assert samples[2].support == [6, 5]  # ids "9 7" (questions skipped): the drop, then where the holder was


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("1 Mary moved to the bathroom.\nx Where is Mary?\tbathroom\t1\n", 2, "expected '<id> <sentence>'"),
        ("1 Where is Mary?\tbathroom\t1\n", 1, "question before any fact"),
        ("1 Mary moved to the bathroom.\n3 Where is Mary?\tbathroom\t1\n", 2, "does not follow"),
        ("1 Mary moved to the bathroom.\n2 Where is Mary?\tbathroom\t7\n", 2, "not a fact earlier"),
        ("1 Mary moved to the bathroom.\n2 Where is Mary?\t\t1\n", 2, "question line needs"),
    ],
)
def test_malformed_babi_names_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "qa1_bad.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        load_babi(path)
    assert str(err.value).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize("task", ["qa1", "qa2"])
def test_generated_stories_round_trip_and_rederive(task):
    text = generate_babi(task, 40, seed=3, **UNSEEN)
    samples = parse_babi(text, task)
    assert len(samples) == 200
    for sample in samples:
        assert derive_answer(sample.lines, sample.question) == (sample.answer, sample.support)
        assert sample.answer in UNSEEN_PLACES
    # exact bAbI layout: "<id> <question> \t<answer>\t<ids>", ids restarting at 1 per story
    question_line = next(line for line in text.splitlines() if "\t" in line)
    assert re.match(r"^\d+ Where is [\w ]+\? \t\w+\t\d+( \d+)?$", question_line)
    assert text.count("\n1 ") == 39


def test_generated_qa2_uses_objects_and_two_supporting_facts():
    samples = parse_babi(generate_babi("qa2", 20, seed=1), "qa2")
    assert all(len(s.support) == 2 for s in samples)
    assert {s.question.split()[-1].rstrip("?") for s in samples} <= set(BABI_OBJECTS)
    verbs = " ".join(line for s in samples for line in s.lines)
    for verb in ("picked up", "dropped", "journeyed", "went back"):
        assert verb in verbs


def test_generation_is_seeded():
    assert generate_babi("qa2", 5, seed=7) == generate_babi("qa2", 5, seed=7)
    assert generate_babi("qa2", 5, seed=7) != generate_babi("qa2", 5, seed=8)


def test_unseen_vocabulary_never_occurs_in_babi(data_dir):
    words = set()
    for path in (data_dir / "babi").glob("*/*.txt"):
        words |= set(re.findall(r"[A-Za-z]+", path.read_text()))
    assert set(BABI_NAMES) | set(BABI_PLACES) | set(BABI_OBJECTS) <= words
    assert not (set(UNSEEN_NAMES) | set(UNSEEN_PLACES) | set(UNSEEN_OBJECTS)) & words


def test_varied_stories_draw_their_own_vocabulary_never_the_unseen_test_words(data_dir):
    babi_words = set()
    for path in (data_dir / "babi").glob(f"*/{SIMULATED}"):
        babi_words |= set(re.findall(r"[A-Za-z]+", path.read_text()))
    varied = set(VARIED_NAMES) | set(VARIED_PLACES) | set(VARIED_OBJECTS)
    assert not varied & (babi_words | set(UNSEEN_NAMES) | set(UNSEEN_PLACES) | set(UNSEEN_OBJECTS))
    text = generate_varied_babi("qa2", 30, seed=4)
    assert text == generate_varied_babi("qa2", 30, seed=4)
    samples = parse_babi(text, "qa2")
    assert len(samples) == 150
    names_per_story: dict[int, set[str]] = {}
    for s in samples:
        assert derive_answer(s.lines, s.question) == (s.answer, s.support)
        assert s.answer in VARIED_PLACES and set(re.findall(r"[A-Za-z]+", " ".join(s.lines))) <= varied | babi_words
        names_per_story.setdefault(s.story, set()).update(w for line in s.lines for w in line.split()[:1])
    assert all(len(names) <= 4 for names in names_per_story.values())  # four people per story, as in bAbI
    assert len(set().union(*names_per_story.values())) > 40  # ... drawn anew for every story


def test_bad_vocabularies_are_input_errors():
    with pytest.raises(InputError, match="at least two places"):
        generate_babi("qa1", 1, places=["attic"])
    with pytest.raises(InputError, match="single words"):
        generate_babi("qa1", 1, names=["Mary Ann"])
    with pytest.raises(InputError, match="must all differ"):
        generate_babi("qa2", 1, objects=["kitchen"])
    with pytest.raises(InputError, match="qa1 and qa2"):
        generate_babi("qa3", 1)


def test_multiword_places_and_objects_work():
    text = generate_babi("qa2", 5, places=["living room", "tool shed"], objects=["red ball"], seed=2)
    samples = parse_babi(text, "qa2")
    assert {s.answer for s in samples} <= {"living room", "tool shed"}
    assert all(derive_answer(s.lines, s.question) == (s.answer, s.support) for s in samples)


def test_world_reads_the_paraphrased_phrasing_too():
    lines = ["Mary walked into the living room.", "Later, Mary fetched the red ball.", "Next, John headed to the office.",
             "Subsequently, Mary hurried to the garden.", "Mary set down the red ball."]
    assert [read_event(line)[0] for line in lines] == ["move", "get", "move", "move", "drop"]
    assert read_event(lines[1]) == ("get", "Mary", "red ball")
    assert derive_answer(lines[:2], "Where is the red ball?") == ("living room", [1, 0])  # went, took, stayed
    assert derive_answer(lines, "Where is the red ball?") == ("garden", [4, 3])
    assert derive_answer(lines, "Where is John?") == ("office", [2])
    for sentence in ("Mary sauntered into the garden.", "Meanwhile, Mary went to the garden.", "Later Mary went to the garden."):
        with pytest.raises(ValueError, match="not a qa1/qa2 story sentence"):
            read_event(sentence)
