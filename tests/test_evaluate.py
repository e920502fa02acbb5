"""The harness scores any Reader the same way; checked with a scripted reader whose answers we choose."""

from __future__ import annotations

import csv
import json

from memreasoner.data.sample import Sample
from memreasoner.evaluate import Results, evaluate, length_order, save_results
from memreasoner.plots import heatmap
from memreasoner.reader import Answer, Reader


class ScriptedReader(Reader):
    """Answers from a fixed script keyed by sample id (a test double, not a model)."""

    name = "scripted"

    def __init__(self, script: dict[str, tuple[str, list[int]]]):
        self.script = script

    def answer(self, samples):
        return [Answer(*self.script[s.id]) for s in samples]

    def save(self, path):
        raise NotImplementedError

    @classmethod
    def load(cls, path, device="cpu"):
        raise NotImplementedError


def _sample(id_, length, target, facts):
    return Sample(input="Mary went to the kitchen. John went to the garden.", question="Where is Mary?",
                  target=target, task="qa1", length=length, sentence_starts=[0, 26], facts=facts, id=id_)


def test_each_row_keeps_its_story_sentences_without_the_haystack():
    text = "It was late. Mary went to the kitchen. The wind rose. John went to the garden."
    with_offsets = Sample(input=text, question="Where is Mary?", target="kitchen", task="qa1",
                          sentence_starts=[0, 13, 39, 53], facts=[1], story=[1, 3], id="a")
    split_here = Sample(input=text, question="Where is Mary?", target="kitchen", task="qa1", facts=[1], story=[1, 3], id="b")
    rows = evaluate(ScriptedReader({"a": ("kitchen", [1]), "b": ("kitchen", [1])}), [with_offsets, split_here],
                    progress=False).samples
    story = [(1, "Mary went to the kitchen."), (3, "John went to the garden.")]
    assert rows[0]["story"] == rows[1]["story"] == story


def test_accuracy_and_fact_hits_per_length(tmp_path):
    samples = [_sample("a", "1k", "kitchen", [0]), _sample("b", "1k", "kitchen", [0]),
               _sample("c", "0k", "garden", [1]), _sample("d", "0k", "garden", [1])]
    reader = ScriptedReader({"a": ("kitchen", [0]), "b": ("garden", [1]), "c": ("Garden.", [1]), "d": ("garden", [0])})
    results = evaluate(reader, samples, batch_size=3, progress=False)
    summary = results.to_json()
    assert list(summary["accuracy"]) == ["0k", "1k"]  # sorted by length, not by appearance
    assert summary["accuracy"] == {"0k": 1.0, "1k": 0.5}
    assert summary["facts_hit"] == {"0k": 0.5, "1k": 0.5}
    assert summary["n"] == {"0k": 2, "1k": 2}
    assert all(row["tokens"] == 12 for row in summary["samples"])  # GPT-2 tokens of the input

    out = tmp_path / "res.json"
    results.read = {"data": "qa1.jsonl", "lines": "punkt"}
    save_results(results, out)
    saved = json.loads(out.read_text())
    assert saved["accuracy"]["1k"] == 0.5
    assert (saved["data"], saved["lines"]) == ("qa1.jsonl", "punkt")  # which file, and how its lines were read
    rows = list(csv.DictReader(open(out.with_suffix(".csv"))))
    assert [r["prediction"] for r in rows] == ["kitchen", "garden", "Garden.", "garden"]
    assert "1k" in results.table() and "50.0%" in results.table()


def test_no_fact_labels_means_no_fact_score():
    sample = _sample("a", "0k", "kitchen", [])
    results = evaluate(ScriptedReader({"a": ("kitchen", [0])}), [sample], progress=False)
    assert results.to_json()["facts_hit"] == {}
    assert Results("x", results.samples).summary("correct") == {"0k": 1.0}


def test_length_labels_sort_numerically():
    assert sorted(["1M", "128k", "0k", "16k", "2k", "10M"], key=length_order) == ["0k", "2k", "16k", "128k", "1M", "10M"]


def test_heatmap_writes_png(tmp_path):
    path = tmp_path / "h.png"
    heatmap({"qa1": {"0k": 1.0, "4k": 0.5}, "qa2": {"0k": 0.25}}, path, title="t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
