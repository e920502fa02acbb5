import json

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
