"""Split a sample's context into the chunks the agent reads, in document order.

Sizes are counted in GPT-2 tokens, the unit BABILong lengths are measured in, whatever the policy's
own tokenizer: a 16k sample read with `chunk_tokens=1000` is about 16 steps for any backend.
Chunks are packed from whole lines (sentences), so a fact is never cut across two chunks; only a
line longer than the whole budget is cut, into budget-sized pieces.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data.tokens import gpt2_encoding
from ..errors import InputError


@dataclass
class Chunk:
    text: str
    lines: list[int]  # indices into sample.lines() that this chunk holds (whole or in part)


def chunk_lines(lines: list[str], chunk_tokens: int) -> list[Chunk]:
    """Greedy packing: each chunk holds as many consecutive lines as fit in `chunk_tokens`."""
    if chunk_tokens < 1:
        raise InputError(f"chunk size must be at least 1 token, got {chunk_tokens}")
    enc = gpt2_encoding()
    chunks: list[Chunk] = []
    texts: list[str] = []
    indices: list[int] = []
    used = 0

    def flush():
        nonlocal texts, indices, used
        if texts:
            chunks.append(Chunk(" ".join(texts), indices))
        texts, indices, used = [], [], 0

    for i, line in enumerate(lines):
        ids = enc.encode_ordinary(line)
        if len(ids) > chunk_tokens:  # too long for any chunk: cut it into pieces of its own
            flush()
            for start in range(0, len(ids), chunk_tokens):
                chunks.append(Chunk(enc.decode(ids[start : start + chunk_tokens]).strip(), [i]))
            continue
        if used + len(ids) > chunk_tokens:
            flush()
        texts.append(line)
        indices.append(i)
        used += len(ids)
    flush()
    return chunks
