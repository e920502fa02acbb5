"""Subcommands of the `memreasoner` CLI: each module has `add_parser(subparsers)`."""
