"""The callback library: find the past memory of an episode that best matches a recall query.

Two scorers from maintained libraries: TF-IDF (scikit-learn) and BM25+ (rank_bm25).
Ties go to the most recent memory, because a later memory supersedes an earlier one about the same
thing. A query that matches no word of any memory retrieves nothing (None), which the agent is
shown as an empty recall rather than some arbitrary memory.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import InputError

METHODS = ("tfidf", "bm25")
_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _scores(method: str, query: str, documents: list[str]) -> np.ndarray:
    if method == "tfidf":
        from sklearn.feature_extraction.text import TfidfVectorizer

        # Binary, un-normalised TF-IDF: the score is the sum of idf^2 over the query words a memory
        # holds. No length normalisation, because a memory is no less relevant for also holding
        # other facts (with cosine, a memory of common words beat a newer one of rarer words).
        # Same word rule as BM25 (single letters and digits count).
        vectorizer = TfidfVectorizer(token_pattern=r"(?u)\b\w+\b", binary=True, norm=None)
        try:
            matrix = vectorizer.fit_transform(documents + [query])
        except ValueError:  # no word at all in memories or query
            return np.zeros(len(documents))
        return (matrix[:-1] @ matrix[-1].T).toarray().ravel()
    if method == "bm25":
        # BM25+ rather than Okapi BM25: Okapi's idf turns negative for a word in more than half of
        # the documents -- exactly a holder's name late in a long episode -- and then ranks the
        # memories that hold it *below* those that do not. BM25+'s idf, log((N + 1) / df), stays positive.
        from rank_bm25 import BM25Plus

        corpus = [_words(d) for d in documents]
        if not any(corpus):
            return np.zeros(len(documents))
        scores = np.asarray(BM25Plus(corpus).get_scores(_words(query)), dtype=float)
        # BM25+ also credits words a document lacks (its delta term); such documents must not win.
        query_words = set(_words(query))
        scores[[not query_words & set(doc) for doc in corpus]] = 0.0
        return scores
    raise InputError(f"unknown recall method {method!r}; known: {', '.join(METHODS)}")


def best_memory(query: str, memories: list[str], method: str = "tfidf") -> int | None:
    """Index into `memories` of the best match for `query` (latest among ties), or None if none matches."""
    if method not in METHODS:
        raise InputError(f"unknown recall method {method!r}; known: {', '.join(METHODS)}")
    if not memories or not _words(query):
        return None
    scores = _scores(method, query, memories)
    best = float(scores.max())
    if best <= 0.0:
        return None
    return int(np.flatnonzero(np.isclose(scores, best, rtol=1e-9, atol=1e-12))[-1])
