"""Larimar (Das et al., 2024) as MemReasoner without its two additions: no temporal encoding, one hop.

Not a second implementation: `memreasoner train --model larimar` is MemReasoner's own trainer with
`--temporal none --hops 1` forced (every other MemReasoner flag still applies), and the checkpoint is
a MemReasoner checkpoint whose config.json names "larimar". The SPEC's point -- what the ordering
and the hops buy -- is then measured on one code path.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError
from ..files import read_json, write_atomic
from ..model import train as memreasoner_train
from ..model.memreasoner import CONFIG_FILE, MemReasoner


class Larimar(MemReasoner):
    name = "larimar"

    def answer_options(self) -> list[str]:
        return [name for name in super().answer_options() if name != "hops"]  # one hop is what Larimar is

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "Larimar":
        model = super().load(path, device)
        if model.config.temporal != "none" or model.config.hops != 1:
            raise InputError(f"not a Larimar checkpoint (temporal {model.config.temporal!r}, {model.config.hops} hops; "
                             f"Larimar is temporal 'none', 1 hop)", path)
        return model


def add_arguments(group) -> None:
    """MemReasoner's flags; --temporal and --hops are then overridden."""
    memreasoner_train.add_arguments(group)


def run(args) -> int:
    args.temporal, args.hops = "none", 1
    code = memreasoner_train.run(args)
    if code:
        return code
    # Name the reader in the checkpoint, so `memreasoner eval --model DIR` loads it as Larimar.
    config = Path(args.out) / CONFIG_FILE
    obj = read_json(config)
    obj["model"] = Larimar.name
    write_atomic(config, json.dumps(obj, indent=2) + "\n")
    return 0
