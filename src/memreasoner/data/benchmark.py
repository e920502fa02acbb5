"""Benchmark files as `memreasoner build` writes them: which questions, which books, which style.

It stands on the builders (`haystack.py` for our style, `official.py` for BABILong's generator,
`ruler.py` for vt), so imports run one way. Both bAbI styles take their facts from the same place
(`_question_source`) and seed each sample by (seed, context size, question number), so the two
files of one seed hold the same questions wherever BABILong's story limit leaves them the same.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from ..errors import InputError
from ..paths import TASK_FILES, babi_file, babilong_index_file, books_dir
from .babi import (
    UNSEEN_NAMES,
    UNSEEN_OBJECTS,
    UNSEEN_PLACES,
    BabiSample,
    generate_babi,
    guess_task,
    load_babi,
    parse_babi,
    story_questions,
)
from .books import book_texts, load_books
from .generalization import QUESTIONS_PER_STORY, generate_variant
from .haystack import build_haystacks, context_tokens
from .official import keep_questions, make_haystack, max_n_facts, official_record, questions_as_written
from .ruler import build_vt
from .sample import Sample
from .tokens import gpt2_encoding


def official_indices(task: str, index_file: str | Path) -> list[int] | None:
    """The BABILong 100-sample test subset for `task` (question numbers in the test file), if listed."""
    try:
        table = json.loads(Path(index_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the BABILong index list ({err})", index_file) from None
    indices = table.get(task) if isinstance(table, dict) else None
    if indices is not None and not all(isinstance(i, int) and i >= 0 for i in indices):
        raise InputError(f"the {task} index list must be non-negative integers", index_file)
    return indices


def pick_questions(
    questions: list[BabiSample], n: int, indices: list[int] | None = None, source: str | Path = "<bAbI>"
) -> list[tuple[int, BabiSample]]:
    """(question number, question) pairs: the listed `indices` if given and enough, else the first n."""
    if n < 1:
        raise InputError(f"--samples must be at least 1, got {n}")
    chosen = indices[:n] if indices is not None and n <= len(indices) else list(range(n))
    if max(chosen) >= len(questions):
        raise InputError(f"asked for question {max(chosen)} but the file has {len(questions)} questions", source)
    return [(i, questions[i]) for i in chosen]


TASKS = (*TASK_FILES, "vt")


def build_benchmark(
    task: str,
    lengths: Sequence[str],
    samples: int,
    books: str | Path | None = None,
    babi: str | Path | None = None,
    seed: int = 42,
    first: bool = False,
    unseen: bool = False,
    split: str = "test",
    allow_repeats: bool = False,
    n_chains: int = 1,
    hops: int = 4,
    progress: bool = True,
    variant: str | None = None,
    knobs: Sequence[str] = (),
    notes: list[str] | None = None,
) -> list[Sample]:
    """What `memreasoner build` builds: `samples` samples per length of a bAbI task (qa1-qa20) or vt.

    Facts come from `babi` (any bAbI-format file, its first questions), else from freshly generated
    stories (qa1-qa5) with unseen names, places and objects (`unseen`), else from freshly generated
    stories of a generalization `variant` (data/generalization.py; `knobs`: KEY=VALUE changes to its
    knobs), else from the data dir's bAbI `split`: for the test split, BABILong's official 100-question
    subset when `samples` <= 100 (unless `first`) and the task has one (qa1-qa5), otherwise its first
    questions. Files of qa1-qa5 must re-derive (`babi.check_derivation`). A question whose story alone
    is longer than a length's context (a few of qa3's at 1k) is left out at that length. `notes`, if
    given, collects a line wherever the questions taken are not the ones asked for. Distractors come
    from `books` (default: the data dir's).
    vt ignores the bAbI and book options and takes `n_chains` and `hops`.
    """
    if task not in TASKS:
        raise InputError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    contexts = [context_tokens(length) for length in lengths]
    if task == "vt":
        return build_vt(lengths, samples, seed, n_chains, hops, progress)
    chosen = _question_source(task, samples, babi, seed, first, unseen, split, variant, knobs)
    if chosen.note and notes is not None:
        notes.append(chosen.note)
    picked = pick_questions(chosen.questions, samples, chosen.indices, chosen.source)
    pool = load_books(books if books is not None else books_dir()) if any(contexts) else None
    story_tokens = {number: len(gpt2_encoding().encode_ordinary(" ".join(q.lines))) for number, q in picked}
    built = []
    for length, size in zip(lengths, contexts):
        too_long = [number for number, _ in picked if size and story_tokens[number] > size]
        at_length = [(number, q) for number, q in picked if number not in too_long] or picked  # none fits: the first's error names it
        if len(at_length) < len(picked) and notes is not None:
            notes.append(f"{task} {length}: {len(too_long)} of the {len(picked)} questions taken have stories longer than "
                         f"the {size}-token context and are left out there (e.g. question {too_long[0]})")
        built += build_haystacks(at_length, [length], pool, seed, allow_repeats, chosen.source, progress)
    return built


class _Questions(NamedTuple):
    questions: list[BabiSample]
    source: str | Path  # where they come from
    indices: list[int] | None  # BABILong's official question numbers, if they are to be used
    text: str  # the bAbI text they were read from
    note: str | None = None  # how they were chosen, where that is not what was asked for


def _question_source(
    task: str, samples: int, babi: str | Path | None, seed: int, first: bool, unseen: bool, split: str,
    variant: str | None = None, knobs: Sequence[str] = (),
) -> _Questions:
    """The questions to take facts from, and where they come from (see `build_benchmark`)."""
    if (babi is not None) + unseen + (variant is not None) > 1:
        raise InputError("give one of a bAbI file, unseen (generated) stories or a variant, not several")
    if knobs and variant is None:
        raise InputError("knobs change a variant's stories: name the variant too")
    if babi is not None:
        named = guess_task(babi)
        if named and named != task:
            raise InputError(f"the file name says {named}, but the task asked for is {task}", babi)
        return _Questions(load_babi(babi, task, derive=True), babi, None, Path(babi).read_text(encoding="utf-8"))
    if unseen:
        stories = -(-samples // story_questions(task))
        text = generate_babi(task, stories, names=UNSEEN_NAMES, places=UNSEEN_PLACES, objects=UNSEEN_OBJECTS, seed=seed)
        source = f"<generated {task} stories, unseen vocabulary, seed {seed}>"
        return _Questions(parse_babi(text, task, source), source, None, text)
    if variant is not None:
        text = generate_variant(task, variant, -(-max(samples, 1) // QUESTIONS_PER_STORY), seed, knobs)
        source = f"<generated {task} stories, variant {variant}{''.join(' ' + k for k in knobs)}, seed {seed}>"
        return _Questions(parse_babi(text, task, source), source, None, text)
    path = babi_file(task, split)
    indices = note = None
    if split == "test" and not first and samples <= 100:
        indices = official_indices(task, babilong_index_file())
        if indices is None:
            note = f"{task} has no official list; took the first {samples} test questions"
    return _Questions(load_babi(path, task, derive=True), path, indices, path.read_text(encoding="utf-8"), note)


def build_official_benchmark(
    task: str,
    lengths: Sequence[str],
    samples: int,
    books: str | Path | None = None,
    babi: str | Path | None = None,
    seed: int = 42,
    first: bool = False,
    unseen: bool = False,
    split: str = "test",
    progress: bool = True,
    variant: str | None = None,
    knobs: Sequence[str] = (),
) -> tuple[list[dict], list[str]]:
    """(records, notes): `samples` release-style records per length, as `official.py` makes them.

    Questions are chosen as for our own style (a note says so where a task has no official list);
    where BABILong's max_n_facts leaves questions out at a length, the official indices count the
    questions kept (as in the generator), and a note says which questions that changed.
    """
    if task not in TASK_FILES:
        raise InputError(f"--style official builds bAbI tasks ({', '.join(TASK_FILES)}), not {task!r}")
    sizes = {length: context_tokens(length) for length in lengths}
    questions, source, indices, text, note = _question_source(task, samples, babi, seed, first, unseen, split, variant, knobs)
    written = questions_as_written(text)
    folder = (books if books is not None else books_dir()) if any(sizes.values()) else None
    texts = book_texts(folder) if folder is not None else []
    unfiltered = [number for number, _ in pick_questions(questions, samples, indices, source)]
    encoding = gpt2_encoding()
    records, notes = [], [note] if note else []
    with tqdm(total=len(lengths) * samples, desc="building", unit="sample", delay=1, disable=not progress) as bar:
        for length in lengths:
            kept = keep_questions(questions, sizes[length])
            try:
                picked = [kept[i] for i, _ in pick_questions([questions[n] for n in kept], samples, indices, source)]
            except InputError as err:
                if len(kept) == len(questions):
                    raise
                raise InputError(
                    f"{err.message} at {length}, where {len(questions) - len(kept)} question(s) with more than "
                    f"{max_n_facts(sizes[length])} lines (story and question) are left out, as BABILong's generator does",
                    source,
                ) from None
            if picked != unfiltered:
                notes.append(_note(task, length, len(questions) - len(kept), sizes[length], unfiltered, picked))
            for number in picked:
                question = questions[number]
                rng = np.random.default_rng([seed, sizes[length], number])
                where = (source, question.meta.get("line"))
                haystack = make_haystack(question.lines, texts, sizes[length], rng, encoding, where, folder)
                as_written = written[question.meta["line"]]
                records.append(official_record(question, as_written, haystack.text(encoding), length, number))
                bar.update()
    return records, notes


def _note(task: str, length: str, dropped: int, size: int, before: list[int], after: list[int]) -> str:
    swaps = [(b, a) for a, b in zip(before, after) if a != b]
    return (
        f"{task} {length}: {dropped} question(s) have more than {max_n_facts(size)} lines (story and question) and "
        "are left out, as BABILong's generator does; its indices then count the questions kept, so "
        f"{len(swaps)} of the {len(after)} questions taken differ from 0k's (e.g. question {swaps[0][0]} for {swaps[0][1]})"
    )
