"""`memreasoner eval`: answer a benchmark file (or one built on the fly) with any model; table, JSON, CSV, heatmap.

`--suite generalization` builds every variant of data/generalization.py on the fly and answers them
all with the same model, so its score outside bAbI's distribution sits beside its score inside it.

`--task qa1,qa2,qa3,qa4,qa5` builds each task on the fly and answers it with that task's model (a
MemReasoner checkpoint is trained per task, a peer may answer them all): BABILong's task x length
table with an "average" row.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..device import DEVICE_HELP, resolve_device
from ..errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a model on a benchmark file or on haystacks built on the fly",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, action="append",
                   help="checkpoint folder, or NAME:PATH_OR_URL (e.g. rememr1:http://host:8000/v1), answering every "
                        "task; TASK=SPEC for one task (repeatable, e.g. --model qa1=runs/qa1 --model qa2=runs/qa2); or "
                        "a folder holding one checkpoint per task, named after it (runs/five/qa1, runs/five/qa2, ...)")
    src = p.add_argument_group("data: a file, or a build on the fly")
    src.add_argument("--data", help="JSONL from `memreasoner build`, a real BABILong file/folder (JSON, JSONL, Parquet), "
                     "or hf:REPO/CONFIG/SPLIT from the hub (e.g. hf:RMT-team/babilong/1k/qa1; needs `datasets`, online)")
    src.add_argument("--task", help="build on the fly: qa1-qa20 or vt; a comma list (qa1,qa2,qa3,qa4,qa5) answers "
                                      "each with its own --model and prints a task x length table with an average row")
    src.add_argument("--lengths", default="0k,1k,4k", help="build on the fly: comma-separated lengths")
    src.add_argument("--samples", type=int, default=100, help="build on the fly: samples per length")
    src.add_argument("--books", help="build on the fly: folder of .txt books (default: the data dir's books)")
    src.add_argument("--babi", help="build on the fly: bAbI-format file to take the facts from (default: test split)")
    src.add_argument("--unseen", action="store_true", help="build on the fly: facts from generated stories with unseen names/places/objects")
    src.add_argument("--variant", help="build on the fly: facts from generated stories of one generalization variant")
    src.add_argument("--suite", choices=("generalization",),
                     help="build on the fly every generalization variant of --task (rows of the table and heatmap)")
    src.add_argument("--repeat-books", action="store_true", help="build on the fly: re-use book text when a haystack needs more than the books hold")
    src.add_argument("--seed", type=int, default=0)
    p.add_argument("--lines", choices=("file", "punkt"), default="file",
                   help="file: lines where the file says they start (our builds); punkt: ignore that and the fact "
                        "labels, splitting every input by Punkt as for a real BABILong file")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N samples per length")
    p.add_argument("--out", help="results JSON (a CSV and a heatmap PNG are written beside it)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="answer-time option of the model, e.g. --set iu=false --set eta=64 (repeatable); a setting "
                        "fixed when the model was trained is refused, with the model's options listed")
    p.set_defaults(func=run)


def parse_options(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--set takes KEY=VALUE, got {pair!r}")
        options[key.strip()] = value.strip()
    return options


def load_eval_samples(args, variant: str | None = None) -> list:
    """The samples to evaluate: from --data, or built from --task/--lengths/--books (and --variant, or `variant`)."""
    if bool(args.data) == bool(args.task):
        raise InputError("give exactly one of --data FILE or --task (to build haystacks on the fly)")
    if args.data:
        from ..data.babilong import load_samples

        samples = load_samples(args.data)
    else:
        from ..data.benchmark import build_benchmark
        from ..data.haystack import parse_lengths

        samples = build_benchmark(task=args.task, lengths=parse_lengths(args.lengths), samples=args.samples,
                                  books=args.books, babi=args.babi, seed=args.seed, unseen=args.unseen,
                                  variant=variant or args.variant, allow_repeats=args.repeat_books)
    if args.limit is not None:
        kept, seen = [], {}
        for s in samples:
            seen[s.length] = seen.get(s.length, 0) + 1
            if seen[s.length] <= args.limit:
                kept.append(s)
        samples = kept
    if args.lines == "punkt":
        for s in samples:
            s.sentence_starts, s.facts, s.story = None, [], []
    return samples


def data_read(args) -> dict:
    """What the results file records about its samples: where they came from and how lines were read."""
    if args.data:
        return {"data": args.data, "lines": args.lines}
    built = {"task": args.task, "lengths": args.lengths, "samples": args.samples, "seed": args.seed,
             "unseen": args.unseen, "variant": args.variant, "books": args.books, "babi": args.babi}
    if args.suite:
        from ..data.generalization import describe

        built |= {"suite": args.suite, "variants": describe(args.task)}
    return {"built": built, "lines": args.lines}


def run(args) -> int:
    from ..evaluate import save_results
    from ..plots import heatmap

    device = resolve_device(args.device)  # before building samples: a bad --device fails at once
    tasks = _tasks(args)
    specs = model_specs(args.model, tasks)
    if len(tasks) > 1:
        results = _run_tasks(args, tasks, specs, device)
        print(results.grid_table("task"))
        rows, title = results.grid("correct", "task"), f"{results.model}: exact-match accuracy"
    elif args.suite:
        results, reader = _run_suite(args, specs[args.task or ""], device)
        print(results.grid_table("variant"))
        rows, title = results.grid("correct", "variant"), f"{results.model}: {args.task} generalization, exact match"
    else:
        from ..evaluate import evaluate

        samples = load_eval_samples(args)
        reader = _reader(specs[args.task or ""], args, device)
        results = evaluate(reader, samples, model_name=reader.name, batch_size=args.batch_size)
        print(results.table())
        rows, title = dict(sorted(results.grid("correct", "task").items())), f"{results.model}: exact-match accuracy"
    if len(tasks) <= 1:  # one model answered: the results file names it (several: _run_tasks names each task's)
        results.read = {**data_read(args), "checkpoint": specs[args.task or ""], "options": reader.options_in_use()}
    if args.out:
        out = Path(args.out)
        save_results(results, out)
        heatmap(rows, out.with_suffix(".png"), title=title)
        print(f"wrote {out}, {out.with_suffix('.csv')}, {out.with_suffix('.png')}")
    return 0


def _tasks(args) -> list[str]:
    """The tasks of --task, each known and named once; [] with --data."""
    from ..data.benchmark import TASKS

    tasks = args.task.split(",") if args.task else []
    if len(tasks) > 1 and (args.data or args.suite):
        raise InputError("a comma list of --task builds each task on the fly: give no --data or --suite with it")
    for task in tasks:
        if task not in TASKS:
            raise InputError(f"unknown task {task!r} in --task; known: {', '.join(TASKS)}")
        if tasks.count(task) > 1:
            raise InputError(f"{task} is twice in --task {args.task}")
    return tasks


def model_specs(given: list[str], tasks: list[str]) -> dict[str, str]:
    """The model spec that answers each task ({"": spec} without tasks, i.e. with --data): its TASK=SPEC
    pair, else the one plain spec, which a folder of per-task checkpoints turns into its subfolder TASK."""
    from ..data.benchmark import TASKS

    pairs, plain = {}, []
    for item in given:
        task, sep, spec = item.partition("=")  # the first "=": a spec may hold more (URL queries)
        if not (sep and task in TASKS):
            plain.append(item)
        elif task not in tasks:
            raise InputError(f"--model {item} names {task}, which --task does not ask for" if tasks
                             else f"--model {item}: TASK=SPEC pairs go with --task, not --data")
        elif task in pairs:
            raise InputError(f"two --model for {task}: {pairs[task]} and {spec}")
        else:
            pairs[task] = spec
    if len(plain) > 1:
        raise InputError(f"one --model may answer every task, not {len(plain)} ({', '.join(plain)}); "
                         "name each one's task with TASK=SPEC")
    if not tasks:
        return {"": plain[0]}
    specs = {}
    for task in tasks:
        spec = pairs.get(task) or (_for_task(plain[0], task) if plain else None)
        if not spec:
            raise InputError(f"no model for {task}: give --model SPEC for every task, --model {task}=SPEC, "
                             f"or --model FOLDER holding a checkpoint folder {task}")
        specs[task] = spec
    return specs


def _for_task(spec: str, task: str) -> str | None:
    """`spec` itself, or where it names a folder of per-task checkpoints (no config.json of its own, a
    subfolder named after some task), its subfolder `task` (None where there is none)."""
    from ..data.benchmark import TASKS
    from ..registry import MODELS

    name, sep, path = spec.partition(":")
    if not (sep and name in MODELS):
        name, path = "", spec
    folder = Path(path)
    if not folder.is_dir() or (folder / "config.json").is_file() or not any((folder / t).is_dir() for t in TASKS):
        return spec  # a checkpoint, a URL, or a folder that load_reader will explain is none
    if not (folder / task).is_dir():
        return None
    return f"{name}:{folder / task}" if name else str(folder / task)


def _reader(spec: str, args, device: str):
    from ..reader import load_reader

    return load_reader(spec, device=device).with_options(**parse_options(args.set))


def _answer_parts(parts: dict[str, tuple], key: str, batch_size: int) -> list[dict]:
    """Answer each part's samples with its reader, {name: (reader, samples)}; every row carries its part's
    name under `key`, and ids start with it so they stay unique across parts."""
    from ..evaluate import evaluate

    rows = []
    for name, (reader, samples) in parts.items():
        for row in evaluate(reader, samples, model_name=f"{reader.name} {name}", batch_size=batch_size).samples:
            row_id = row["id"] if str(row["id"]).startswith(f"{name}-") else f"{name}-{row['id']}"
            rows.append({**row, "id": row_id, key: name})
    return rows


def _run_suite(args, spec: str, device: str):
    """Every variant of the suite built, then answered by one reader; each row carries its variant."""
    from ..data.generalization import variants
    from ..evaluate import Results

    if not args.task or args.data or args.babi or args.unseen or args.variant:
        raise InputError("--suite builds its own stories: give --task (qa1 or qa2), and no --data, --babi, --unseen or --variant")
    names = list(variants(args.task))
    samples = {name: load_eval_samples(args, variant=name) for name in names}  # any build error before any answer
    reader = _reader(spec, args, device)
    rows = _answer_parts({name: (reader, samples[name]) for name in names}, "variant", args.batch_size)
    return Results(reader.name, rows, group="variant"), reader


def _run_tasks(args, tasks: list[str], specs: dict[str, str], device: str):
    """Each task built, then answered by its own reader (loaded once per spec); rows carry their task."""
    from argparse import Namespace

    from ..evaluate import Results

    # every build and every load before any answer: a bad task or checkpoint fails at once
    samples = {task: load_eval_samples(Namespace(**{**vars(args), "task": task})) for task in tasks}
    loaded = {spec: _reader(spec, args, device) for spec in dict.fromkeys(specs.values())}
    readers = {task: loaded[specs[task]] for task in tasks}
    rows = _answer_parts({task: (readers[task], samples[task]) for task in tasks}, "task", args.batch_size)
    names = ", ".join(dict.fromkeys(reader.name for reader in readers.values()))
    results = Results(names, rows, group="task", average=True)
    results.read = {**data_read(args), "checkpoint": specs,
                    "options": {task: reader.options_in_use() for task, reader in readers.items()}}
    return results
