"""One error type for bad input: it renders as a single line naming the file, line and problem."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad user input (a file, a flag, a missing resource). The CLI prints `str(err)` and exits 2."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        return f"{where}{self.message}"
