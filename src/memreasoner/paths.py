"""Where data comes from: one data directory (flag `--data-dir` or env `MEMREASONER_DATA`).

Layout expected under it (the layout of `memreasoner download` and of ../shared/data):
    babi/en/qa1_single-supporting-fact_{train,test}.txt  (and en-10k/, qa2_...)
    babilong/test_100_idxs.json
    books/<any folders of .txt books>
    tokenizers/gpt2.tiktoken

What the toolkit derives and keeps between runs (tokenised books, line embeddings, distilled static
models) goes under one cache directory: env `MEMREASONER_CACHE`, default ~/.cache/memreasoner.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError

ENV_VAR = "MEMREASONER_DATA"
DEFAULT_DIR = Path.home() / ".cache" / "memreasoner" / "data"

TASK_FILES = {
    "qa1": "qa1_single-supporting-fact",
    "qa2": "qa2_two-supporting-facts",
}

_data_dir_override: Path | None = None


def set_data_dir(path: str | Path | None) -> None:
    """Set the data directory for this process (the CLI's `--data-dir`)."""
    global _data_dir_override
    _data_dir_override = Path(path) if path is not None else None


def cache_dir() -> Path:
    return Path(os.environ.get("MEMREASONER_CACHE") or Path.home() / ".cache" / "memreasoner")


def data_dir() -> Path:
    if _data_dir_override is not None:
        return _data_dir_override
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return DEFAULT_DIR


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise InputError(
            f"{what} not found; point --data-dir or ${ENV_VAR} at a data folder that has it "
            f"(e.g. ../shared/data), or run `memreasoner download` on a machine that is online",
            path=path,
        )
    return path


def babi_file(task: str, split: str, variant: str = "en") -> Path:
    if task not in TASK_FILES:
        raise InputError(f"unknown bAbI task {task!r}; known: {', '.join(TASK_FILES)}")
    if split not in ("train", "test"):
        raise InputError(f"unknown split {split!r}; known: train, test")
    return _require(data_dir() / "babi" / variant / f"{TASK_FILES[task]}_{split}.txt", f"bAbI {task} {split} file")


def books_dir() -> Path:
    return _require(data_dir() / "books", "books folder")


def babilong_index_file() -> Path:
    return _require(data_dir() / "babilong" / "test_100_idxs.json", "BABILong 100-sample index list")


def gpt2_bpe_file() -> Path:
    """The GPT-2 BPE ranks. `MEMREASONER_GPT2_BPE` names the file directly; else the data dir's copy."""
    explicit = os.environ.get("MEMREASONER_GPT2_BPE")
    if explicit:
        return _require(Path(explicit), "GPT-2 BPE file ($MEMREASONER_GPT2_BPE)")
    return _require(data_dir() / "tokenizers" / "gpt2.tiktoken", "GPT-2 BPE file")
