"""Peers side by side: every model trained on the same data under the same budget, then tested
on the same samples, in the shape of the BABILong figures (models x lengths).

`memreasoner compare` trains each model as `memreasoner train` would (training.train), or loads them
from an earlier comparison (`--from`), builds the test samples once, evaluates every model on them,
and writes into the output folder:
    results.json   {model: {"accuracy": {length: fraction}, "tokens_per_s": {length: float},
                            "params": int, "train_minutes": float, "babi_test": {"accuracy", "n", "source"},
                            "under_trained": bool, ...}}
    table.md       accuracy and speed tables (also printed), with parameters, training time, each model's
                   accuracy on the bare bAbI test questions and a flag where it is far below the best's
    heatmap.png    accuracy, models x lengths
    settings.json  the command's settings (task, lengths, samples, budget, seed, machine, cache warm-up)
    results/MODEL.json, .csv   every answer (the `memreasoner eval` format)
    models/MODEL/  checkpoints; data/  the test samples

Speed is measured from one cache state for all: before any model answers, every line and question of
the test samples is encoded into the on-disk embedding cache by each frozen encoder the models read
lines through (`warm_cache`), and their in-process caches are emptied. The first encoder-based model
would otherwise pay for encoding the books and the next read them for free.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from .. import registry
from ..errors import InputError
from .common import lengths_of, load_or_build, markdown, percents, train_once, write_json, write_report

UNDER_TRAINED = 0.20  # a model this far below the best on the bare bAbI test questions is flagged


def default_variant(task: str) -> str:
    """The bAbI training set every model gets, unless --variant says otherwise: the one MemReasoner's
    trainer takes for the task (qa3: en, as en-10k has no qa3 training file). Passed to every trainer
    explicitly, so no model falls back on a default of its own."""
    from ..model.train import TASK_DEFAULTS

    babi = [t for t, d in TASK_DEFAULTS.items() if d.get("variant")]  # vt has no bAbI set
    if task not in babi:
        raise InputError(f"compare trains on bAbI: --task {', '.join(babi)}")
    return TASK_DEFAULTS[task]["variant"]


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

    if not isinstance(reader, nn.Module):
        return None, 0
    own = sum(p.numel() for p in reader.parameters())
    frozen = sum(p.numel() for m in frozen_encoders(reader) for p in m.model.parameters())
    return own, frozen


def run_compare(models: list[str], task: str, lengths: list[str], samples: int, budget_minutes: float | None,
                out: str | Path, budget_steps: int | None = None, from_dir: str | Path | None = None, unseen: bool = False, seed: int = 0,
                variant: str | None = None, train_flags: list[str] | None = None, progress: bool = True) -> dict:
    from ..evaluate import evaluate, save_results
    from ..reader import load_reader

    unknown = [m for m in models if m not in registry.MODELS]
    if unknown:
        raise InputError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(registry.MODELS)}")
    variant = variant or default_variant(task)
    for name in models:
        tasks = registry.get(name).tasks
        if tasks and task not in tasks:
            raise InputError(f"{name} trains on {', '.join(tasks)} only, not {task}")
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

    readers = {name: load_reader(f"{name}:{folders[name]}") for name in models}
    warmup = warm_cache(readers.values(), test)
    table: dict[str, dict] = {}
    for name, reader in readers.items():
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
            "babi_test": babi_test(metrics, results),
        }
        over = over_window(results)
        if any(over.values()):
            table[name]["over_window"] = over
        print(f"\n{name}\n{results.table()}")
    for name, r in table.items():
        if r["babi_test"] is None:  # no number from training and no 0k in --lengths: answer the bare stories
            bare = load_or_build(out / "data", task, task, ["0k"], samples, False, seed, progress)
            r["babi_test"] = babi_test({}, evaluate(readers[name], bare, model_name=name, progress=progress))
    flag_under_trained(table)

    settings = {"task": task, "lengths": lengths, "samples_per_length": samples,
                "budget_minutes": None if from_dir else budget_minutes,
                "budget_steps": None if from_dir else budget_steps, "train_variant": None if from_dir else variant,
                "unseen": unseen, "seed": seed, "models": models, "from": str(from_dir) if from_dir else None,
                "train_flags": train_flags or [], "machine": machine(), "cache_warmup": warmup}
    write_json(out / "settings.json", settings)
    label = f"{task}{' unseen' if unseen else ''}"
    write_report(out, table, tables(table, settings), {m: r["accuracy"] for m, r in table.items()},
                 title=f"{label}: exact match (%)")  # short: the figure is as wide as its lengths
    return table


def babi_test(metrics: dict, results) -> dict | None:
    """Accuracy on the bare bAbI test questions (0k, no haystack): what the trainer recorded in
    metrics.json (MemReasoner's and Larimar's "accuracy", the baselines' "held_out_accuracy"), else
    this run's 0k samples; None if neither exists."""
    for key, n in (("accuracy", "n"), ("held_out_accuracy", "held_out")):
        if metrics.get(key) is not None:
            return {"accuracy": metrics[key], "n": metrics[n], "source": "metrics.json"}
    rows = results.by_length().get("0k")
    if not rows:
        return None
    return {"accuracy": results.summary("correct")["0k"], "n": len(rows), "source": "0k samples"}


def flag_under_trained(table: dict[str, dict]) -> None:
    """Mark each model whose bAbI test accuracy is more than UNDER_TRAINED below the best model's: its
    haystack numbers say more about its training than about its reading."""
    best = max(r["babi_test"]["accuracy"] for r in table.values())
    for r in table.values():
        r["under_trained"] = best - r["babi_test"]["accuracy"] > UNDER_TRAINED + 1e-9  # exactly 20 points is not more


def frozen_encoders(reader) -> list:
    """The frozen line encoders a model reads through (they serve lines from the embedding cache)."""
    from torch import nn

    from ..model.encoder import LineEncoder

    if not isinstance(reader, nn.Module):
        return []
    return [m for m in reader.modules() if isinstance(m, LineEncoder) and not m.trainable]


def warm_cache(readers, samples, batch: int = 4096) -> dict | None:
    """Encode every line and question of `samples` into the on-disk embedding cache with each distinct
    frozen encoder of the models, then empty every encoder's in-process cache: each model is then timed
    reading the same warm disk cache. None when no model reads through one."""
    from ..model.embedding_cache import default_path

    encoders = [e for r in readers for e in frozen_encoders(r)]
    if not encoders:
        return None
    t = time.perf_counter()
    texts = list(dict.fromkeys(text for s in samples for text in [*s.lines(), s.question]))
    warmed: dict[str, str] = {}  # cache identity -> encoder name
    for encoder in encoders:
        encoder.use_disk_cache(default_path())  # also its identity digest: outside the timing
        if encoder.disk_cache.encoder_id not in warmed:
            warmed[encoder.disk_cache.encoder_id] = encoder.name
            for start in range(0, len(texts), batch):
                encoder(texts[start:start + batch])
                encoder.clear_cache()
    for encoder in encoders:
        encoder.clear_cache()  # no model starts with lines in memory
    return {"seconds": round(time.perf_counter() - t, 1), "texts": len(texts), "encoders": sorted(set(warmed.values()))}


def over_window(results) -> dict[str, float]:
    """Per length, the fraction of inputs the model could not read (the transformer beyond its window)."""
    return {length: sum(r["trace"].get("status") == "over window" for r in rows) / len(rows)
            for length, rows in results.by_length().items()}


def machine() -> str:
    return f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPU cores, {platform.system()}".replace("  ", " ")


def tables(table: dict[str, dict], settings: dict) -> str:
    """Accuracy (exact match, %) and speed (GPT-2 tokens per second) tables, models x lengths."""
    lengths = lengths_of({name: r["accuracy"] for name, r in table.items()})
    budget = settings.get("budget_steps")
    # A --train-flag, or a model already in the folder, can leave a model off the budget: its row says so.
    exceptions = "" if all(r.get("train_steps") == budget for r in table.values()) else " unless its row says otherwise"
    trained = f"models from {settings['from']}" if settings["from"] else f"trained on bAbI {settings['train_variant']} " + (
        f"for {budget} optimiser steps each{exceptions}" if budget
        else f"for at most {settings['budget_minutes']:g} min each" if settings.get("budget_minutes")
        else "for each model's own default number of steps")
    title = (f"{settings['task']}{' (unseen answers)' if settings['unseen'] else ''}, "
             f"{settings['samples_per_length']} samples per length, {trained}")
    best = max(r["babi_test"]["accuracy"] for r in table.values())
    accuracy = {}
    for name, r in table.items():
        params = f"{r['params']:,}" if r["params"] is not None else "-"
        if r.get("frozen_params"):
            params += f" + {r['frozen_params']:,} frozen"
        minutes = f"{r['train_minutes']:.1f}" if r["train_minutes"] is not None else "-"
        steps = f"{r['train_steps']:,}" if r.get("train_steps") is not None else "-"
        bare = r["babi_test"]
        note = f"under-trained: bAbI test {bare['accuracy']:.0%} vs best {best:.0%}" if r["under_trained"] else ""
        accuracy[name] = [*percents(r["accuracy"], lengths), f"{bare['accuracy'] * 100:.0f} ({bare['n']})", params,
                          steps, minutes, note]
    speed = {}
    for name, r in table.items():
        cells = []
        for l in lengths:
            if r.get("over_window", {}).get(l) == 1.0:
                cells.append("over window")  # nothing was read: a speed would mean nothing
            else:
                cells.append(f"{r['tokens_per_s'][l]:,.0f}" if l in r["tokens_per_s"] else "")
        speed[name] = cells
    warm = settings.get("cache_warmup")
    encoders = "their frozen line encoder" if warm and len(warm["encoders"]) == 1 else "each of their frozen line encoders"
    timed = (f"every model timed from the same warm embedding cache: the {warm['texts']:,} test lines and questions "
             f"were first encoded into it by {encoders}, in {warm['seconds']:g} s (not counted; encoders in settings.json)"
             if warm else "no model reads lines through the embedding cache")
    lines = [f"Accuracy: {title} (exact match, %; bAbI test: the bare test questions, 0k, their number in brackets)", "",
             *markdown("model", [*lengths, "bAbI test", "params", "train steps", "train min", "note"], accuracy),
             "", f"Speed: GPT-2 tokens read per second while answering; {timed}", "", *markdown("model", lengths, speed)]
    return "\n".join(lines) + "\n"
