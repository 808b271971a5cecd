"""Stage a consistent snapshot of every search study for the next commit, while searches run.

    python benchmarks/stage_studies.py [dataset]          then git commit

A running search writes its SQLite study after every epoch, so ``git add`` of the live file may
catch it mid-write. This copies each study under ``results/<dataset>/tuning/studies/`` with
SQLite's online backup (a consistent state, whatever the writer is doing) and stages the copy
under the study's own path (``git hash-object`` + ``git update-index``), leaving the live file
alone. A study of another key (stale) is staged as it is: the tests ask for its deletion.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def snapshot(path: Path, into: Path) -> Path:
    out = into / path.name
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    dst = sqlite3.connect(out)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return out


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()


def main(dataset: str = "ml-100k") -> int:
    studies = sorted((ROOT / "results" / dataset / "tuning" / "studies").glob("*.db"))
    with tempfile.TemporaryDirectory() as tmp:
        for path in studies:
            copy = snapshot(path, Path(tmp))
            blob = git("hash-object", "-w", str(copy))
            rel = path.relative_to(ROOT).as_posix()
            git("update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}")
            print(f"staged {rel} ({copy.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
