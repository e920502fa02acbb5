"""bAbI v1.2 in its original text format.

A story is numbered lines, ids restarting at 1 for each new story:
    <id> <sentence>
    <id> <question>\t<answer>\t<supporting fact ids>
Each question becomes one `BabiSample`: the story's sentences before it (earlier questions left out, as
BABILong does), and its supporting facts as indices into those sentences, in the file's order (for qa2
that is the hop order: the object's fact, then where its holder was).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError


@dataclass
class BabiSample:
    task: str
    lines: list[str]  # story sentences before the question, in story order
    question: str
    answer: str
    support: list[int]  # indices into `lines`, in the file's order (= hop order)
    story: int = 0  # index of the story in its file
    meta: dict = field(default_factory=dict)


def parse_babi(text: str, task: str = "", source: str | Path = "<text>") -> list[BabiSample]:
    """Parse bAbI text into one sample per question. Raises `InputError` naming the line on bad input."""
    samples: list[BabiSample] = []
    lines: list[str] = []  # sentences of the current story
    id_to_index: dict[int, int] = {}
    last_id = 0
    story = -1
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        head, _, rest = raw.strip().partition(" ")
        if not head.isdigit() or not rest.strip():
            raise InputError("expected '<id> <sentence>' (a line number, a space, then text)", source, lineno)
        line_id = int(head)
        if line_id == 1:
            lines, id_to_index, story = [], {}, story + 1
        elif line_id != last_id + 1:
            raise InputError(f"line id {line_id} does not follow {last_id} (ids count up from 1 within a story)", source, lineno)
        last_id = line_id
        if "\t" not in rest:
            id_to_index[line_id] = len(lines)
            lines.append(rest.strip())
            continue
        parts = rest.split("\t")
        if len(parts) != 3 or not parts[1].strip():
            raise InputError("a question line needs '<question>\\t<answer>\\t<supporting ids>'", source, lineno)
        question, answer, ids = parts[0].strip(), parts[1].strip(), parts[2].split()
        if not lines:
            raise InputError("question before any fact of its story", source, lineno)
        support = []
        for sid in ids:
            if not sid.isdigit() or int(sid) not in id_to_index:
                raise InputError(f"supporting fact id {sid!r} is not a fact earlier in this story", source, lineno)
            support.append(id_to_index[int(sid)])
        samples.append(BabiSample(task, list(lines), question, answer, support, story))
    if not samples:
        raise InputError("no questions found (is this a bAbI task file?)", source)
    return samples


def guess_task(path: str | Path) -> str:
    name = Path(path).name
    for task, stem in (("qa1", "qa1_"), ("qa2", "qa2_")):
        if name.startswith(stem):
            return task
    return ""


def load_babi(path: str | Path, task: str | None = None) -> list[BabiSample]:
    """Load any bAbI-format file; `task` defaults to what the file name says (qa1_..., qa2_...)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("bAbI file not found", path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text ({err.reason} at byte {err.start})", path) from None
    return parse_babi(text, task if task is not None else guess_task(path), source=path)
