from pathlib import Path

import pytest

from memreasoner.data import tokens
from memreasoner.data.tokens import count_tokens, gpt2_encoding
from memreasoner.errors import InputError


def test_known_gpt2_ids(data_dir):
    enc = gpt2_encoding(data_dir / "tokenizers" / "gpt2.tiktoken")
    assert enc.encode_ordinary(" hello world") == [23748, 995]
    assert enc.encode_ordinary(" Mary moved to the bathroom.") == [5335, 3888, 284, 262, 12436, 13]
    assert enc.encode("<|endoftext|>", allowed_special="all") == [50256]


def test_default_encoding_comes_from_the_data_dir_and_is_cached(data_dir):
    assert gpt2_encoding() is gpt2_encoding(data_dir / "tokenizers" / "gpt2.tiktoken")
    assert count_tokens(" Mary moved to the bathroom.") == 6
    assert count_tokens("<|endoftext|>") > 1  # special-token text in a book is plain text


def test_explicit_bpe_env_var_that_is_wrong_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("MEMREASONER_GPT2_BPE", str(tmp_path / "nope.tiktoken"))
    with pytest.raises(InputError, match="GPT-2 BPE file") as err:
        gpt2_encoding()
    assert "nope.tiktoken" in str(err.value)


def test_missing_file_falls_back_to_tiktoken_and_explains_when_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("MEMREASONER_DATA", str(tmp_path))

    def offline():
        raise ConnectionError("no network")

    monkeypatch.setattr(tokens, "_encoding_online", offline)
    with pytest.raises(InputError) as err:
        gpt2_encoding()
    message = str(err.value)
    assert str(tmp_path / "tokenizers" / "gpt2.tiktoken") in message
    assert "ConnectionError" in message and "openai/whisper" in message and "\n" not in message


def test_online_fallback_is_used_when_no_file(monkeypatch, tmp_path, data_dir):
    monkeypatch.setenv("MEMREASONER_DATA", str(tmp_path))
    stand_in = gpt2_encoding(data_dir / "tokenizers" / "gpt2.tiktoken")
    monkeypatch.setattr(tokens, "_encoding_online", lambda: stand_in)
    assert gpt2_encoding() is stand_in


def test_a_file_that_is_not_bpe_ranks_is_an_error(tmp_path):
    bad = tmp_path / "bad.tiktoken"
    bad.write_text("this is not base64 ranks\n")
    with pytest.raises(InputError, match="not a GPT-2 BPE ranks file"):
        gpt2_encoding(Path(bad))
