import io
import tarfile

import pytest

from memreasoner.cli import main
from memreasoner.commands import download
from memreasoner.errors import InputError


def _offline(url):
    raise InputError(f"cannot download {url} (Name or service not known); is this machine online?")


def test_offline_is_a_clean_one_line_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(download, "fetch", _offline)
    assert main(["download", "--dest", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("memreasoner: error: cannot download https://")


def test_real_fetch_offline_raises_input_error():
    with pytest.raises(InputError, match="cannot download"):
        download.fetch("http://nonexistent.invalid/file")


def _mirror(data_dir):
    """A fake network serving ../shared/data: the bAbI archive built from its files, the rest as is."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for rel in download.BABI_FILES:
            archive.add(data_dir / rel, arcname="tasks_1-20_v1-2/" + rel.removeprefix("babi/"))
    served = {download.BABI_ARCHIVE: buffer.getvalue()}
    served |= {url: (data_dir / rel).read_bytes() for rel, (url, _) in download.FILES.items()}
    return served


def test_download_lays_out_the_data_dir_and_verifies(monkeypatch, tmp_path, data_dir, capsys):
    served = _mirror(data_dir)
    fetched = []
    monkeypatch.setattr(download, "fetch", lambda url: fetched.append(url) or served[url])
    assert main(["download", "--dest", str(tmp_path)]) == 0
    for rel in [*download.BABI_FILES, *download.FILES]:
        assert (tmp_path / rel).read_bytes() == (data_dir / rel).read_bytes()
    count = len(fetched)
    assert main(["download", "--dest", str(tmp_path)]) == 0  # everything intact: nothing fetched again
    assert len(fetched) == count


def test_checksum_mismatch_is_refused(monkeypatch, tmp_path, data_dir, capsys):
    served = _mirror(data_dir)
    url, _ = download.FILES["tokenizers/gpt2.tiktoken"]
    served[url] = b"tampered"
    monkeypatch.setattr(download, "fetch", lambda u: served[u])
    assert main(["download", "--dest", str(tmp_path)]) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    assert not (tmp_path / "tokenizers" / "gpt2.tiktoken").exists()


def test_without_a_folder_it_fills_the_cache_which_then_wins_over_the_embedded_default(monkeypatch, tmp_path, data_dir,
                                                                                        capsys):
    from memreasoner import paths

    served = _mirror(data_dir)
    monkeypatch.setattr(download, "fetch", lambda url: served[url])
    monkeypatch.delenv(paths.ENV_VAR)
    monkeypatch.setenv("MEMREASONER_CACHE", str(tmp_path))
    assert main(["download"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"fetching {download.BABI_ARCHIVE}" and out[-1].startswith(f"data ready in {tmp_path / 'data'};")
    assert sum(line.startswith("ok ") for line in out) == len(download.BABI_FILES) + len(download.FILES)
    assert paths.data_dir() == tmp_path / "data"
    assert paths.babi_file("qa1", "test") == tmp_path / "data" / "babi" / "en" / "qa1_single-supporting-fact_test.txt"


def test_an_interrupted_default_download_leaves_the_embedded_default_in_use(monkeypatch, tmp_path, data_dir, capsys):
    from memreasoner import paths

    served = _mirror(data_dir)
    url, _ = download.FILES["tokenizers/gpt2.tiktoken"]
    monkeypatch.delenv(paths.ENV_VAR)
    monkeypatch.setenv("MEMREASONER_CACHE", str(tmp_path))
    monkeypatch.setattr(download, "fetch", lambda u: _offline(u) if u == url else served[u])
    assert main(["download"]) == 2  # the bAbI files are in, the BPE file is not
    assert not (tmp_path / "data").exists()
    assert paths.data_dir().name.startswith("embedded-")
    fetched = []
    monkeypatch.setattr(download, "fetch", lambda u: fetched.append(u) or served[u])
    assert main(["download"]) == 0
    assert paths.data_dir() == tmp_path / "data" and (tmp_path / "data" / "tokenizers" / "gpt2.tiktoken").is_file()
    assert download.BABI_ARCHIVE not in fetched  # the rerun resumed: what was in was not fetched again
