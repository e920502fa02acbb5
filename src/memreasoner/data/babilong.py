"""Real BABILong releases (and our own benchmark files) from a local path or the Hugging Face hub.

The releases on the hub (`RMT-team/babilong`, `RMT-team/babilong-1k-samples`) hold records with
`input`, `question`, `target`, one file per task and length: `data/qa1/1k.json`,
`1k/qa1-00000-of-00001.parquet`, `64k/qa4/0000.parquet`. Any of those loads here -- a single file or
a whole folder -- with `task` and `length` read from the path when the records lack them, and an id
`task-length-index` (index: the record's place among that task and length's records, file by file
in sorted order) when they have none, so per-sample results join back to the files.

`hf:REPO/CONFIG/SPLIT` (`hf:RMT-team/babilong/1k/qa1`: config = length, split = task) loads through
the optional `datasets` library; without it, or offline, the error says what to download.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import InputError
from .sample import REQUIRED, Sample, sample_from_dict

SUFFIXES = (".json", ".jsonl", ".parquet")
_TASK_PART = re.compile(r"^(qa\d+|vt)$", re.IGNORECASE)
_LENGTH_PART = re.compile(r"^\d+[kM]$")


HUB_PREFIX = "hf:"


def load_samples(path: str | Path) -> list[Sample]:
    """Every sample at `path`: our JSONL from `memreasoner build`, any BABILong release format, or hf:..."""
    if str(path).startswith(HUB_PREFIX):
        return load_hub(str(path))
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
        loaded = _load_file(file, *task_and_length(label))
        if path.is_dir() and any(not s.task or not s.length for s in loaded):
            raise InputError(
                "cannot tell this file's task and length: name it like qa1/1k.json or 1k/qa1-00000-of-00001.parquet, "
                "or give the file alone with --data",
                file,
            )
        samples.extend(loaded)
    return name_samples(samples)


def name_samples(samples: list[Sample]) -> list[Sample]:
    """Give each sample without an id `task-length-index`, counting within its task and length."""
    seen: Counter[tuple[str, str]] = Counter()
    for sample in samples:
        key = (sample.task, sample.length)
        if not sample.id:
            sample.id = f"{sample.task or '?'}-{sample.length or '?'}-{seen[key]}"
        seen[key] += 1
    return samples


def _load_file(path: Path, task: str, length: str) -> list[Sample]:
    samples = _to_samples(_records(path), task, length)
    if not samples:
        raise InputError("no records in file", path)
    return samples


def _to_samples(records: Iterable[tuple[object, str, int | None]], task: str, length: str) -> list[Sample]:
    """Checked samples, with `task` and `length` where the records lack them."""
    samples = []
    for record, where, line in records:
        if isinstance(record, dict):
            for key in REQUIRED:
                if key in record and not isinstance(record[key], str):
                    raise InputError(f"field {key!r} must be text, not {type(record[key]).__name__}", where, line)
        sample = sample_from_dict(record, where, line)
        sample.task = sample.task or task
        sample.length = sample.length or length
        samples.append(sample)
    return samples


# where each release keeps the file for one config (length) and split (task)
_HUB_FILES = {
    "RMT-team/babilong": "data/{split}/{config}.json",
    "RMT-team/babilong-1k-samples": "{config}/{split}-*.parquet",
}


def load_hub(spec: str) -> list[Sample]:
    """`hf:REPO/CONFIG/SPLIT` through `datasets.load_dataset(REPO, CONFIG, split=SPLIT)`."""
    parts = spec[len(HUB_PREFIX):].split("/")
    if len(parts) != 4 or not all(parts):
        raise InputError(f"expected hf:OWNER/NAME/CONFIG/SPLIT (e.g. hf:RMT-team/babilong/1k/qa1), got {spec!r}")
    repo, config, split = "/".join(parts[:2]), parts[2], parts[3]
    try:
        import datasets
    except ImportError:
        raise InputError(f"reading {spec} needs the `datasets` library (pip install datasets); {_download_hint(repo, config, split)}") from None
    try:
        rows = datasets.load_dataset(repo, config, split=split)
    except Exception as err:  # offline, or no such repo, config or split: `datasets` raises errors of many kinds
        reason = f"{type(err).__name__}: {str(err).splitlines()[0]}" if str(err) else type(err).__name__
        raise InputError(f"could not load {spec} ({reason}); {_download_hint(repo, config, split)}") from None
    records = ((record, f"{spec}[{index}]", None) for index, record in enumerate(rows))
    samples = _to_samples(records, *task_and_length(Path(config) / split))
    if not samples:
        raise InputError("no records in this split", spec)
    return name_samples(samples)


def _download_hint(repo: str, config: str, split: str) -> str:
    """What to run on a machine that is online, and the --data that then reads the file."""
    pattern = _HUB_FILES.get(repo, "*").format(config=config, split=split)
    local = "DIR/" + pattern if "*" not in pattern else "DIR" + ("/" + pattern.rsplit("/", 1)[0] if "/" in pattern else "")
    return (
        f"on a machine that is online run `huggingface-cli download {repo} --repo-type dataset --include '{pattern}' "
        f"--local-dir DIR`, copy DIR here and use --data {local}"
    )


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
