"""`memreasoner answer`: answer one question over any text file and show which lines each hop read."""

from __future__ import annotations

from pathlib import Path

from ..device import DEVICE_HELP, resolve_device
from ..errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("answer", help="answer one question over a text file")
    p.add_argument("--model", required=True, help="checkpoint folder or NAME:PATH_OR_URL")
    p.add_argument("--context", required=True, help="text file to read (split into sentences with Punkt)")
    p.add_argument("--question", required=True)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..data.sample import Sample
    from ..data.sentences import split_sentences
    from ..reader import load_reader

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
    # Keep the Punkt lines exactly: join them and record where each starts.
    starts, parts, pos = [], [], 0
    for line in lines:
        starts.append(pos)
        parts.append(line)
        pos += len(line) + 1
    sample = Sample(input=" ".join(parts), question=args.question, target="", sentence_starts=starts)
    reader = load_reader(args.model, device=resolve_device(args.device))
    ans = reader.answer([sample])[0]
    print(f"answer: {ans.text}")
    for hop, index in enumerate(ans.hops, start=1):
        print(f"hop {hop}: line {index}: {lines[index]}")
    return 0
