import json

import pytest

from memreasoner.cli import main
from memreasoner.data.babi import UNSEEN_NAMES, UNSEEN_OBJECTS, UNSEEN_PLACES, derive_answer
from memreasoner.data.generalization import ONE_PIECE_NAMES
from memreasoner.data.sample import read_samples
from memreasoner.data.tokens import count_tokens


@pytest.fixture(scope="module")
def books(data_dir):
    return str(data_dir / "books" / "gutenberg")


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "expected an error on stderr"
    assert err[-1].startswith("memreasoner: error: ")
    return err[-1]


def test_build_end_to_end(tmp_path, books, capsys):
    out = tmp_path / "qa1.jsonl"
    code = main(["build", "--task", "qa1", "--lengths", "0k,1k,4k", "--samples", "3", "--books", books, "--seed", "3", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "3,700" in printed and f"wrote 9 samples to {out}" in printed
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 9
    assert {"input", "question", "target", "task", "length", "facts", "sentence_starts"} <= set(records[0])
    samples = read_samples(out)
    assert [s.length for s in samples] == ["0k"] * 3 + ["1k"] * 3 + ["4k"] * 3
    assert all(count_tokens(s.input) == 3700 for s in samples if s.length == "4k")
    assert [s.id for s in samples[:3]] == ["qa1-0k-1", "qa1-0k-4", "qa1-0k-10"]  # BABILong's official subset
    again = tmp_path / "again.jsonl"
    main(["build", "--task", "qa1", "--lengths", "0k,1k,4k", "--samples", "3", "--books", books, "--seed", "3", "--out", str(again)])
    assert again.read_bytes() == out.read_bytes()


def test_build_vt_and_babi_file(tmp_path, data_dir, capsys):
    out = tmp_path / "vt.jsonl"
    assert main(["build", "--task", "vt", "--lengths", "1k", "--samples", "2", "--hops", "2", "--out", str(out)]) == 0
    assert all(len(s.target.split()) == 3 for s in read_samples(out))
    babi = data_dir / "babi/en/qa2_two-supporting-facts_train.txt"
    assert main(["build", "--task", "qa2", "--lengths", "0k", "--samples", "2", "--babi", str(babi), "--out", str(out)]) == 0
    assert [s.id for s in read_samples(out)] == ["qa2-0k-0", "qa2-0k-1"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "qa21"], "unknown task 'qa21'"),
        (["--task", "qa6", "--unseen"], "can only generate qa1, qa2, qa3, qa4, qa5 stories, not 'qa6'"),
        (["--task", "qa1", "--lengths", "4x"], "bad length '4x'"),
        (["--task", "qa1", "--lengths", "1k", "--seed", "-1"], "--seed must be"),
        (["--task", "qa1", "--lengths", "1k", "--samples", "0"], "--samples must be at least 1"),
        (["--task", "qa1", "--babi", "/no/such/qa1_file.txt"], "/no/such/qa1_file.txt: bAbI file not found"),
        (["--task", "qa1", "--babi", "BABI_QA2"], "the file name says qa2"),
        (["--task", "qa1", "--variant", "nope"], "unknown qa1 variant 'nope'; known: babi-words, other-stats"),
        (["--task", "qa1", "--variant", "holder-stays"], "(it is a qa2 variant)"),
        (["--task", "qa1", "--variant", "crowded", "--unseen"], "give one of a bAbI file, unseen (generated) stories or a variant"),
        (["--task", "qa1", "--knob", "people=2"], "knobs change a variant's stories: name the variant too"),
        (["--task", "qa1", "--variant", "crowded", "--knob", "people=many"], "bad value for people: 'many'"),
        (["--task", "qa1", "--variant", "crowded", "--knob", "people=13"], "people must be 1 to 12"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, data_dir, capsys, args, message):
    args = [str(data_dir / "babi/en/qa2_two-supporting-facts_test.txt") if a == "BABI_QA2" else a for a in args]
    assert main(["build", *args, "--out", str(tmp_path / "x.jsonl")]) == 2
    assert message in _error_line(capsys)
    assert not (tmp_path / "x.jsonl").exists()


def test_books_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["build", "--task", "qa1", "--lengths", "1k", "--samples", "1", "--books", str(empty), "--out", str(tmp_path / "x.jsonl")]) == 2
    assert _error_line(capsys) == f"memreasoner: error: {empty}: no .txt books in this folder"
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / "a.txt").write_text("The old captain walked slowly along the quay, looking at every ship. " * 30)
    assert main(["build", "--task", "qa1", "--lengths", "8k", "--samples", "1", "--books", str(tiny), "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "books too short" in _error_line(capsys)


def test_malformed_babi_and_story_too_long(tmp_path, books, capsys):
    bad = tmp_path / "qa1_bad.txt"
    bad.write_text("1 Mary moved to the bathroom.\n2 Where is Mary?\tbathroom\n")
    assert main(["build", "--task", "qa1", "--lengths", "0k", "--babi", str(bad), "--out", str(tmp_path / "x.jsonl")]) == 2
    assert f"{bad}:2: a question line needs" in _error_line(capsys)
    long = tmp_path / "qa1_long.txt"
    moves = [f"{i} Mary {'moved' if i % 2 else 'went'} to the {'kitchen' if i % 2 else 'garden'}." for i in range(1, 151)]
    long.write_text("\n".join(moves) + "\n151 Where is Mary? \tgarden\t150\n")
    code = main(["build", "--task", "qa1", "--lengths", "1k", "--samples", "1", "--babi", str(long), "--books", books, "--out", str(tmp_path / "x.jsonl")])
    assert code == 2
    assert f"{long}:151: the story alone has" in _error_line(capsys)


def test_official_style_writes_release_records(tmp_path, books, capsys):
    out = tmp_path / "official.jsonl"
    args = ["build", "--task", "qa1", "--lengths", "0k,1k", "--samples", "2", "--books", books, "--style", "official"]
    assert main([*args, "--seed", "3", "--out", str(out)]) == 0
    assert f"wrote 4 samples (official style) to {out}" in capsys.readouterr().out
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(set(r) == {"input", "question", "target", "task", "length", "id"} for r in records)
    assert [r["question"] for r in records] == ["Where is Mary? ", "Where is Sandra? "] * 2  # as bAbI writes it
    assert records[2]["id"] == "qa1-1k-1" and records[2]["input"] != records[0]["input"]
    again, other = tmp_path / "again.jsonl", tmp_path / "other.jsonl"
    main([*args, "--seed", "3", "--out", str(again)])
    main([*args, "--seed", "4", "--out", str(other)])
    assert again.read_bytes() == out.read_bytes() and other.read_bytes() != out.read_bytes()


def test_official_style_refusals_and_its_story_limit(tmp_path, books, capsys):
    out = str(tmp_path / "x.jsonl")
    assert main(["build", "--task", "vt", "--lengths", "1k", "--style", "official", "--out", out]) == 2
    assert "--style official builds bAbI tasks" in _error_line(capsys)
    assert main(["build", "--task", "qa1", "--lengths", "1k", "--style", "official", "--repeat-books", "--out", out]) == 2
    assert "--repeat-books is for --style ours" in _error_line(capsys)
    long = tmp_path / "qa1_long.txt"
    moves = [f"{i} Mary {'moved' if i % 2 else 'went'} to the {'kitchen' if i % 2 else 'garden'}." for i in range(1, 151)]
    long.write_text("\n".join(moves) + "\n151 Where is Mary? \tgarden\t150\n")
    code = main(["build", "--task", "qa1", "--lengths", "1k", "--samples", "1", "--babi", str(long), "--books", books,
                 "--style", "official", "--out", out])
    assert code == 2
    assert f"{long}: asked for question 0 but the file has 0 questions at 1k, where 1 question(s) with more than 87" in _error_line(capsys)


def test_build_variant_hides_its_generated_stories_in_books(tmp_path, books, capsys):
    out = tmp_path / "stays.jsonl"
    args = ["build", "--task", "qa2", "--variant", "holder-stays", "--lengths", "0k,1k", "--samples", "6", "--books", books]
    assert main([*args, "--seed", "5", "--out", str(out)]) == 0
    assert f"wrote 12 samples to {out}" in capsys.readouterr().out
    samples = read_samples(out)
    assert [s.length for s in samples] == ["0k"] * 6 + ["1k"] * 6
    assert all(count_tokens(s.input) == 700 for s in samples[6:])
    for bare, hidden in zip(samples[:6], samples[6:]):
        assert derive_answer(bare.lines(), bare.question) == (bare.target, bare.facts)
        assert bare.facts[1] < bare.facts[0]  # the holder went there before taking it, and stayed
        assert [hidden.lines()[i] for i in hidden.story] == bare.lines() and hidden.target == bare.target
        assert [hidden.story.index(f) for f in hidden.facts] == bare.facts
    again, other = tmp_path / "again.jsonl", tmp_path / "other.jsonl"
    main([*args, "--seed", "5", "--out", str(again)])
    main([*args, "--seed", "6", "--out", str(other)])
    assert again.read_bytes() == out.read_bytes() and other.read_bytes() != out.read_bytes()


def test_build_variant_takes_knobs_and_the_official_style(tmp_path, capsys):
    out = tmp_path / "two.jsonl"
    args = ["build", "--task", "qa1", "--variant", "crowded", "--lengths", "0k", "--samples", "10"]
    assert main([*args, "--knob", "people=2", "--knob", "events=3", "--out", str(out)]) == 0
    for sample in read_samples(out):
        lines = sample.lines()
        assert len({line.split()[0] for line in lines}) <= 2 and {line.split()[0] for line in lines} <= set(ONE_PIECE_NAMES)
        assert len(lines) % 3 == 0
    official = tmp_path / "official.jsonl"
    assert main([*args, "--style", "official", "--out", str(official)]) == 0
    records = [json.loads(line) for line in official.read_text().splitlines()]
    assert len(records) == 10 and all(r["question"].split()[-1].rstrip("? ") in ONE_PIECE_NAMES for r in records)


def test_a_task_without_an_official_list_takes_the_first_questions_and_says_so(tmp_path, data_dir, capsys):
    out = tmp_path / "qa8.jsonl"
    assert main(["build", "--task", "qa8", "--lengths", "0k", "--samples", "6", "--out", str(out)]) == 0
    assert capsys.readouterr().err.strip() == "note: qa8 has no official list; took the first 6 test questions"
    samples = read_samples(out)
    assert [s.id for s in samples] == [f"qa8-0k-{i}" for i in range(6)]
    assert "football,apple" in [s.target for s in samples]  # answers of several words are targets as written
    first = json.loads(out.read_text().splitlines()[0])
    assert first["question"] == "What is Mary carrying?" and first["facts"] == [0]
    official = tmp_path / "qa19.jsonl"
    assert main(["build", "--task", "qa19", "--lengths", "0k", "--samples", "2", "--style", "official", "--out", str(official)]) == 0
    assert capsys.readouterr().err.strip() == "note: qa19 has no official list; took the first 2 test questions"
    records = [json.loads(line) for line in official.read_text().splitlines()]
    assert [(r["question"], r["target"]) for r in records] == [("How do you go from the bathroom to the hallway?", "s,s"),
                                                                 ("How do you go from the bedroom to the hallway?", "e,e")]
    assert main(["build", "--task", "qa3", "--lengths", "0k", "--samples", "2", "--out", str(out)]) == 0
    assert capsys.readouterr().err == "" and [s.id for s in read_samples(out)] == ["qa3-0k-15", "qa3-0k-37"]  # BABILong's list


@pytest.mark.parametrize("task", ["qa3", "qa4", "qa5"])
def test_unseen_qa3_qa4_qa5_stories_are_built_and_rederive(tmp_path, books, task, capsys):
    out = tmp_path / f"{task}.jsonl"
    args = ["build", "--task", task, "--unseen", "--lengths", "0k,1k", "--samples", "7", "--books", books, "--seed", "4"]
    assert main([*args, "--out", str(out)]) == 0
    assert f"wrote 14 samples to {out}" in capsys.readouterr().out
    samples = read_samples(out)
    answers = UNSEEN_NAMES + UNSEEN_OBJECTS if task == "qa5" else UNSEEN_PLACES
    for bare, hidden in zip(samples[:7], samples[7:]):
        assert derive_answer(bare.lines(), bare.question) == (bare.target, bare.facts) and bare.target in answers
        assert count_tokens(hidden.input) == 700 and [hidden.lines()[i] for i in hidden.story] == bare.lines()
        assert [hidden.story.index(f) for f in hidden.facts] == bare.facts
    again = tmp_path / "again.jsonl"
    main([*args, "--out", str(again)])
    assert again.read_bytes() == out.read_bytes()


def test_a_babi_file_whose_answer_does_not_follow_is_one_line(tmp_path, capsys):
    bad = tmp_path / "qa5_bad.txt"
    bad.write_text("1 Fred picked up the football there.\n2 Fred gave the football to Jeff.\n3 Who received the football? \tFred\t2\n")
    assert main(["build", "--task", "qa5", "--lengths", "0k", "--babi", str(bad), "--out", str(tmp_path / "x.jsonl")]) == 2
    assert _error_line(capsys) == (f"memreasoner: error: {bad}:3: the story gives 'Jeff' from 'Fred gave the football to Jeff.', "
                                   "not the file's 'Fred' from 'Fred gave the football to Jeff.'")
