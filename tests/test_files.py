"""files.write_atomic: the file holds the old contents or the new, never part; read_json: one-line errors."""

from __future__ import annotations

import os

import pytest

from memreasoner.errors import InputError
from memreasoner.files import read_json, write_atomic


def test_write_atomic_writes_text_and_bytes_and_creates_the_folder(tmp_path):
    path = tmp_path / "new" / "a.json"
    write_atomic(path, "é\n")
    assert path.read_bytes() == "é\n".encode("utf-8")
    write_atomic(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01" and os.listdir(path.parent) == ["a.json"]


def test_a_write_that_fails_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    write_atomic(path, "old")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, "new")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["results.json"]


@pytest.mark.parametrize("data,line", [(b'{"a": 1,\n', 2), (b"\x80 not text", None)])
def test_read_json_names_the_file_in_one_line(tmp_path, data, line):
    path = tmp_path / "config.json"
    path.write_bytes(data)
    with pytest.raises(InputError, match="not valid JSON") as err:
        read_json(path)
    assert (err.value.path, err.value.line) == (str(path), line) and "\n" not in str(err.value)
