"""Carry committed records over a change of the key *scheme*, without retraining.

    python benchmarks/restamp_keys.py REV           # REV: a commit with the old recsys_lib/keys.py
    python benchmarks/restamp_keys.py REV --check   # report only, write nothing

When ``recsys_lib/keys.py`` changes how a key is computed (not what the models do), every
committed key changes although no result would. A record that is current under the old
scheme, computed on today's code, data and versions, is a run of today's code; under the new
scheme its key is today's key. This script checks each committed result record, seed record,
published model file and tuning search against the old scheme (``keys.py`` as it was at
``REV``, everything else as it is now), and for those that are current writes the new key in
their place: it replaces the old key in every text file under ``results/`` and
``book/_generated/``, renames the files named by it (published model weights, this checkout's
model store, Optuna studies, also those of a search still under way) and the study inside
each study file. Anything that is not current under the old scheme is listed and
left alone (it was stale before the change, and is stale after it).

``keys.py`` must not be part of any key itself (no model module imports it); the script
checks that, since otherwise the old scheme would hash different code.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import recsys_lib.keys as keys
from recsys_lib.experiment import load_split, record_split
from recsys_lib.model_store import store_dir
from recsys_lib.registry import MODELS, entry
from recsys_lib.tuning import TRIALS, tuning_key

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
TEXT_DIRS = (RESULTS, ROOT / "book" / "_generated")
#: this checkout's model store (``recsys_lib.model_store``), whose file names hold the key
STORE = store_dir()


def old_keys(rev: str):
    """``recsys_lib/keys.py`` as it was at ``rev``, loaded as a module of today's package."""
    src = subprocess.run(
        ["git", "show", f"{rev}:recsys_lib/keys.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("recsys_lib._keys_old", loader=None)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "recsys_lib"
    mod.__file__ = keys.__file__
    exec(compile(src, "keys.py@" + rev, "exec"), mod.__dict__)
    return mod


#: what ``tuning_key`` reads from ``recsys_lib.keys`` when it is called
TUNING_PARTS = ("behaviour_key", "_function_code_hash", "package_versions", "NUMERIC_ENV")


@contextmanager
def tuning_under(old):
    """``tuning_key`` computed with the old scheme: each part it reads from ``keys`` (at call
    time) is the old module's. A scheme whose ``behaviour_key`` took ``blank_defaults`` (before
    7ae260b) blanked the defaults for a search's key, as today's always does."""
    import inspect

    saved = {a: getattr(keys, a) for a in TUNING_PARTS}
    for a in TUNING_PARTS:
        if hasattr(old, a):
            setattr(keys, a, getattr(old, a))
    if "blank_defaults" in inspect.signature(old.behaviour_key).parameters:
        keys.behaviour_key = lambda m, **_: old.behaviour_key(m, blank_defaults=True)
    try:
        yield
    finally:
        for a, v in saved.items():
            setattr(keys, a, v)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rev")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--dataset", default="ml-100k")
    args = ap.parse_args(argv)

    closure = set()
    for n in MODELS:
        closure |= keys.module_closure(entry(n).module)
    if "recsys_lib.keys" in closure:
        sys.exit(
            "recsys_lib.keys is imported by a model module: the old scheme would hash "
            "other code; restamping is not sound"
        )
    old = old_keys(args.rev)
    split = load_split(args.dataset)
    mapping, stale = {}, []

    for path in sorted((RESULTS / args.dataset / "seeds").glob("*.json")):
        rec = json.loads(path.read_text())
        name, seed = rec["model"], rec["seed"]
        if name not in MODELS:
            stale.append(f"{path.name}: {name} is not registered")
            continue
        data = record_split(split, path.name)  # a learning-curve point has its own split
        parts = (name, data, seed, rec.get("overrides") or {}, rec.get("strategy"))
        was = old.fingerprint(*parts)
        if rec.get("fingerprint") != was:
            stale.append(f"{path.name}: stale under the old scheme too")
            continue
        mapping[was] = keys.fingerprint(*parts)

    tuned = sorted((RESULTS / args.dataset / "tuning").glob("*.json"))
    for path in tuned:
        rec = json.loads(path.read_text())
        name, seed, budget = rec["model"], rec.get("seed", 0), rec.get("budget", TRIALS)
        with tuning_under(old):
            was = tuning_key(name, split, seed, budget)
        if rec.get("key") != was:
            stale.append(f"tuning/{path.name}: stale under the old scheme too")
            continue
        mapping[was] = tuning_key(name, split, seed, budget)

    # a search still under way has a study but no record yet: its file is named by its key
    finished = {json.loads(p.read_text())["model"] for p in tuned}
    for path in sorted((RESULTS / args.dataset / "tuning" / "studies").glob("*.db")):
        name, _, key = path.stem.rpartition("-")
        if name in finished or name not in MODELS:
            continue
        with tuning_under(old):
            was = tuning_key(name, split)
        if key != was:
            stale.append(f"tuning/studies/{path.name}: stale under the old scheme too")
            continue
        mapping[was] = tuning_key(name, split)

    moved = {a: b for a, b in mapping.items() if a != b}
    print(f"{len(mapping)} current keys, {len(moved)} change under the new scheme")
    for line in stale:
        print("  left alone:", line)
    if args.check or not moved:
        return 0

    n_text = 0
    for d in TEXT_DIRS:
        for path in d.rglob("*"):
            if not path.is_file() or path.suffix not in {".json", ".md", ".csv", ".txt"}:
                continue
            text = path.read_text(encoding="utf-8")
            new = text
            for a, b in moved.items():
                new = new.replace(a, b)
            if new != text:
                path.write_text(new, encoding="utf-8")
                n_text += 1
    n_files = 0
    for path in sorted([*RESULTS.rglob("*"), *STORE.glob("*.npz")]):
        hit = next((a for a in moved if a in path.name), None)
        if hit is None or not path.is_file():
            continue
        target = path.with_name(path.name.replace(hit, moved[hit]))
        if path.suffix == ".db":
            with sqlite3.connect(path) as db:
                db.execute(
                    "UPDATE studies SET study_name = replace(study_name, ?, ?)", (hit, moved[hit])
                )
        path.rename(target)
        n_files += 1
    print(f"rewrote {n_text} text files, renamed {n_files} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
