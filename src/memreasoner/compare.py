"""Peers side by side: every model trained on the same data under the same time budget, then tested
on the same samples, in the shape of the BABILong figures (models x lengths).

`memreasoner compare` trains each model through `memreasoner train` (so the comparison runs exactly
what a user would run), or loads them from an earlier comparison (`--from`), builds the test samples
once, evaluates every model on them, and writes into the output folder:
    results.json   {model: {"accuracy": {length: fraction}, "tokens_per_s": {length: float},
                            "params": int, "train_minutes": float, ...}}
    table.md       accuracy and speed tables (also printed), with parameters and training time
    heatmap.png    accuracy, models x lengths
    settings.json  the command's settings (task, lengths, samples, budget, seed, machine)
    results/MODEL.json, .csv   every answer (the `memreasoner eval` format)
    models/MODEL/  checkpoints; data/  the test samples
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from .errors import InputError

ALL_MODELS = ["memreasoner", "larimar", "rmt", "mamba", "transformer", "memn2n", "retrieval"]
# The bAbI training set every model gets, unless --variant says otherwise: the ones MemReasoner's trainer
# defaults to (1k questions for qa1; 10k for qa2, which it needs). Passed to every trainer explicitly,
# so no model falls back on a default of its own.
DEFAULT_VARIANT = {"qa1": "en", "qa2": "en-10k"}
METRICS_FILE, TRAINER_FILE = "metrics.json", "trainer.pt"


def train_model(name: str, task: str, variant: str, folder: Path, minutes: float, seed: int, flags: list[str]) -> None:
    """Train through the CLI; a finished model (metrics.json written last) is kept, an interrupted one resumed."""
    from .cli import main

    if (folder / METRICS_FILE).is_file():
        return
    resume = ["--resume"] if (folder / TRAINER_FILE).exists() else []
    code = main(["train", "--model", name, "--task", task, "--variant", variant, "--minutes", str(minutes),
                 "--seed", str(seed), *flags, "--out", str(folder), *resume])
    if code:
        raise InputError(f"training {name} failed (exit {code})", folder)


def flags_for(model: str, flags: list[str]) -> list[str]:
    """The `memreasoner train` flags for one model: "FLAG" goes to every model, "MODEL:FLAG" to MODEL only."""
    out = []
    for flag in flags:
        target, sep, rest = flag.partition(":")
        if sep and not target.startswith("-"):
            if target == model:
                out.append(rest)
        else:
            out.append(flag)
    return out


def parameter_counts(reader) -> tuple[int | None, int]:
    """(parameters in the model, parameters of frozen encoders it calls but does not store)."""
    from torch import nn

    from .model.encoder import LineEncoder

    if not isinstance(reader, nn.Module):
        return None, 0
    own = sum(p.numel() for p in reader.parameters())
    frozen = sum(p.numel() for m in reader.modules() if isinstance(m, LineEncoder) and not m.trainable
                 for p in m.model.parameters())
    return own, frozen


def run_compare(models: list[str], task: str, lengths: list[str], samples: int, budget_minutes: float,
                out: str | Path, from_dir: str | Path | None = None, unseen: bool = False, seed: int = 0,
                variant: str | None = None, train_flags: list[str] | None = None, progress: bool = True) -> dict:
    from .commands.train import TRAINERS
    from .data.haystack import build_benchmark
    from .data.sample import read_samples, write_samples
    from .evaluate import evaluate, save_results
    from .plots import heatmap
    from .reader import REGISTRY, load_reader

    unknown = [m for m in models if m not in REGISTRY or m not in TRAINERS]
    if unknown:
        raise InputError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(ALL_MODELS)}")
    if task not in DEFAULT_VARIANT:
        raise InputError(f"compare trains on bAbI: --task {' or '.join(DEFAULT_VARIANT)}")
    variant = variant or DEFAULT_VARIANT[task]
    out = Path(out)
    source = Path(from_dir) if from_dir is not None else out
    folders = {m: source / "models" / m for m in models}
    for name, folder in folders.items():
        if from_dir is not None:
            if not (folder / "config.json").is_file():
                raise InputError(f"no trained {name} in --from (expected a checkpoint folder)", folder)
        else:
            train_model(name, task, variant, folder, budget_minutes, seed, flags_for(name, train_flags or []))

    data_file = out / "data" / f"{task}{'-unseen' if unseen else ''}-{'_'.join(lengths)}-n{samples}-s{seed}.jsonl"
    if data_file.is_file():
        test = read_samples(data_file)
    else:
        test = build_benchmark(task, lengths, samples, unseen=unseen, seed=seed, progress=progress)
        write_samples(test, data_file)

    table: dict[str, dict] = {}
    for name in models:
        reader = load_reader(f"{name}:{folders[name]}")
        results = evaluate(reader, test, model_name=name, progress=progress)
        save_results(results, out / "results" / f"{name}.json")
        metrics_file = folders[name] / METRICS_FILE
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        params, frozen = parameter_counts(reader)
        seconds = metrics.get("train_seconds")
        table[name] = {
            "accuracy": results.summary("correct"),
            "accuracy_babilong": results.summary("babilong"),
            "tokens_per_s": results.tokens_per_s(),
            "params": params,
            "frozen_params": frozen,
            "train_minutes": round(seconds / 60, 2) if seconds is not None else None,
            "train_steps": metrics.get("steps"),
        }
        over = over_window(results)
        if any(over.values()):
            table[name]["over_window"] = over
        print(f"\n{name}\n{results.table()}")

    settings = {"task": task, "lengths": lengths, "samples_per_length": samples,
                "budget_minutes": None if from_dir else budget_minutes, "train_variant": None if from_dir else variant,
                "unseen": unseen, "seed": seed, "models": models, "from": str(from_dir) if from_dir else None,
                "train_flags": train_flags or [], "machine": machine()}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", table)
    write_json(out / "settings.json", settings)
    (out / "table.md").write_text(markdown(table, settings))
    label = f"{task}{' unseen' if unseen else ''}"
    heatmap({m: r["accuracy"] for m, r in table.items()}, out / "heatmap.png",
            title=f"{label}: exact match (%)")  # short: the figure is as wide as its lengths
    print("\n" + (out / "table.md").read_text())
    return table


def over_window(results) -> dict[str, float]:
    """Per length, the fraction of inputs the model could not read (the transformer beyond its window)."""
    return {length: sum(r["trace"].get("status") == "over window" for r in rows) / len(rows)
            for length, rows in results.by_length().items()}


def machine() -> str:
    return f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPU cores, {platform.system()}".replace("  ", " ")


def write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    tmp.replace(path)


def markdown(table: dict[str, dict], settings: dict) -> str:
    """Accuracy (exact match, %) and speed (GPT-2 tokens per second) tables, models x lengths."""
    from .evaluate import length_order

    lengths = sorted({l for r in table.values() for l in r["accuracy"]}, key=length_order)
    head = "| model | " + " | ".join(lengths) + " |"
    rule = "|---|" + "---:|" * len(lengths)
    trained = (f"models from {settings['from']}" if settings["from"]
               else f"trained on bAbI {settings['train_variant']} for at most {settings['budget_minutes']:g} min each")
    title = (f"{settings['task']}{' (unseen answers)' if settings['unseen'] else ''}, "
             f"{settings['samples_per_length']} samples per length, {trained}")
    lines = [f"Accuracy: {title} (exact match, %)", "",
             head[:-1] + "| params | train min |", rule + "---:|---:|"]
    for name, r in table.items():
        cells = [f"{r['accuracy'][l] * 100:.0f}" if l in r["accuracy"] else "" for l in lengths]
        params = f"{r['params']:,}" if r["params"] is not None else "-"
        if r.get("frozen_params"):
            params += f" + {r['frozen_params']:,} frozen"
        minutes = f"{r['train_minutes']:.1f}" if r["train_minutes"] is not None else "-"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {params} | {minutes} |")
    lines += ["", "Speed: GPT-2 tokens read per second while answering", "", head, rule]
    for name, r in table.items():
        cells = []
        for l in lengths:
            if r.get("over_window", {}).get(l) == 1.0:
                cells.append("over window")  # nothing was read: a speed would mean nothing
            else:
                cells.append(f"{r['tokens_per_s'][l]:,.0f}" if l in r["tokens_per_s"] else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
