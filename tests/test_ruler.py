import re

import numpy as np
import pytest

from memreasoner.data.ruler import FILLER, build_vt, make_chains
from memreasoner.data.tokens import count_tokens
from memreasoner.errors import InputError

STATEMENT = re.compile(r"^VAR ([A-Z]{5}) = (?:VAR ([A-Z]{5})|(\d{5}))\.$")


def _resolve(lines: list[str]) -> dict[str, str]:
    """Run the assignments in document order: variable -> value."""
    values: dict[str, str] = {}
    for line in lines:
        if match := STATEMENT.match(line):
            name, source, literal = match.groups()
            values[name] = literal if literal else values[source]
    return values


@pytest.mark.parametrize("length", ["0k", "1k", "4k"])
def test_chains_answer_and_facts_are_right(length):
    for sample in build_vt([length], 5, seed=3, n_chains=3, hops=4):
        lines = sample.lines()
        value = re.search(r"value (\d{5})", sample.question)[1]
        holders = [name for name, v in _resolve(lines).items() if v == value]
        assert sample.target.split() == holders  # every variable holding the value, in chain order
        assert len(holders) == 5 and sample.task == "vt"
        chain = [lines[i] for i in sample.facts]
        assert chain[0] == f"VAR {holders[0]} = {value}."
        assert chain[1:] == [f"VAR {b} = VAR {a}." for a, b in zip(holders, holders[1:])]
        assert sample.facts == sorted(sample.facts)
        assert len(sample.story) == 15 and all(STATEMENT.match(lines[i]) for i in sample.story)
        fillers = [line for i, line in enumerate(lines) if i not in set(sample.story)]
        if length == "0k":
            assert fillers == []
        else:
            assert count_tokens(sample.input) == int(length[:-1]) * 1000 - 300
            assert all(line in FILLER for line in fillers[:-1])
            assert any(f.startswith(fillers[-1]) for f in FILLER)


def test_vt_is_seeded_and_question_is_rulers():
    a, b, c = build_vt(["1k"], 2, seed=1), build_vt(["1k"], 2, seed=1), build_vt(["1k"], 2, seed=2)
    assert [s.input for s in a] == [s.input for s in b] != [s.input for s in c]
    assert re.fullmatch(r"Find all variables that are assigned the value \d{5} in the text above\.", a[0].question)


def test_names_and_values_are_distinct():
    chains = make_chains(20, 9, np.random.default_rng(0))
    names = [n for c in chains for n in c.names]
    assert len(set(names)) == len(names) == 200
    assert len({c.value for c in chains}) == 20


def test_bad_chain_settings():
    with pytest.raises(InputError, match="at least one chain"):
        build_vt(["1k"], 1, n_chains=0)
    with pytest.raises(InputError, match="at least 1"):
        build_vt(["1k"], 0)
