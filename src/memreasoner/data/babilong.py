"""Real BABILong releases (and our own benchmark files) from a local path.

The releases on the Hugging Face hub (`RMT-team/babilong`, `RMT-team/babilong-1k-samples`) hold
records with `input`, `question`, `target`, one file per task and length: `1k/qa1-00000-of-00001.parquet`,
`64k/qa4/0000.parquet`, or JSON exports such as `qa1/1k.json`. Any of those loads here -- a single
file or a whole folder -- with `task` and `length` read from the path when the records lack them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError
from .sample import REQUIRED, Sample, sample_from_dict

SUFFIXES = (".json", ".jsonl", ".parquet")
_TASK_PART = re.compile(r"^(qa\d+|vt)$", re.IGNORECASE)
_LENGTH_PART = re.compile(r"^\d+[kM]$")


def load_samples(path: str | Path) -> list[Sample]:
    """Every sample at `path`: our JSONL from `memreasoner build`, or any BABILong release format."""
    return load_babilong(path)


def load_babilong(path: str | Path) -> list[Sample]:
    """Samples from a JSON / JSONL / Parquet file, or from every such file under a folder (sorted)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        if not files:
            raise InputError(f"no {', '.join(SUFFIXES)} files in this folder", path)
        labels = [Path(path.name) / file.relative_to(path) for file in files]
    elif path.is_file():
        if path.suffix not in SUFFIXES:
            raise InputError(f"unknown data format {path.suffix!r}; expected one of {', '.join(SUFFIXES)}", path)
        files, labels = [path], [Path(path.parent.name) / path.name]
    else:
        raise InputError("data file or folder not found", path)
    samples = []
    for file, label in zip(files, labels):
        samples.extend(_load_file(file, *task_and_length(label)))
    return samples


def _load_file(path: Path, task: str, length: str) -> list[Sample]:
    samples = []
    for record, where, line in _records(path):
        if isinstance(record, dict):
            for key in REQUIRED:
                if key in record and not isinstance(record[key], str):
                    raise InputError(f"field {key!r} must be text, not {type(record[key]).__name__}", where, line)
        sample = sample_from_dict(record, where, line)
        sample.task = sample.task or task
        sample.length = sample.length or length
        samples.append(sample)
    if not samples:
        raise InputError("no records in file", path)
    return samples


def task_and_length(path: Path) -> tuple[str, str]:
    """("qa1", "1k") from paths like `1k/qa1-00000-of-00001.parquet` or `qa1/1k.json`; "" if absent."""
    task = length = ""
    for part in path.with_suffix("").parts:
        for word in re.split(r"[-_.]", part):
            if _TASK_PART.match(word):
                task = word.lower()
            elif _LENGTH_PART.match(word):
                length = word
    return task, length


def _records(path: Path) -> Iterator[tuple[object, str, int | None]]:
    """(record, where to say it is, line number or None) for each record of one file."""
    if path.suffix == ".jsonl":
        yield from _jsonl_records(path)
    elif path.suffix == ".json":
        yield from _json_records(path)
    else:
        yield from _parquet_records(path)


def _jsonl_records(path: Path) -> Iterator[tuple[object, str, int | None]]:
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, start=1):
            if raw.strip():
                try:
                    yield json.loads(raw), str(path), lineno
                except json.JSONDecodeError as err:
                    raise InputError(f"not valid JSON ({err.msg}, column {err.colno})", path, lineno) from None


def _json_records(path: Path) -> Iterator[tuple[object, str, int | None]]:
    """A list of records, or a dict of equally long columns (how `datasets` exports a split)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        line = getattr(err, "lineno", None)
        raise InputError(f"not valid JSON ({getattr(err, 'msg', err)})", path, line) from None
    if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()) and data:
        sizes = {len(v) for v in data.values()}
        if len(sizes) != 1:
            raise InputError("columns of different lengths", path)
        data = [dict(zip(data, row)) for row in zip(*data.values())]
    if not isinstance(data, list):
        raise InputError("expected a list of records or a dict of columns", path)
    for index, record in enumerate(data):
        yield record, f"{path}[{index}]", None


def _parquet_records(path: Path) -> Iterator[tuple[object, str, int | None]]:
    import pyarrow
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pyarrow.ArrowException, OSError) as err:
        raise InputError(f"cannot read Parquet ({err})", path) from None
    missing = [key for key in REQUIRED if key not in table.column_names]
    if missing:
        raise InputError(f"Parquet file lacks column(s) {', '.join(missing)}", path)
    for index, record in enumerate(table.to_pylist()):
        yield record, f"{path}[{index}]", None
