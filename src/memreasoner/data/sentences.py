"""Sentence splitting as BABILong does it: NLTK's Punkt with no training (no model download)."""

from __future__ import annotations

from nltk.tokenize.punkt import PunktSentenceTokenizer

_PUNKT = PunktSentenceTokenizer()


def split_sentences(text: str) -> list[str]:
    """Sentences of `text` in order, stripped, empty ones dropped."""
    return [s for s in (raw.strip() for raw in _PUNKT.tokenize(text)) if s]
