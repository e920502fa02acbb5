"""Files written whole or not at all, and JSON read back with one-line errors.

Every result, sample file and checkpoint config goes through `write_atomic`: a crash, or a reader in
another process, sees the old file or the new one, never a part of one. The temporary file sits in
the same folder (os.replace is atomic only within one file system) under a name no other writer uses.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from .errors import InputError


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Replace `path` by `data` (text is written as UTF-8), creating its folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: str | Path):
    """The parsed contents of the JSON file `path`; InputError naming the file if it is not JSON."""
    try:
        return json.loads(Path(path).read_bytes())
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON ({err.msg})", path, err.lineno) from None
    except UnicodeDecodeError:
        raise InputError("not valid JSON (not UTF-8 text)", path) from None
