"""Files written so that no reader ever sees half of one: ``atomic_file`` and ``write_json``."""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_file", "write_json"]


@contextmanager
def atomic_file(path, mode: str = "wb"):
    """Open a uniquely named temporary file beside ``path``; on success it replaces ``path``.

    Two processes writing the same path never collide (each has its own temporary name), a
    reader never sees a half-written file, and an interrupted write leaves nothing behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)          # mkstemp makes 0600; a record is for everyone to read
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(obj, path, indent: int | None = 1) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (see ``atomic_file``)."""
    with atomic_file(path, "w") as f:
        f.write(json.dumps(obj, indent=indent) + "\n")
    return Path(path)
