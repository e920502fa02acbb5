"""Scoring a generated answer: exact match, and BABILong's rule for generative models.

BABILong (`babilong/metrics.py`, `compare_answers`) reads only the first sentence of the output,
lower-cased, and counts it right when the target is the one label of the task it names -- labels
that the question itself mentions do not count against it. Variable Tracking is scored as RULER
does: every variable of the chain must be named. Models that hop are also scored on where they landed
(`facts_hit`), by the evaluation harness and by MemReasoner's trainer alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .data.babi import BABI_PLACES

# BABILong's labels (babilong/metrics.py): bAbI's places for qa1-qa4, qa5's people and objects.
TASK_LABELS: dict[str, frozenset[str]] = {
    **{task: frozenset(BABI_PLACES) for task in ("qa1", "qa2", "qa3", "qa4")},
    "qa5": frozenset({"Bill", "Fred", "Jeff", "Mary", "apple", "football", "milk"}),
}
_TRAILING = " \t\n.!?,;:'\""


def normalize(text: str) -> str:
    return text.strip().lower().rstrip(_TRAILING).strip()


def exact_match(prediction: str, target: str) -> bool:
    """Equal after trimming space and trailing punctuation, ignoring case."""
    return normalize(prediction) == normalize(target)


def facts_hit(hops: Sequence[int], facts: Sequence[int]) -> bool | None:
    """Whether the hops landed on every supporting fact, in any order. None when there is nothing to
    score: the sample labels no facts, or the model reports no hops."""
    if not facts or not hops:
        return None
    return all(f in hops for f in facts)


def first_sentence(output: str) -> str:
    """What BABILong scores: up to the first period, and nothing after an echoed prompt tag."""
    output = output.lower().split(".")[0]
    return output.split("<context>")[0].split("<example>")[0]


def babilong_correct(prediction: str, target: str, question: str, task: str, labels: Iterable[str] | None = None) -> bool:
    """BABILong's rule. `labels` defaults to the task's (TASK_LABELS); for unseen-answer
    sets pass their places. A target outside the label set joins it. Tasks without labels: exact match."""
    if task == "vt":
        return all(name.lower() in prediction.lower() for name in target.split())
    labels = labels if labels is not None else TASK_LABELS.get(task)
    if labels is None:
        return exact_match(prediction, target)
    target = target.lower()
    label_set = {label.lower() for label in labels} | {target}
    named = {label for label in label_set if label in first_sentence(prediction)}
    named -= {label for label in label_set if label in question.lower()}
    return named == {target}
