"""Tune models one after another with the shared budget (``recsys_lib.tuning.TRIALS``).

    python benchmarks/tune_models.py MODEL [MODEL ...]

Each search keeps its Optuna study in ``results/<dataset>/tuning/studies/`` (committed), and
resumes from it if it was interrupted, on this machine or on another one from a clone: commit
the studies while a search runs, and the next session goes on from the last finished trial.
The record ``results/<dataset>/tuning/<MODEL>.json`` is written only once the search has its
whole budget (a half-finished search is never left where the tests and the book read the
committed ones). Prints each trial, the cost of each search (trials x seconds) and any
optimum on an open edge of its space.

While the file ``data/tuning/PAUSE`` exists, the run waits before starting its next trial (so
that a benchmark or the book can be timed on an idle machine without a trial's recorded
seconds counting the pause); delete the file and it goes on.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from recsys_lib.experiment import load_split
from recsys_lib.io import write_json
from recsys_lib.tuning import best_seconds, open_edges, studies_dir, tune, tuning_path

PAUSE = Path("data/tuning/PAUSE")


def wait_while_paused() -> None:
    if PAUSE.exists():
        print(f"paused ({PAUSE} exists)", flush=True)
        t0 = time.perf_counter()
        while PAUSE.exists():
            time.sleep(5)
        print(f"resumed after {time.perf_counter() - t0:.0f} s", flush=True)


def report(name: str):
    def progress(r, k, n):
        print(
            f"  {name} [{k}/{n}] {r['hyperparameters']} {r['valid']['NDCG@10']:.4f} "
            f"({r['train_seconds']:.1f} s)",
            flush=True,
        )
        wait_while_paused()

    return progress


def main(argv=None) -> int:
    names = list(argv if argv is not None else sys.argv[1:])
    split = load_split()
    for name in names:
        wait_while_paused()
        t0 = time.perf_counter()
        res = tune(name, split, progress=report(name), write=False, storage_dir=studies_dir())
        write_json(res, tuning_path(name))
        edges = open_edges(name, res["best"], best_seconds(res))
        print(
            f"{name}: best {res['best']} valid NDCG@10 {res['best_valid']['NDCG@10']:.4f}; "
            f"{len(res['trials'])} trials, {res['seconds']:.0f} s of training "
            f"({time.perf_counter() - t0:.0f} s wall); open edges: {edges}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
