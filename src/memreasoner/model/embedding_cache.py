"""On-disk cache of line embeddings (SQLite), so repeated evaluations over the same books cost almost nothing.

Rows are keyed by (encoder identity, sha1 of the line text). The identity digests the encoder's
name, pooling settings and weights, so a changed encoder never reads another's vectors: its lookups
simply miss (`prune` deletes the stale rows). SQLite in WAL mode lets many processes read while one
writes; writers wait (busy timeout) instead of failing.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..paths import cache_dir

_CHUNK = 500  # keys per SELECT ... IN (...), under SQLite's variable limit


def default_path() -> Path:
    """The one line-embedding cache every model reads through (MemReasoner, Larimar, the embedding
    retriever), so a line encoded for one is there for the next."""
    return cache_dir() / "embeddings.sqlite"


def encoder_identity(name: str, parameters, **settings) -> str:
    """A digest of everything that decides an embedding: weights, name, pooling/truncation settings."""
    digest = hashlib.sha256(name.encode())
    for key in sorted(settings):
        digest.update(f"{key}={settings[key]};".encode())
    for tensor in parameters:
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def _key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()


class EmbeddingCache:
    """get(texts) -> {index: vector} for the texts it holds; put(texts, vectors) stores new ones."""

    def __init__(self, path: str | Path, encoder_id: str, dim: int):
        self.path, self.encoder_id, self.dim = Path(path), encoder_id, dim
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("CREATE TABLE IF NOT EXISTS embeddings (encoder TEXT NOT NULL, key BLOB NOT NULL, "
                            "vector BLOB NOT NULL, PRIMARY KEY (encoder, key)) WITHOUT ROWID")
            self.db.commit()
        except sqlite3.DatabaseError as err:
            raise InputError(f"cannot open the embedding cache ({err}); delete the file to start afresh", self.path) from None

    def get(self, texts: list[str]) -> dict[int, np.ndarray]:
        """Cached vectors by position in `texts` (float32, [dim] each); misses are absent."""
        wanted: dict[bytes, list[int]] = {}
        for i, text in enumerate(texts):
            wanted.setdefault(_key(text), []).append(i)
        keys, found = list(wanted), {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start:start + _CHUNK]
            rows = self.db.execute(
                f"SELECT key, vector FROM embeddings WHERE encoder = ? AND key IN ({','.join('?' * len(chunk))})",
                [self.encoder_id, *chunk])
            for key, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape[0] != self.dim:
                    continue  # a corrupt or foreign row: treat as a miss, it will be overwritten
                for i in wanted[key]:
                    found[i] = vector
        return found

    def put(self, texts: list[str], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        rows = [(self.encoder_id, _key(t), v.tobytes()) for t, v in zip(texts, vectors)]
        with self.db:  # one transaction
            self.db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)", rows)

    def prune(self) -> int:
        """Delete rows of every other encoder; returns how many went."""
        with self.db:
            return self.db.execute("DELETE FROM embeddings WHERE encoder != ?", [self.encoder_id]).rowcount

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM embeddings WHERE encoder = ?", [self.encoder_id]).fetchone()[0]

    def close(self) -> None:
        self.db.close()
