"""Peers side by side: every model trained on the same data under the same budget, then tested
on the same samples, in the shape of the BABILong figures (models x lengths).

`memreasoner compare` trains each model as `memreasoner train` would (training.train), or loads them
from an earlier comparison (`--from`), builds the test samples once, evaluates every model on them,
and writes into the output folder:
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

from .. import registry
from ..errors import InputError
from .common import lengths_of, load_or_build, markdown, percents, train_once, write_json, write_report

# The bAbI training set every model gets, unless --variant says otherwise: the ones MemReasoner's trainer
# defaults to (1k questions for qa1; 10k for qa2, which it needs). Passed to every trainer explicitly,
# so no model falls back on a default of its own.
DEFAULT_VARIANT = {"qa1": "en", "qa2": "en-10k"}


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

    from ..model.encoder import LineEncoder

    if not isinstance(reader, nn.Module):
        return None, 0
    own = sum(p.numel() for p in reader.parameters())
    frozen = sum(p.numel() for m in reader.modules() if isinstance(m, LineEncoder) and not m.trainable
                 for p in m.model.parameters())
    return own, frozen


def run_compare(models: list[str], task: str, lengths: list[str], samples: int, budget_minutes: float | None,
                out: str | Path, budget_steps: int | None = None, from_dir: str | Path | None = None, unseen: bool = False, seed: int = 0,
                variant: str | None = None, train_flags: list[str] | None = None, progress: bool = True) -> dict:
    from ..evaluate import evaluate, save_results
    from ..reader import load_reader

    unknown = [m for m in models if m not in registry.MODELS]
    if unknown:
        raise InputError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(registry.MODELS)}")
    if task not in DEFAULT_VARIANT:
        raise InputError(f"compare trains on bAbI: --task {' or '.join(DEFAULT_VARIANT)}")
    variant = variant or DEFAULT_VARIANT[task]
    for name in models:
        fixed = registry.get(name).variant
        if from_dir is None and fixed and fixed != variant:
            raise InputError(f"{name} trains on bAbI {fixed} only; compare it with the others on --variant {fixed}")
    out = Path(out)
    source = Path(from_dir) if from_dir is not None else out
    folders = {m: source / "models" / m for m in models}
    for name, folder in folders.items():
        if from_dir is not None:
            if not (folder / "config.json").is_file():
                raise InputError(f"no trained {name} in --from (expected a checkpoint folder)", folder)
        else:
            train_once(name, task, folder, flags_for(name, train_flags or []), variant=variant,
                       minutes=budget_minutes, steps=budget_steps, seed=seed)
    test = load_or_build(out / "data", f"{task}{'-unseen' if unseen else ''}", task, lengths, samples, unseen, seed,
                         progress)

    table: dict[str, dict] = {}
    for name in models:
        reader = load_reader(f"{name}:{folders[name]}")
        results = evaluate(reader, test, model_name=name, progress=progress)
        save_results(results, out / "results" / f"{name}.json")
        metrics_file = folders[name] / "metrics.json"
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
                "budget_minutes": None if from_dir else budget_minutes,
                "budget_steps": None if from_dir else budget_steps, "train_variant": None if from_dir else variant,
                "unseen": unseen, "seed": seed, "models": models, "from": str(from_dir) if from_dir else None,
                "train_flags": train_flags or [], "machine": machine()}
    write_json(out / "settings.json", settings)
    label = f"{task}{' unseen' if unseen else ''}"
    write_report(out, table, tables(table, settings), {m: r["accuracy"] for m, r in table.items()},
                 title=f"{label}: exact match (%)")  # short: the figure is as wide as its lengths
    return table


def over_window(results) -> dict[str, float]:
    """Per length, the fraction of inputs the model could not read (the transformer beyond its window)."""
    return {length: sum(r["trace"].get("status") == "over window" for r in rows) / len(rows)
            for length, rows in results.by_length().items()}


def machine() -> str:
    return f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPU cores, {platform.system()}".replace("  ", " ")


def tables(table: dict[str, dict], settings: dict) -> str:
    """Accuracy (exact match, %) and speed (GPT-2 tokens per second) tables, models x lengths."""
    lengths = lengths_of({name: r["accuracy"] for name, r in table.items()})
    trained = f"models from {settings['from']}" if settings["from"] else f"trained on bAbI {settings['train_variant']} " + (
        f"for {settings['budget_steps']} optimiser steps each" if settings.get("budget_steps")
        else f"for at most {settings['budget_minutes']:g} min each" if settings.get("budget_minutes")
        else "for each model's own default number of steps")
    title = (f"{settings['task']}{' (unseen answers)' if settings['unseen'] else ''}, "
             f"{settings['samples_per_length']} samples per length, {trained}")
    accuracy = {}
    for name, r in table.items():
        params = f"{r['params']:,}" if r["params"] is not None else "-"
        if r.get("frozen_params"):
            params += f" + {r['frozen_params']:,} frozen"
        minutes = f"{r['train_minutes']:.1f}" if r["train_minutes"] is not None else "-"
        steps = f"{r['train_steps']:,}" if r.get("train_steps") is not None else "-"
        accuracy[name] = [*percents(r["accuracy"], lengths), params, steps, minutes]
    speed = {}
    for name, r in table.items():
        cells = []
        for l in lengths:
            if r.get("over_window", {}).get(l) == 1.0:
                cells.append("over window")  # nothing was read: a speed would mean nothing
            else:
                cells.append(f"{r['tokens_per_s'][l]:,.0f}" if l in r["tokens_per_s"] else "")
        speed[name] = cells
    lines = [f"Accuracy: {title} (exact match, %)", "", *markdown("model", [*lengths, "params", "train steps", "train min"], accuracy),
             "", "Speed: GPT-2 tokens read per second while answering", "", *markdown("model", lengths, speed)]
    return "\n".join(lines) + "\n"
