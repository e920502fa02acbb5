"""Multi-level rewards (ReMemR1's RLMLR) and their group-normalised advantages. Pure functions.

Outcome: 1 if the boxed answer equals a gold answer (`metrics.exact_match`), else 0.
Step t (a reading step):  memory gain   = R(M_t) - R(M_{t-1})  (R: share of a gold answer's words
                                            present in the text, best gold; M_{-1} is empty)
                        + callback gain = R(M_t + recalled) - R(M_t)  if step t issued a recall and it
                                            retrieved a memory (shown at step t+1), else 0
                        + format        = 1 if the reply was well formed, else 0
The final call's step reward is its format term (a boxed answer or not).
Weights multiply the three terms (all 1 by default).

Advantages: the outcome reward is normalised over the G rollouts of one question, the step reward
over the rollouts at the same step (all rollouts of a question read the same chunks); each is
(x - mean) / (std + eps) with the population std, and exactly 0 when the group's values are equal.
A turn's advantage mixes them: w * outcome + (1 - w) * step, w = 0.8 by default.
"""

from __future__ import annotations

import math
import re

from ..metrics import exact_match

_WORD = re.compile(r"\w+")


def outcome_reward(answer: str | None, golds: list[str]) -> float:
    """1.0 if the boxed answer matches a gold answer (the benchmark's exact match), else 0.0."""
    if answer is None:
        return 0.0
    return float(any(exact_match(answer, g) for g in golds))


def answer_recall(text: str, golds: list[str]) -> float:
    """Best share of a gold answer's words found in `text` (word match, case-insensitive)."""
    present = set(_WORD.findall(text.lower()))
    best = 0.0
    for gold in golds:
        words = set(_WORD.findall(gold.lower()))
        if words:
            best = max(best, len(words & present) / len(words))
    return best


def step_rewards(memories: list[str], recalled_after: list[str | None], format_ok: list[bool], golds: list[str],
                 w_memory: float = 1.0, w_callback: float = 1.0, w_format: float = 1.0) -> list[float]:
    """Reward of each reading step t. `recalled_after[t]`: the memory step t's recall retrieved
    (None if it issued none or it matched nothing); `format_ok[t]`: its reply was well formed."""
    rewards = []
    previous = 0.0
    for memory, recalled, ok in zip(memories, recalled_after, format_ok, strict=True):
        now = answer_recall(memory, golds)
        callback = answer_recall(memory + " " + recalled, golds) - now if recalled is not None else 0.0
        rewards.append(w_memory * (now - previous) + w_callback * callback + w_format * float(ok))
        previous = now
    return rewards


def group_normalize(values: list[float], eps: float = 1e-6) -> list[float]:
    if not values:
        return []
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    if std == 0.0:
        return [0.0] * len(values)
    return [(v - mean) / (std + eps) for v in values]


def outcome_advantages(rewards: list[float], eps: float = 1e-6) -> list[float]:
    """One per rollout of a question."""
    return group_normalize(rewards, eps)


def step_advantages(rewards: list[list[float]], eps: float = 1e-6) -> list[list[float]]:
    """`rewards[i][t]`: rollout i, step t. Normalised across the rollouts that reached step t."""
    out = [[0.0] * len(r) for r in rewards]
    for t in range(max(map(len, rewards), default=0)):
        have = [i for i, r in enumerate(rewards) if t < len(r)]
        for i, a in zip(have, group_normalize([rewards[i][t] for i in have], eps)):
            out[i][t] = a
    return out


def mix(outcome: float, step: float, weight: float = 0.8) -> float:
    return weight * outcome + (1.0 - weight) * step
