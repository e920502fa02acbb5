import json
import sys
import types

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from memreasoner.data.babilong import load_babilong, load_samples, task_and_length
from memreasoner.data.sample import Sample, write_samples
from memreasoner.errors import InputError

RECORDS = [
    {"input": "Mary moved to the bathroom. The sun is up.", "question": "Where is Mary?", "target": "bathroom"},
    {"input": "John went to the hallway.", "question": "Where is John?", "target": "hallway"},
]


def _check(samples, task="", length=""):
    assert [(s.input, s.question, s.target) for s in samples] == [(r["input"], r["question"], r["target"]) for r in RECORDS]
    assert {(s.task, s.length) for s in samples} == {(task, length)}
    assert samples[0].lines() == ["Mary moved to the bathroom.", "The sun is up."]  # Punkt, no offsets


def test_json_list_and_dict_of_columns(tmp_path):
    (tmp_path / "qa1").mkdir()
    listed = tmp_path / "qa1" / "1k.json"
    listed.write_text(json.dumps(RECORDS))
    _check(load_babilong(listed), "qa1", "1k")
    columns = tmp_path / "columns.json"
    columns.write_text(json.dumps({key: [r[key] for r in RECORDS] for key in RECORDS[0]}))
    _check(load_babilong(columns))


def test_jsonl(tmp_path):
    path = tmp_path / "qa2_4k.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n\n")
    _check(load_babilong(path), "qa2", "4k")


def test_parquet_folder_laid_out_like_the_hub(tmp_path):
    root = tmp_path / "babilong-1k-samples"
    for length in ("1k", "2k"):
        (root / length).mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(RECORDS), root / length / "qa1-00000-of-00001.parquet")
    (root / "64k" / "qa4").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(RECORDS), root / "64k" / "qa4" / "0000.parquet")
    samples = load_babilong(root)
    assert [(s.task, s.length) for s in samples] == [("qa1", "1k")] * 2 + [("qa1", "2k")] * 2 + [("qa4", "64k")] * 2
    _check(load_babilong(root / "2k" / "qa1-00000-of-00001.parquet"), "qa1", "2k")


def test_task_and_length_from_paths():
    from pathlib import Path

    assert task_and_length(Path("babilong/128k/qa2-00001-of-00002.parquet")) == ("qa2", "128k")
    assert task_and_length(Path("data/qa10/1M.json")) == ("qa10", "1M")
    assert task_and_length(Path("x/records.jsonl")) == ("", "")


def test_our_own_files_keep_every_field(tmp_path):
    sample = Sample("A b. C d.", "q?", "t", task="qa1", length="0k", sentence_starts=[0, 5], facts=[1], story=[0, 1], id="qa1-0k-3")
    write_samples([sample], tmp_path / "ours.jsonl")
    assert load_samples(tmp_path / "ours.jsonl") == [sample]


@pytest.mark.parametrize(
    "name, content, where, message",
    [
        ("a.json", json.dumps([RECORDS[0], {"input": "x", "question": "y"}]), "a.json[1]:", "lacks field\\(s\\) target"),
        ("b.json", json.dumps([RECORDS[0], {**RECORDS[1], "target": ["hallway"]}]), "b.json[1]:", "must be text"),
        ("c.jsonl", json.dumps(RECORDS[0]) + "\n{not json\n", "c.jsonl:2:", "not valid JSON"),
        ("d.jsonl", json.dumps(RECORDS[0]) + "\n[1, 2]\n", "d.jsonl:2:", "expected a JSON object"),
        ("e.json", '{"input": "x"}', "e.json:", "expected a list of records or a dict of columns"),
        ("f.json", '[{"input": ', "f.json:1:", "not valid JSON"),
        ("g.parquet", b"not parquet", "g.parquet:", "cannot read Parquet"),
        ("h.csv", "input,question,target", "h.csv:", "unknown data format"),
    ],
)
def test_bad_files_name_file_and_record(tmp_path, name, content, where, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InputError, match=message) as err:
        load_babilong(path)
    assert str(err.value).startswith(str(tmp_path / where))


def test_parquet_without_the_fields(tmp_path):
    path = tmp_path / "x.parquet"
    pq.write_table(pa.Table.from_pylist([{"input": "a", "answer": "b"}]), path)
    with pytest.raises(InputError, match="lacks column\\(s\\) question, target"):
        load_babilong(path)


def test_missing_and_empty(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_babilong(tmp_path / "nope.json")
    with pytest.raises(InputError, match="no .json"):
        load_babilong(tmp_path)
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InputError, match="no records"):
        load_babilong(tmp_path / "empty.jsonl")


def test_records_without_ids_get_task_length_index(tmp_path):
    root = tmp_path / "hub"
    (root / "data" / "qa1").mkdir(parents=True)
    (root / "data" / "qa1" / "1k.json").write_text(json.dumps(RECORDS))
    (root / "128k").mkdir()
    for shard in range(2):  # one task and length in two shards: the count runs on, so ids stay unique
        pq.write_table(pa.Table.from_pylist(RECORDS), root / "128k" / f"qa2-0000{shard}-of-00002.parquet")
    samples = load_babilong(root)
    assert [s.id for s in samples] == ["qa2-128k-0", "qa2-128k-1", "qa2-128k-2", "qa2-128k-3", "qa1-1k-0", "qa1-1k-1"]
    assert samples[5].question == "Where is John?" and samples[5].target == "hallway"
    named = tmp_path / "named.jsonl"
    named.write_text(json.dumps({**RECORDS[0], "id": "mine"}) + "\n" + json.dumps(RECORDS[1]) + "\n")
    assert [s.id for s in load_babilong(named)] == ["mine", "?-?-1"]  # a lone file may lack task and length


def test_a_folder_file_without_task_and_length_names_the_file(tmp_path):
    (tmp_path / "qa1").mkdir()
    (tmp_path / "qa1" / "1k.json").write_text(json.dumps(RECORDS))
    (tmp_path / "qa1" / "extra.json").write_text(json.dumps(RECORDS))
    with pytest.raises(InputError, match="cannot tell this file's task and length") as err:
        load_babilong(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'qa1' / 'extra.json'}: ")
    # our own files say their task and length in each record, whatever the file is called
    (tmp_path / "qa1" / "extra.json").write_text(json.dumps([{**r, "task": "qa1", "length": "2k"} for r in RECORDS]))
    assert [s.id for s in load_babilong(tmp_path)] == ["qa1-1k-0", "qa1-1k-1", "qa1-2k-0", "qa1-2k-1"]


def _one_line(err) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_hub_without_datasets_says_what_to_download(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed
    with pytest.raises(InputError) as err:
        load_samples("hf:RMT-team/babilong/1k/qa1")
    text = _one_line(err)
    assert "needs the `datasets` library" in text
    assert "huggingface-cli download RMT-team/babilong --repo-type dataset --include 'data/qa1/1k.json'" in text
    assert text.endswith("--data DIR/data/qa1/1k.json")
    with pytest.raises(InputError) as err:
        load_samples("hf:RMT-team/babilong-1k-samples/4k/qa2")
    assert "--include '4k/qa2-*.parquet'" in _one_line(err) and str(err.value).endswith("--data DIR/4k")
    with pytest.raises(InputError, match="expected hf:OWNER/NAME/CONFIG/SPLIT"):
        load_samples("hf:RMT-team/babilong/1k")


def test_hub_offline_and_online(monkeypatch):
    hub = types.ModuleType("datasets")
    calls = []

    def offline(repo, config, split):
        raise ConnectionError("Couldn't reach 'RMT-team/babilong' on the Hub\n(LocalEntryNotFoundError)")

    hub.load_dataset = offline
    monkeypatch.setitem(sys.modules, "datasets", hub)
    with pytest.raises(InputError) as err:
        load_samples("hf:RMT-team/babilong/1k/qa1")
    text = _one_line(err)
    assert "(ConnectionError: Couldn't reach 'RMT-team/babilong' on the Hub)" in text and "--data DIR/data/qa1/1k.json" in text
    hub.load_dataset = lambda repo, config, split: calls.append((repo, config, split)) or list(RECORDS)
    samples = load_samples("hf:RMT-team/babilong/1k/qa1")
    assert calls == [("RMT-team/babilong", "1k", "qa1")]
    assert [(s.task, s.length, s.id) for s in samples] == [("qa1", "1k", "qa1-1k-0"), ("qa1", "1k", "qa1-1k-1")]
    hub.load_dataset = lambda repo, config, split: [{"input": "x", "question": "y"}]
    with pytest.raises(InputError, match=r"hf:RMT-team/babilong/1k/qa1\[0\]: record lacks field\(s\) target"):
        load_samples("hf:RMT-team/babilong/1k/qa1")
