"""The paper's experiments as configs: each names the models to train and the sets to test them on.

`memreasoner experiment NAME` trains every variant as `memreasoner train` would (training.train with
the variant's flags: an experiment is flags, not a copy of the training script), builds each test set once, evaluates every variant
on the sets of its task with the same samples, and writes `results.json`, `table.md` and
`heatmap.png`. Defaults are small enough for a 2-core CPU; `--full` uses the paper's sizes
(100 samples per length, every length).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from .common import lengths_of, load_or_build, markdown, percents, train_once, write_report


@dataclass
class Variant:
    name: str
    task: str  # what it is trained on; it is tested on the sets of the same task
    train: list[str] = field(default_factory=list)  # extra `memreasoner train` flags
    options: dict = field(default_factory=dict)  # inference-time options (Reader.with_options)
    same_model_as: str = ""  # reuse another variant's checkpoint (inference-only ablations)


@dataclass
class TestSet:
    name: str
    task: str
    lengths: list[str]  # small default
    full_lengths: list[str]  # with --full
    unseen: bool = False  # stories with names, places and objects never seen in training


@dataclass
class Experiment:
    name: str
    description: str
    variants: list[Variant]
    sets: list[TestSet]


SHORT = ["0k", "1k", "4k"]
TO_128K = ["0k", "1k", "2k", "4k", "8k", "16k", "32k", "64k", "128k"]

EXPERIMENTS = {e.name: e for e in [
    Experiment("single-hop", "(a) qa1, 0% supporting-fact labels, alpha = 1, one hop, evaluated 0k-128k",
               [Variant("alpha1-sf0", "qa1", ["--sf-fraction", "0", "--alpha", "1", "--hops", "1"])],
               [TestSet("qa1", "qa1", ["0k", "1k", "4k", "16k"], TO_128K)]),
    Experiment("temporal", "(b) temporal encoding on qa1: BiGRU vs sinusoidal vs none (Larimar)",
               [Variant(t, "qa1", ["--temporal", t]) for t in ("bigru", "sinusoidal", "none")],
               [TestSet("qa1", "qa1", SHORT, ["0k", "1k", "2k", "4k"])]),
    Experiment("sf-sweep", "(c) qa2 with supporting-fact labels on 0/1/5/10/100% of training questions",
               [Variant(f"sf{round(f * 100)}%", "qa2", ["--sf-fraction", str(f)]) for f in (0, 0.01, 0.05, 0.1, 1.0)],
               [TestSet("qa2", "qa2", ["0k", "1k"], ["0k", "1k"])]),
    Experiment("alpha", "(d) query-update weight alpha = 1 vs 8 on qa2",
               [Variant(f"alpha{a}", "qa2", ["--alpha", str(a)]) for a in (1, 8)],
               [TestSet("qa2", "qa2", SHORT, ["0k", "1k", "2k", "4k", "8k"])]),
    Experiment("iu", "(e) inference-time update on/off (same trained model) on qa1 and qa2",
               [Variant("qa1-iu", "qa1"), Variant("qa1-no-iu", "qa1", options={"iu": False}, same_model_as="qa1-iu"),
                Variant("qa2-iu", "qa2"), Variant("qa2-no-iu", "qa2", options={"iu": False}, same_model_as="qa2-iu")],
               [TestSet("qa1", "qa1", ["1k", "4k", "16k"], TO_128K[1:]),
                TestSet("qa2", "qa2", ["1k", "4k", "16k"], TO_128K[1:])]),
    Experiment("unseen", "(f) unseen answers: trained on bAbI alone (-babi-only) or as by default, tested on names, "
               "places, objects never seen in training",
               [Variant("qa1-babi-only", "qa1", ["--augment", "0"]), Variant("qa1", "qa1"),
                Variant("qa2-babi-only", "qa2", ["--augment", "0", "--sf-fraction", "0.01", "--steps", "1000"]),
                Variant("qa2", "qa2")],
               [TestSet("qa1-unseen", "qa1", SHORT, SHORT, unseen=True),
                TestSet("qa2-unseen", "qa2", SHORT, SHORT, unseen=True)]),
    Experiment("vt", "(g) RULER variable tracking: trained on short chains without filler, tested 0k-128k",
               [Variant("vt", "vt")],
               [TestSet("vt", "vt", ["0k", "1k", "4k", "16k"], TO_128K)]),
]}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise InputError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def run_experiment(name: str, out: str | Path, full: bool = False, samples: int | None = None,
                   lengths: list[str] | None = None, train_flags: list[str] | None = None, seed: int = 0) -> dict:
    """Train, build, evaluate; return {"variants": {variant: {set: {length: accuracy}}}, ...}."""
    from ..evaluate import evaluate, save_results
    from ..reader import load_reader

    exp = get_experiment(name)
    out = Path(out)
    n = samples or (100 if full else 20)
    folders = {}
    for variant in exp.variants:
        folders[variant.name] = out / "models" / (variant.same_model_as or variant.name)
        if not variant.same_model_as:
            train_once("memreasoner", variant.task, folders[variant.name], [*variant.train, *(train_flags or [])])

    table: dict[str, dict[str, dict[str, float]]] = {}
    for test in exp.sets:
        test_lengths = lengths or (test.full_lengths if full else test.lengths)
        samples_ = load_or_build(out / "data", test.name, test.task, test_lengths, n, test.unseen, seed)
        for variant in exp.variants:
            if variant.task != test.task:
                continue
            reader = load_reader(str(folders[variant.name])).with_options(**variant.options)
            results = evaluate(reader, samples_, model_name=variant.name)
            save_results(results, out / "results" / f"{variant.name}--{test.name}.json")
            table.setdefault(variant.name, {})[test.name] = results.summary("correct")
            print(f"\n{exp.name} / {variant.name} on {test.name}\n{results.table()}")

    summary = {"experiment": exp.name, "description": exp.description, "samples_per_length": n,
               "seed": seed, "variants": table}
    rows = {f"{v} / {t}" if len(exp.sets) > 1 else v: accs for v, sets in table.items() for t, accs in sets.items()}
    write_report(out, summary, markdown_table(rows, exp.description, n), rows,
                 title=f"{exp.name}: exact-match accuracy (%)")
    return summary


def markdown_table(rows: dict[str, dict[str, float]], title: str, n: int) -> str:
    lengths = lengths_of(rows)
    lines = [f"{title} ({n} samples per length, exact match %)", "",
             *markdown("variant", lengths, {label: percents(accs, lengths) for label, accs in rows.items()})]
    return "\n".join(lines) + "\n"
