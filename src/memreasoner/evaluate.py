"""Evaluation harness: run any `Reader` over benchmark samples, score, tabulate, save.

The harness knows nothing about the model beyond the `Reader` interface, so MemReasoner, the
baselines and the agent are measured the same way on the same samples.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .data.sample import Sample
from .data.tokens import count_tokens
from .files import write_atomic
from .metrics import babilong_correct, exact_match, facts_hit
from .reader import Reader


def length_order(length: str) -> float:
    """Sort key for length labels: "0k" < "1k" < ... < "1M" < "10M"; unknown labels last."""
    units = {"k": 1e3, "M": 1e6}
    try:
        return float(length[:-1]) * units[length[-1]]
    except (ValueError, KeyError, IndexError):
        return float("inf")


@dataclass
class Results:
    """Per-sample rows plus per-length summaries; `to_json()` is the results file format."""

    model: str
    samples: list[dict]
    read: dict = field(default_factory=dict)  # where the samples came from and how their lines were read
    group: str = ""  # a row field whose values the results compare (e.g. "variant"): summarised per value too
    average: bool = False  # grids end with an "average" row: the mean over the group's values at each length

    def by_length(self) -> dict[str, list[dict]]:
        groups: dict[str, list[dict]] = defaultdict(list)
        for row in self.samples:
            groups[row["length"]].append(row)
        return dict(sorted(groups.items(), key=lambda kv: length_order(kv[0])))

    def summary(self, key: str) -> dict[str, float]:
        """Mean of a per-sample field (bool or number) per length, skipping rows where it is None."""
        out = {}
        for length, rows in self.by_length().items():
            values = [float(r[key]) for r in rows if r.get(key) is not None]
            if values:
                out[length] = sum(values) / len(values)
        return out

    def split(self, key: str) -> dict[str, Results]:
        """One `Results` per value of the row field `key` ("?" where it is empty), in order of first appearance."""
        parts: dict[str, list[dict]] = {}
        for row in self.samples:
            parts.setdefault(str(row.get(key) or "?"), []).append(row)
        return {label: Results(self.model, rows) for label, rows in parts.items()}

    def grid(self, key: str, by: str) -> dict[str, dict[str, float]]:
        """{value of the row field `by`: {length: mean of `key`}}, the rows x lengths of a heatmap; with
        `average`, a last row "average" (see `average_row`)."""
        grid = {label: part.summary(key) for label, part in self.split(by).items()}
        if self.average and any(grid.values()):
            grid["average"] = average_row(grid)
        return grid

    def tokens_per_s(self) -> dict[str, float]:
        return {
            length: sum(r["tokens"] for r in rows) / max(sum(r["seconds"] for r in rows), 1e-9)
            for length, rows in self.by_length().items()
        }

    def to_json(self) -> dict:
        out = {
            "model": self.model,
            **self.read,
            "accuracy": self.summary("correct"),
            "accuracy_babilong": self.summary("babilong"),
            "facts_hit": self.summary("facts_hit"),
            "seconds_per_sample": self.summary("seconds"),
            "tokens_per_s": self.tokens_per_s(),
            "n": self.counts(),
        }
        if self.group:
            out[f"by_{self.group}"] = {
                label: {"accuracy": part.summary("correct"), "facts_hit": part.summary("facts_hit"), "n": part.counts()}
                for label, part in self.split(self.group).items()
            }
        if self.group and self.average:
            # unlike "accuracy", which weighs samples, each value counts the same (one with fewer samples too)
            out["average"] = {"accuracy": self.grid("correct", self.group)["average"],
                              "facts_hit": self.grid("facts_hit", self.group).get("average", {})}
        return {**out, "samples": self.samples}

    def counts(self) -> dict[str, int]:
        return {length: len(rows) for length, rows in self.by_length().items()}

    def table(self) -> str:
        acc, bab, hit = self.summary("correct"), self.summary("babilong"), self.summary("facts_hit")
        secs, n = self.summary("seconds"), self.counts()
        lines = [f"{'length':>7} {'n':>5} {'exact':>7} {'babilong':>9} {'facts hit':>10} {'s/sample':>9}"]
        for length in self.by_length():
            fact = f"{hit[length]:10.1%}" if length in hit else f"{'-':>10}"
            lines.append(f"{length:>7} {n[length]:>5} {acc[length]:7.1%} {bab[length]:9.1%} {fact} {secs[length]:9.2f}")
        return "\n".join(lines)

    def grid_table(self, by: str) -> str:
        """Exact match per value of the row field `by` (rows) and length (columns); below it, where the
        model reports hops, the share of samples whose hops landed on every supporting fact."""
        lengths = list(self.by_length())
        tables = []
        for key, title in (("correct", "exact"), ("facts_hit", "facts hit")):
            grid = self.grid(key, by)
            if not any(grid.values()):
                continue
            width = max(len(label) for label in grid) + 2
            lines = [f"{title:<{width}}" + "".join(f"{length:>8}" for length in lengths)]
            for label, accs in grid.items():
                lines.append(f"{label:<{width}}" + "".join(f"{accs[l]:8.1%}" if l in accs else f"{'-':>8}" for l in lengths))
            tables.append("\n".join(lines))
        return "\n\n".join(tables)


def average_row(grid: dict[str, dict[str, float]]) -> dict[str, float]:
    """Mean of the rows at each length, over the rows that have it (BABILong's "average" row)."""
    out = {}
    for length in sorted({length for row in grid.values() for length in row}, key=length_order):
        cells = [row[length] for row in grid.values() if length in row]
        out[length] = sum(cells) / len(cells)
    return out


def score(sample: Sample, prediction: str, hops: list[int]) -> dict:
    """Per-sample scores: exact match, BABILong's rule, and whether the hops landed on the facts."""
    return {
        "correct": exact_match(prediction, sample.target),
        "babilong": babilong_correct(prediction, sample.target, sample.question, sample.task),
        "facts_hit": facts_hit(hops, sample.facts),
    }


def evaluate(reader: Reader, samples: list[Sample], model_name: str = "", batch_size: int = 1,
             progress: bool = True) -> Results:
    """Answer every sample with `reader` and score it. Batches are sent in file order."""
    rows = []
    bar = tqdm(total=len(samples), desc=f"eval {model_name or reader.name}", disable=not progress, unit="sample")
    for start in range(0, len(samples), batch_size):
        batch = samples[start:start + batch_size]
        began = time.perf_counter()
        answers = reader.answer(batch)
        elapsed = time.perf_counter() - began
        for sample, ans in zip(batch, answers):
            rows.append({
                "id": sample.id, "task": sample.task, "length": sample.length,
                "question": sample.question, "target": sample.target, "prediction": ans.text,
                **score(sample, ans.text, ans.hops),
                "hops": ans.hops, "facts": sample.facts,
                # a reader that times each sample itself knows better than the batch average
                "seconds": ans.seconds or elapsed / len(batch),
                "tokens": count_tokens(sample.input),
                "trace": ans.trace,
                "story": sample.story_lines(),  # what a miss is read against, haystack left out
            })
        bar.update(len(batch))
    bar.close()
    return Results(model_name or reader.name, rows)


def save_results(results: Results, path: str | Path) -> None:
    """Write RESULTS.json and, beside it, RESULTS.csv (one row per sample, no traces)."""
    path = Path(path)
    write_atomic(path, json.dumps(results.to_json(), indent=1, ensure_ascii=False))
    group = [results.group] if results.group not in ("", "task") else []  # rows always carry their task
    fields = ["id", "task", *group, "length", "question", "target", "prediction", "correct", "babilong",
              "facts_hit", "hops", "facts", "seconds", "tokens"]
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for row in results.samples:
        writer.writerow({**row, "hops": " ".join(map(str, row["hops"])), "facts": " ".join(map(str, row["facts"]))})
    write_atomic(path.with_suffix(".csv"), table.getvalue())
