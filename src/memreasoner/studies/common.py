"""What the studies share: each model trained once, each test set built once, the same result files.

A study can be stopped and run again: a finished model (its trainer's last file is there) is kept, an
interrupted one resumed, a test set already written is read back, so a rerun answers the same samples.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import registry
from ..errors import InputError
from ..files import write_atomic
from ..training import train


def train_once(model: str, task: str, folder: Path, flags: list[str], **settings) -> None:
    """Train `model` into `folder` (training.train's keywords in `settings`) unless it finished there."""
    spec = registry.get(model)
    if (folder / spec.done_file).is_file():
        return
    code = train(model, task, folder, flags, resume=(folder / spec.resume_file).exists(), **settings)
    if code:
        raise InputError(f"training {model} failed (exit {code})", folder)


def load_or_build(data: Path, name: str, task: str, lengths: list[str], n: int, unseen: bool, seed: int,
                 progress: bool = True) -> list:
    """The test samples of one set: read from the folder `data` if an earlier run wrote them, else built and written."""
    from ..data.benchmark import build_benchmark
    from ..data.sample import read_samples, write_samples

    path = data / f"{name}-{'_'.join(lengths)}-n{n}-s{seed}.jsonl"
    if path.is_file():
        return read_samples(path)
    samples = build_benchmark(task, lengths, n, unseen=unseen, seed=seed, progress=progress)
    write_samples(samples, path)
    return samples


def write_json(path: Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=1) + "\n")


def write_report(out: Path, results: dict, table: str, rows: dict[str, dict[str, float]], title: str) -> None:
    """results.json, table.md (also printed) and heatmap.png of `rows` (label -> {length: accuracy})."""
    from ..plots import heatmap

    write_json(out / "results.json", results)
    write_atomic(out / "table.md", table)
    heatmap(rows, out / "heatmap.png", title=title)
    print("\n" + table)
    print(f"wrote {out / 'results.json'}, {out / 'table.md'}, {out / 'heatmap.png'} (models and per-model results under {out})")


def lengths_of(rows: dict[str, dict[str, float]]) -> list[str]:
    """Every length any row has, shortest first."""
    from ..evaluate import length_order

    return sorted({length for row in rows.values() for length in row}, key=length_order)


def markdown(corner: str, columns: list[str], rows: dict[str, list[str]]) -> list[str]:
    """The lines of a markdown table: a column of labels headed `corner`, then right-aligned cells."""
    lines = [f"| {corner} | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    return lines + [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows.items()]


def percents(accuracy: dict[str, float], lengths: list[str]) -> list[str]:
    """Accuracy per length as whole percents; empty where a length was not measured."""
    return [f"{accuracy[length] * 100:.0f}" if length in accuracy else "" for length in lengths]
