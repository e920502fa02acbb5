"""GPT-2 token counts, the unit every BABILong length is measured in.

The encoding is built offline from the GPT-2 BPE ranks file (`tokenizers/gpt2.tiktoken` in the data
dir, or `$MEMREASONER_GPT2_BPE`), because these machines cannot download tiktoken's copy. Only when
no file is configured and none exists does it fall back to tiktoken's own (online) download.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import tiktoken
from tiktoken.load import load_tiktoken_bpe

from ..errors import InputError
from ..paths import cache_dir, chosen_data_dir, gpt2_bpe_file

# GPT-2's pre-tokenisation regex and its one special token (tiktoken's own "gpt2" definition).
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
ENDOFTEXT = {"<|endoftext|>": 50256}


@functools.lru_cache(maxsize=4)
def _encoding_from_file(path: Path) -> tiktoken.Encoding:
    try:
        ranks = load_tiktoken_bpe(str(path))
    except (OSError, ValueError) as err:
        raise InputError(f"not a GPT-2 BPE ranks file ({err})", path) from None
    return tiktoken.Encoding(name="gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens=ENDOFTEXT)


@functools.lru_cache(maxsize=1)
def _encoding_online() -> tiktoken.Encoding:
    return tiktoken.get_encoding("gpt2")


def gpt2_encoding(path: str | Path | None = None) -> tiktoken.Encoding:
    """The GPT-2 encoding, from `path`, else the configured BPE file, else tiktoken's download."""
    if path is not None:
        return _encoding_from_file(Path(path).resolve())
    # Called for every line a batch tokenises: the file is looked up once per setting, not per call.
    return _configured_encoding(os.environ.get("MEMREASONER_GPT2_BPE"), chosen_data_dir(), cache_dir())


@functools.lru_cache(maxsize=8)
def _configured_encoding(*settings) -> tiktoken.Encoding:
    """The encoding the settings select (they key the cache; `gpt2_bpe_file` reads them itself)."""
    try:
        bpe_file = gpt2_bpe_file()
    except InputError as missing:
        if os.environ.get("MEMREASONER_GPT2_BPE"):
            raise  # an explicit setting that is wrong must not be papered over by a download
        return _download_or_explain(missing)
    return _encoding_from_file(bpe_file.resolve())


def _download_or_explain(missing: InputError) -> tiktoken.Encoding:
    try:
        return _encoding_online()
    except Exception as err:  # offline, tiktoken raises requests/OS errors of many kinds
        raise InputError(
            f"{missing.message}; tiktoken could not download it either ({type(err).__name__}). "
            "The file is whisper/assets/gpt2.tiktoken in the openai/whisper repository",
            missing.path,
        ) from None


def count_tokens(text: str) -> int:
    """GPT-2 tokens in `text` (special-token strings count as plain text, as in a book)."""
    return len(gpt2_encoding().encode_ordinary(text))
