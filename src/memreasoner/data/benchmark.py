"""Benchmark files as `memreasoner build` writes them: which questions, which books, which style.

Both styles take their facts from the same place (`_question_source`) and seed each sample by
(seed, context size, question number), so the two files of one seed hold the same questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import InputError
from ..paths import TASK_FILES, books_dir
from .books import book_texts
from .haystack import _question_source, context_tokens, pick_questions
from .official import keep_questions, make_haystack, max_n_facts, official_record, questions_as_written
from .tokens import gpt2_encoding


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
) -> tuple[list[dict], list[str]]:
    """(records, notes): `samples` release-style records per length, as `official.py` makes them.

    Questions are chosen as for our own style; where BABILong's max_n_facts leaves questions out at
    a length, the official indices count the questions kept (as in the generator), and a note says
    which questions that changed.
    """
    if task not in TASK_FILES:
        raise InputError(f"--style official builds bAbI tasks ({', '.join(TASK_FILES)}), not {task!r}")
    sizes = {length: context_tokens(length) for length in lengths}
    questions, source, indices, text = _question_source(task, samples, babi, seed, first, unseen, split)
    written = questions_as_written(text)
    folder = (books if books is not None else books_dir()) if any(sizes.values()) else None
    texts = book_texts(folder) if folder is not None else []
    unfiltered = [number for number, _ in pick_questions(questions, samples, indices, source)]
    encoding = gpt2_encoding()
    records, notes = [], []
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
