"""Sentence splitting as BABILong does it: NLTK's Punkt with no training (no model download)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _punkt():
    # imported on first use: `import nltk` takes seconds, and most commands never split text
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    return PunktSentenceTokenizer()


def split_sentences(text: str) -> list[str]:
    """Sentences of `text` in order, stripped, empty ones dropped."""
    return [s for s in (raw.strip() for raw in _punkt().tokenize(text)) if s]
