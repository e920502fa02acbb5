"""The `memreasoner` command. Each subcommand lives in `memreasoner.commands.<name>`."""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import InputError
from .paths import ENV_VAR, set_data_dir

# Order is the order `memreasoner --help` lists them.
COMMANDS = ["build", "download", "train", "eval", "answer", "experiment", "compare"]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="memreasoner", description="Reasoning in a haystack: build, train, evaluate, compare.")
    parser.add_argument("--version", action="version", version=f"memreasoner {__version__}")
    parser.add_argument("--data-dir", help=f"folder with babi/, books/, babilong/, tokenizers/ (default: ${ENV_VAR}, "
                        "else ~/.cache/memreasoner/data if downloaded, else the embedded default)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"memreasoner.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    # A command that takes more flags than its parser knows (train: the model's own) says so.
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "takes_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.data_dir:
        set_data_dir(args.data_dir)
    try:
        return (args.func(args, extra) if getattr(args, "takes_extra", False) else args.func(args)) or 0
    except InputError as err:
        print(f"memreasoner: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("memreasoner: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
