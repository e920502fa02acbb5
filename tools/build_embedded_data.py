"""Build src/memreasoner/data/embedded/: the small default data set the package ships.

    python tools/build_embedded_data.py [SOURCE]   # SOURCE: a full data folder, default ../shared/data

Each file is stored xz-compressed under its data-dir path (plus `.xz`); `manifest.json` maps every
path of the unpacked layout to the stored file and the SHA-256 of its uncompressed bytes, and the
README beside them is generated from the same table. bAbI's `en-10k` test files are byte-identical to
the `en` ones, so they are stored once and unpacked twice. `memreasoner.paths` unpacks the lot.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "src" / "memreasoner" / "data" / "embedded"

BABI_TASKS = ["qa1_single-supporting-fact", "qa2_two-supporting-facts", "qa3_three-supporting-facts",
              "qa4_two-arg-relations", "qa5_three-arg-relations"]
# Prose only (no poetry or plays): together over the 1M-token haystack after the >= 10-token filter.
BOOKS = [
    "books/nltk_gutenberg/austen-emma.txt",
    "books/nltk_gutenberg/austen-persuasion.txt",
    "books/nltk_gutenberg/austen-sense.txt",
    "books/nltk_gutenberg/chesterton-ball.txt",
    "books/nltk_gutenberg/chesterton-brown.txt",
    "books/nltk_gutenberg/chesterton-thursday.txt",
    "books/nltk_gutenberg/melville-moby_dick.txt",
    "books/gutenberg/pg1342_pride-and-prejudice.txt",
]
OTHER = ["tokenizers/gpt2.tiktoken", "babilong/test_100_idxs.json"]
MAX_STORED_BYTES = 2_000_000  # per tracked file

SOURCES = {
    "babi": ("bAbI tasks v1.2 (Weston et al. 2015, arXiv:1502.05698), via GitHub "
             "`ethancaballero/Improved-Dynamic-Memory-Networks-DMN-plus` `data/tasks_1-20_v1-2/`",
             "CC-BY 3.0, (c) Facebook"),
    "books/nltk_gutenberg": ("Project Gutenberg texts of NLTK's `gutenberg` corpus, GitHub `nltk/nltk` commit "
                             "4dc39fbf, `nltk_data/corpora/gutenberg/`",
                             "public domain (the NLTK repository: Apache-2.0)"),
    "books/gutenberg": ("Project Gutenberg e-book 1342, GitHub `gutenbergbooks/1342`, `1342-0.txt`",
                        "public domain in the USA"),
    "tokenizers": ("GPT-2 BPE ranks, GitHub `openai/whisper`, `whisper/assets/gpt2.tiktoken`", "MIT"),
    "babilong": ("BABILong's 100-sample index list, GitHub `booydar/babilong`, `data/test_100_idxs.json`",
                 "Apache-2.0"),
}


def layout() -> dict[str, str]:
    """Unpacked path -> the source path whose bytes it holds (stored once per source path)."""
    paths = {}
    for task in BABI_TASKS:
        for split in ("train", "test"):
            paths[f"babi/en/{task}_{split}.txt"] = f"babi/en/{task}_{split}.txt"
        paths[f"babi/en-10k/{task}_test.txt"] = f"babi/en/{task}_test.txt"  # identical in v1.2 (checked below)
        paths[f"babi/en-10k/{task}_train.txt"] = f"babi/en-10k/{task}_train.txt"
    paths |= {rel: rel for rel in BOOKS + OTHER}
    return paths


def source_of(rel: str) -> tuple[str, str]:
    for prefix in sorted(SOURCES, key=len, reverse=True):
        if rel.startswith(prefix + "/"):
            return SOURCES[prefix]
    raise KeyError(rel)


def main(source: Path) -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    files = {}
    for rel, stored_from in layout().items():
        path = source / rel
        if not path.is_file():
            print(f"skip {rel}: not in {source}")  # en-10k has no qa3 train file
            continue
        data = path.read_bytes()
        if stored_from != rel and (source / stored_from).read_bytes() != data:
            raise SystemExit(f"{rel} differs from {stored_from}; store it on its own")
        stored = OUT / f"{stored_from}.xz"
        if not stored.exists():
            stored.parent.mkdir(parents=True, exist_ok=True)
            stored.write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
            if stored.stat().st_size >= MAX_STORED_BYTES:
                raise SystemExit(f"{stored} is over {MAX_STORED_BYTES:,} bytes")
        files[rel] = {"stored": f"{stored_from}.xz", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (OUT / "manifest.json").write_text(json.dumps({"files": files}, indent=1) + "\n")
    (OUT / "README.md").write_text(readme(files))
    total = sum(p.stat().st_size for p in OUT.rglob("*.xz"))
    print(f"wrote {len(files)} files ({sum(f['bytes'] for f in files.values()):,} bytes unpacked, "
          f"{total:,} bytes stored) to {OUT}")


def readme(files: dict) -> str:
    rows = []
    for rel, entry in files.items():
        origin, licence = source_of(rel)
        stored = (OUT / entry["stored"]).stat().st_size
        rows.append(f"| `{rel}` | {entry['bytes']:,} | {stored:,} | {licence} | `{entry['sha256']}` |")
    sources = "\n".join(f"- `{prefix}/`: {origin}. Licence: {licence}." for prefix, (origin, licence) in SOURCES.items())
    return f"""# Embedded default data

The data `memreasoner` uses when no data folder is given (no `--data-dir`, no `$MEMREASONER_DATA`,
no `~/.cache/memreasoner/data` from `memreasoner download`): bAbI v1.2 qa1-qa5, eight public-domain
prose books (enough for 1M-token haystacks), the GPT-2 BPE ranks and BABILong's 100-sample index list.
Every file is stored xz-compressed under its data-folder path; on first use `memreasoner.paths`
unpacks them into `$MEMREASONER_CACHE/embedded-<hash>/` (default `~/.cache/memreasoner/`), in the
layout of a full data folder, and checks each against the SHA-256 below. The `en-10k` test files are
the `en` ones (identical in bAbI v1.2), stored once; `en-10k` has no qa3 train file.

Generated by `tools/build_embedded_data.py` from the full data folder; do not edit by hand.

## Sources

{sources}

The bytes are those of the sources, unchanged: only compressed.

## Files

| path (unpacked) | bytes | stored (xz) bytes | licence | SHA-256 (unpacked) |
| --- | ---: | ---: | --- | --- |
{chr(10).join(rows)}
"""


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data")
