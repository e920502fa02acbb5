"""The one record every model answers and every benchmark file holds (one JSON object per line).

Fields follow the BABILong releases (`input`, `question`, `target`) plus what our builder knows:
`task`, `length` ("4k"), the character offset where each line of `input` starts (`sentence_starts`),
and which of those lines are the supporting facts (`facts`, in hop order) and the story (`story`).
Files from real BABILong releases carry only the first three; their lines come from Punkt.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import InputError
from ..files import write_atomic


def normalize_question(text: str) -> str:
    """A question as models read it: no leading or trailing space, single spaces inside. The real
    releases write "Where is the football? " (the bAbI file's trailing space); a model must not
    answer differently for it."""
    return " ".join(text.split())


@dataclass
class Sample:
    input: str
    question: str
    target: str
    task: str = ""
    length: str = ""
    sentence_starts: list[int] | None = None  # char offset of each line in `input`
    facts: list[int] = field(default_factory=list)  # line indices of the supporting facts, hop order
    story: list[int] = field(default_factory=list)  # line indices of every story sentence
    id: str = ""

    def __post_init__(self) -> None:
        self.question = normalize_question(self.question)

    def lines(self) -> list[str]:
        """The context as lines c_1..c_E, in document order."""
        if self.sentence_starts is None:
            from .sentences import split_sentences

            return split_sentences(self.input)
        bounds = list(self.sentence_starts) + [len(self.input)]
        return [self.input[a:b].strip() for a, b in zip(bounds, bounds[1:])]

    def story_lines(self) -> list[tuple[int, str]]:
        """(line index, text) of every story sentence, read at its offsets without splitting the rest."""
        if not self.story:  # a real BABILong record has no labels: nothing to split the input for
            return []
        if self.sentence_starts is None:
            lines = self.lines()
            return [(i, lines[i]) for i in self.story]
        bounds = list(self.sentence_starts) + [len(self.input)]
        return [(i, self.input[bounds[i]:bounds[i + 1]].strip()) for i in self.story]


REQUIRED = ("input", "question", "target")


def sample_from_dict(obj: dict, source: str | Path = "<record>", line: int | None = None) -> Sample:
    if not isinstance(obj, dict):
        raise InputError("expected a JSON object", source, line)
    missing = [k for k in REQUIRED if k not in obj]
    if missing:
        raise InputError(f"record lacks field(s) {', '.join(missing)}", source, line)
    known = {k: obj[k] for k in Sample.__dataclass_fields__ if k in obj}
    for key in REQUIRED:
        known[key] = str(known[key])
    return Sample(**known)


def write_samples(samples, path: str | Path) -> None:
    """Write samples as JSONL atomically (a partial file never replaces a good one)."""
    write_records((asdict(s) for s in samples), path)


def write_records(records, path: str | Path) -> None:
    """Write plain dicts as JSONL atomically, exactly as given (no `Sample` normalising them)."""
    write_atomic(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))


def read_samples(path: str | Path) -> list[Sample]:
    """Read our JSONL files (see `babilong.load_babilong` for every format real releases use)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("data file not found", path)
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as err:
                raise InputError(f"not valid JSON ({err.msg}, column {err.colno})", path, lineno) from None
            out.append(sample_from_dict(obj, path, lineno))
    if not out:
        raise InputError("no records in file", path)
    return out
