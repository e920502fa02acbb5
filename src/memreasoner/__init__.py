"""memreasoner: reasoning in a haystack — MemReasoner, ReMemR1, the BABILong-style benchmark and its peers."""

__version__ = "0.1.0"
