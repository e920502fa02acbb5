"""The embedded default data: what a fresh clone with no data folder runs on."""

import hashlib
import json
import lzma
import re
import shutil
import subprocess
import sys

import pytest

from memreasoner import paths
from memreasoner.cli import main
from memreasoner.errors import InputError

SMALL = ["--augment", "0", "--decoder-layers", "1", "--decoder-dim", "64", "--decoder-heads", "2", "--gru-hidden", "64",
         "--slots", "64", "--threads", "1", "--no-first-pass"]


@pytest.fixture
def no_data_dir(monkeypatch, tmp_path):
    """No --data-dir, no $MEMREASONER_DATA, an empty cache: only the embedded default is left."""
    monkeypatch.delenv(paths.ENV_VAR, raising=False)
    monkeypatch.setenv("MEMREASONER_CACHE", str(tmp_path / "cache"))
    paths.set_data_dir(None)
    return tmp_path / "cache"


def _manifest() -> dict:
    return json.loads((paths.EMBEDDED_DIR / "manifest.json").read_text())["files"]


def test_resolution_order(no_data_dir, tmp_path, monkeypatch):
    embedded = paths.data_dir()
    assert embedded.parent == no_data_dir and embedded.name.startswith("embedded-")
    assert paths.babi_file("qa2", "train", "en-10k").is_file()  # qa2 trains on en-10k
    assert paths.books_dir().is_dir() and paths.gpt2_bpe_file().is_file() and paths.babilong_index_file().is_file()
    (no_data_dir / "data").mkdir()  # what `memreasoner download` fills
    assert paths.data_dir() == no_data_dir / "data"
    monkeypatch.setenv(paths.ENV_VAR, str(tmp_path / "env"))
    assert paths.data_dir() == tmp_path / "env"
    paths.set_data_dir(tmp_path / "flag")
    assert paths.data_dir() == tmp_path / "flag"
    with pytest.raises(InputError, match=r"point --data-dir"):  # a chosen folder that lacks a file says so
        paths.babi_file("qa1", "test")


def test_unpacked_files_match_the_manifest_and_the_readme(no_data_dir, data_dir):
    root = paths.embedded_data_dir()
    manifest = _manifest()
    unpacked = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert unpacked == set(manifest)
    for rel, entry in manifest.items():
        data = (root / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"], rel
    # The README's table is the manifest's: same paths, same checksums.
    readme = (paths.EMBEDDED_DIR / "README.md").read_text()
    table = dict(re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", readme, re.MULTILINE))
    assert table == {rel: entry["sha256"] for rel, entry in manifest.items()}
    # The full data set holds the same bytes (where it has the file); the stored files are no copies of it.
    for rel, entry in manifest.items():
        assert hashlib.sha256((data_dir / rel).read_bytes()).hexdigest() == entry["sha256"], rel
    stored = [p for p in paths.EMBEDDED_DIR.rglob("*") if p.is_file()]
    assert all(p.stat().st_size < 2_000_000 for p in stored)
    shared = {(data_dir / rel).read_bytes() for rel in manifest}
    assert not any(p.read_bytes() in shared for p in stored)


def test_a_damaged_embedded_file_is_a_one_line_error(no_data_dir, tmp_path, monkeypatch, capsys):
    copy = tmp_path / "embedded"
    shutil.copytree(paths.EMBEDDED_DIR, copy)
    victim = _manifest()["tokenizers/gpt2.tiktoken"]["stored"]
    (copy / victim).write_bytes(lzma.compress(b"tampered"))
    monkeypatch.setattr(paths, "EMBEDDED_DIR", copy)
    assert main(["build", "--task", "qa1", "--lengths", "0k", "--samples", "1", "--out", str(tmp_path / "b.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("memreasoner: error: ") and "checksum mismatch for tokenizers/gpt2.tiktoken" in err[-1]
    assert list(no_data_dir.iterdir()) == []  # neither a half-unpacked folder nor a temporary one is left


def test_losing_an_unpacking_race_keeps_the_winners_folder(no_data_dir, monkeypatch):
    target = no_data_dir / "embedded-race"
    real = paths._embedded_bytes

    def other_process_finishes_first(rel, entry):
        if not target.exists():
            (target / "winner").mkdir(parents=True)
        return real(rel, entry)

    monkeypatch.setattr(paths, "_embedded_bytes", other_process_finishes_first)
    paths._unpack(_manifest(), target)
    assert [p.name for p in target.iterdir()] == ["winner"]
    assert [p.name for p in no_data_dir.iterdir()] == ["embedded-race"]  # the loser's temporary folder is gone


def test_two_processes_unpacking_at_once_agree(no_data_dir):
    code = "from memreasoner import paths; print(paths.embedded_data_dir())"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs) and outs[0] == outs[1]
    assert [p.name for p in no_data_dir.iterdir()] == [outs[0].rsplit("/", 1)[1]]


@pytest.mark.usefixtures("one_thread")
def test_build_train_and_eval_from_the_embedded_default_alone(no_data_dir, tmp_path, capsys):
    from memreasoner.data.books import load_books
    from memreasoner.data.haystack import context_tokens
    from memreasoner.data.sample import read_samples

    bench = tmp_path / "qa1.jsonl"
    assert main(["build", "--task", "qa1", "--lengths", "0k,1k", "--samples", "2", "--out", str(bench)]) == 0
    samples = read_samples(bench)
    assert sorted(s.length for s in samples) == ["0k", "0k", "1k", "1k"]
    # Enough book text for a 1M-token haystack without repeating a sentence.
    assert load_books(paths.books_dir()).total_tokens >= context_tokens("1M")

    model = tmp_path / "M"
    assert main(["train", "--task", "qa1", "--out", str(model), "--steps", "3", "--batch-size", "4", "--warmup", "1",
                 "--train-limit", "40", "--eval-limit", "5", *SMALL]) == 0
    assert json.loads((model / "metrics.json").read_text())["steps"] == 3
    out = tmp_path / "eval.json"
    assert main(["eval", "--model", str(model), "--task", "qa1", "--lengths", "0k,1k,4k", "--samples", "1",
                 "--out", str(out)]) == 0
    assert {r["length"] for r in json.loads(out.read_text())["samples"]} == {"0k", "1k", "4k"}
    assert [p.name for p in no_data_dir.iterdir() if p.name.startswith("embedded-")] == [paths.data_dir().name]


def test_a_full_download_holds_everything_embedded():
    """Once `memreasoner download` has filled its folder, that folder wins over the embedded default:
    it must hold every embedded file, byte for byte."""
    from memreasoner.commands import download

    fetched = download.BABI_FILES | {rel: sha for rel, (_, sha) in download.FILES.items()}
    assert {rel: entry["sha256"] for rel, entry in _manifest().items()}.items() <= fetched.items()
