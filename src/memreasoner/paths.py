"""Where data comes from: one data directory, the first of
    `--data-dir` > `$MEMREASONER_DATA` > <cache dir>/data if it exists (what `memreasoner download`
    writes) > the small default shipped inside the package (data/embedded/), unpacked once into the
    cache dir, so that a fresh install runs with no data folder at all.

Layout expected under it (the layout of `memreasoner download` and of ../shared/data):
    babi/en/qa1_single-supporting-fact_{train,test}.txt  (and en-10k/, qa2_...)
    babilong/test_100_idxs.json
    books/<any folders of .txt books>
    tokenizers/gpt2.tiktoken

What the toolkit derives and keeps between runs (tokenised books, line embeddings, distilled static
models, the unpacked default data) goes under one cache directory: env `MEMREASONER_CACHE`, default
~/.cache/memreasoner.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .errors import InputError

ENV_VAR = "MEMREASONER_DATA"
# xz-compressed files under their data-dir paths, and manifest.json: path -> stored file, SHA-256
EMBEDDED_DIR = Path(__file__).resolve().parent / "data" / "embedded"

TASK_FILES = {  # the twenty bAbI tasks, by the stem of their files
    "qa1": "qa1_single-supporting-fact",
    "qa2": "qa2_two-supporting-facts",
    "qa3": "qa3_three-supporting-facts",
    "qa4": "qa4_two-arg-relations",
    "qa5": "qa5_three-arg-relations",
    "qa6": "qa6_yes-no-questions",
    "qa7": "qa7_counting",
    "qa8": "qa8_lists-sets",
    "qa9": "qa9_simple-negation",
    "qa10": "qa10_indefinite-knowledge",
    "qa11": "qa11_basic-coreference",
    "qa12": "qa12_conjunction",
    "qa13": "qa13_compound-coreference",
    "qa14": "qa14_time-reasoning",
    "qa15": "qa15_basic-deduction",
    "qa16": "qa16_basic-induction",
    "qa17": "qa17_positional-reasoning",
    "qa18": "qa18_size-reasoning",
    "qa19": "qa19_path-finding",
    "qa20": "qa20_agents-motivations",
}

_data_dir_override: Path | None = None


def set_data_dir(path: str | Path | None) -> None:
    """Set the data directory for this process (the CLI's `--data-dir`)."""
    global _data_dir_override
    _data_dir_override = Path(path) if path is not None else None


def cache_dir() -> Path:
    return Path(os.environ.get("MEMREASONER_CACHE") or Path.home() / ".cache" / "memreasoner")


def download_dir() -> Path:
    """Where `memreasoner download` puts the full data set when no folder is named."""
    return cache_dir() / "data"


def chosen_data_dir() -> Path | None:
    """The folder the user named (`--data-dir`, else `$MEMREASONER_DATA`), if any."""
    if _data_dir_override is not None:
        return _data_dir_override
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    return None


def data_dir() -> Path:
    chosen = chosen_data_dir()
    if chosen is not None:
        return chosen
    if download_dir().is_dir():
        return download_dir()
    return embedded_data_dir()


def embedded_data_dir() -> Path:
    """The embedded default, unpacked (on first use) into `cache_dir()/embedded-<content hash>/`."""
    manifest = (EMBEDDED_DIR / "manifest.json").read_bytes()
    target = cache_dir() / f"embedded-{hashlib.sha256(manifest).hexdigest()[:12]}"
    if not target.is_dir():
        _unpack(json.loads(manifest)["files"], target)
    return target


def _unpack(files: dict[str, dict], target: Path) -> None:
    """Decompress and check every file into a temporary folder, then rename it to `target` in one step:
    a process that loses a race to another one unpacking the same data keeps the winner's folder."""
    print(f"memreasoner: unpacking the embedded default data into {target}", file=sys.stderr)
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        for rel, entry in files.items():
            out = tmp / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(_embedded_bytes(rel, entry))
        try:
            tmp.rename(target)
        except OSError:
            if not target.is_dir():  # not a race lost to another process: a real failure
                raise
    except OSError as err:
        raise InputError(f"cannot unpack the embedded default data ({err.strerror or err}); set $MEMREASONER_CACHE "
                         f"to a writable folder, or point --data-dir or ${ENV_VAR} at a data folder", target) from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _embedded_bytes(rel: str, entry: dict) -> bytes:
    """One embedded file, decompressed and checked against the manifest's SHA-256."""
    stored = EMBEDDED_DIR / entry["stored"]
    try:
        data = lzma.decompress(stored.read_bytes())
    except (OSError, lzma.LZMAError) as err:
        raise InputError(f"embedded data file unreadable ({err}); reinstall memreasoner", stored) from None
    got = hashlib.sha256(data).hexdigest()
    if got != entry["sha256"]:
        raise InputError(f"embedded data checksum mismatch for {rel}: SHA-256 {got[:16]}..., the manifest says "
                         f"{entry['sha256'][:16]}...; reinstall memreasoner", stored)
    return data


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
