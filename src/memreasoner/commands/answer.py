"""`memreasoner answer`: answer one question over any text file and show which lines each hop read.

`--verbose` says where the time went. On a short text most of it is importing torch, transformers and
NLTK, which no command can avoid once it runs a model; the breakdown tells that apart from the model's
own work.
"""

from __future__ import annotations

import builtins
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from ..device import DEVICE_HELP, resolve_device
from ..errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("answer", help="answer one question over a text file")
    p.add_argument("--model", required=True, help="checkpoint folder or NAME:PATH_OR_URL")
    p.add_argument("--context", required=True, help="text file to read (split into sentences with Punkt)")
    p.add_argument("--question", required=True)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--verbose", action="store_true",
                   help="print where the time went (imports, loading the checkpoint, splitting lines, answering) to stderr")
    p.set_defaults(func=run)


class Stopwatch:
    """Wall time per phase, with the time spent importing modules (in any phase) counted apart.

    Imports are timed at the outermost `import` statement only, so a module's own imports are not
    counted twice; what a phase spent importing is taken out of that phase.
    """

    def __init__(self):
        self.phases: dict[str, float] = {}
        self.imports = 0.0
        self._depth = 0

    @contextmanager
    def phase(self, name: str):
        start, imported = time.perf_counter(), self.imports
        try:
            yield
        finally:
            self.phases[name] = time.perf_counter() - start - (self.imports - imported)

    @contextmanager
    def timing_imports(self):
        real = builtins.__import__

        def timed(*args, **kwargs):
            self._depth += 1
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.imports += time.perf_counter() - start

        builtins.__import__ = timed
        try:
            yield self
        finally:
            builtins.__import__ = real

    def report(self) -> str:
        rows = {"imports": self.imports, **self.phases}
        total = sum(rows.values())
        width = max(map(len, rows))
        lines = [f"  {name:<{width}}  {seconds:6.2f} s  {seconds / total:4.0%}" for name, seconds in rows.items()]
        return "\n".join(["time spent in the command (`python -X importtime -m memreasoner ...` splits the imports):",
                          *lines, f"  {'total':<{width}}  {total:6.2f} s"])


def run(args) -> int:
    if not args.verbose:
        return answer(args, Stopwatch())
    clock = Stopwatch()
    with clock.timing_imports():
        status = answer(args, clock)
    print(clock.report(), file=sys.stderr)
    return status


def answer(args, clock: Stopwatch) -> int:
    with clock.phase("choosing the device"):
        from ..data.haystack import Context
        from ..data.sample import Sample
        from ..data.sentences import split_sentences
        from ..reader import load_reader

        device = resolve_device(args.device)
    with clock.phase("splitting lines"):
        path = Path(args.context)
        if not path.is_file():
            raise InputError("context file not found", path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            text = path.read_text(encoding="latin-1")
        lines = split_sentences(text)
        if not lines:
            raise InputError("context file holds no sentences", path)
        text, starts = Context(lines, story_at=[]).joined()  # keeps the Punkt lines exactly
        sample = Sample(input=text, question=args.question, target="", sentence_starts=starts)
    with clock.phase("loading the checkpoint"):
        reader = load_reader(args.model, device=device)
    with clock.phase(f"answering ({len(lines):,} lines)"):
        ans = reader.answer([sample])[0]
    print(f"answer: {ans.text}")
    for hop, index in enumerate(ans.hops, start=1):
        print(f"hop {hop}: line {index}: {lines[index]}")
    return 0
