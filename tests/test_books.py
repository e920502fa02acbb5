import numpy as np
import pytest

from memreasoner.data.books import BookPool, load_books, read_book, strip_gutenberg
from memreasoner.data.tokens import gpt2_encoding
from memreasoner.errors import InputError

LONG = "The old captain walked slowly along the quay, looking at every ship that lay there at anchor."
GUTENBERG = (
    "The Project Gutenberg EBook of Something\r\nLicense words here that must go away entirely from it.\r\n"
    "*** START OF THIS PROJECT GUTENBERG EBOOK SOMETHING ***\r\n"
    f"{LONG}\r\nShort one.\r\n"
    "*** END OF THIS PROJECT GUTENBERG EBOOK SOMETHING ***\r\nMore license text that is long enough to count here.\r\n"
)


def _pool_folder(tmp_path):
    (tmp_path / "nested").mkdir(parents=True)
    (tmp_path / "a.txt").write_bytes(GUTENBERG.encode("ascii"))
    latin = "Le vieux marin regardait la mer avec une tristesse que personne ne comprenait, café à la main."
    (tmp_path / "nested" / "b.txt").write_bytes(latin.encode("latin-1"))
    (tmp_path / "README").write_text("Not a book, and long enough to be counted if it were read by mistake.")
    return tmp_path


def test_strip_gutenberg_header_and_footer():
    body = strip_gutenberg(GUTENBERG.replace("\r\n", "\n"))
    assert LONG in body and "License" not in body and "More license" not in body


def test_read_book_handles_latin1_and_crlf(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes("caf\xe9 au lait\r\nnext line\rstray".encode("latin-1"))
    assert read_book(path) == "café au lait\nnext line\nstray"


def test_pool_keeps_long_sentences_of_every_txt_with_counts(tmp_path):
    pool = load_books(_pool_folder(tmp_path))
    assert pool.names == ["a.txt", "nested/b.txt"]
    assert pool.sentences[0] == LONG
    assert "Short one." not in pool.sentences  # under 10 tokens
    assert not any("license" in s.lower() for s in pool.sentences)
    assert "café" in pool.sentences[1]
    enc = gpt2_encoding()
    assert pool.tokens.tolist() == [len(enc.encode_ordinary(" " + s)) for s in pool.sentences]
    assert all(len(enc.encode_ordinary(s)) >= 10 for s in pool.sentences)
    assert pool.book_starts.tolist() == [0, 1, 2]


def test_pool_is_cached_until_a_book_changes(tmp_path):
    folder = _pool_folder(tmp_path)
    first = load_books(folder)
    assert load_books(folder) is first
    (folder / "c.txt").write_text(LONG.replace("captain", "sailor"))
    assert len(load_books(folder).sentences) == 3


def test_pool_is_cached_on_disk_for_the_next_process(tmp_path, monkeypatch):
    from memreasoner.data import books

    monkeypatch.setenv("MEMREASONER_CACHE", str(tmp_path / "cache"))
    folder = _pool_folder(tmp_path / "books")
    first = load_books(folder)
    assert list((tmp_path / "cache" / "books").glob("*.pickle"))
    monkeypatch.setattr(books, "_POOLS", {})  # a new process

    def must_not_tokenise(*args):
        raise AssertionError("should have come from the disk cache")

    monkeypatch.setattr(books, "_tokenise_books", must_not_tokenise)
    again = load_books(folder)
    assert again.sentences == first.sentences and again.tokens.tolist() == first.tokens.tolist()


def test_empty_or_useless_folders_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no .txt books") as err:
        load_books(tmp_path)
    assert str(tmp_path) in str(err.value)
    (tmp_path / "short.txt").write_text("Too short. Also short.")
    with pytest.raises(InputError, match=">= 10 GPT-2 tokens"):
        load_books(tmp_path)
    with pytest.raises(InputError, match="not found"):
        load_books(tmp_path / "missing")


def _toy_pool() -> BookPool:
    sentences = [f"sentence {i}" for i in range(30)]
    tokens = np.full(30, 10, dtype=np.int64)
    return BookPool(folder=".", names=["a", "b", "c"], sentences=sentences, tokens=tokens, book_starts=np.array([0, 10, 20, 30]))


def test_sampler_takes_consecutive_runs_without_repeats_and_is_seeded():
    pool = _toy_pool()
    texts, counts = pool.sample(95, np.random.default_rng(1))
    assert counts.sum() >= 95 and counts[:-1].sum() < 95  # stops at the first sentence that fills it
    assert len(set(texts)) == len(texts) == 10
    ids = [int(t.split()[1]) for t in texts]
    runs = sum(1 for a, b in zip(ids, ids[1:]) if b != a + 1)
    assert runs <= 3  # within a book the sentences are consecutive
    again, _ = pool.sample(95, np.random.default_rng(1))
    assert again == texts
    assert pool.sample(95, np.random.default_rng(2))[0] != texts


def test_sampler_reuses_books_only_when_allowed():
    pool = _toy_pool()
    with pytest.raises(InputError, match="books too short.*--repeat-books"):
        pool.sample(301, np.random.default_rng(0))
    texts, counts = pool.sample(1000, np.random.default_rng(0), allow_repeats=True)
    assert counts.sum() == 1000 and len(texts) == 100
    assert sorted(set(texts)) == sorted(pool.sentences)  # every pass covers the whole pool
    full, _ = pool.sample(300, np.random.default_rng(0))
    assert sorted(full) == sorted(pool.sentences)  # a whole pass, nothing repeated
