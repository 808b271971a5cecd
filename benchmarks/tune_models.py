"""Tune models one after another with the shared budget (``recsys_lib.tuning.TRIALS``).

    python benchmarks/tune_models.py MODEL [MODEL ...]

Each search resumes from its study under ``data/tuning/`` if it was interrupted. The count and
the last trial are written to ``data/tuning/partial/<MODEL>.json`` after every trial, and the record
``results/<dataset>/tuning/<MODEL>.json`` only once the search has its whole budget (a
half-finished search is never left where the tests and the book read the committed ones). Prints the cost of
each search (trials x seconds) and any optimum on an open edge of its space.

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
from recsys_lib.tuning import open_edges, tune, tuning_path

PAUSE = Path("data/tuning/PAUSE")
PARTIAL = Path("data/tuning/partial")


def wait_while_paused() -> None:
    if PAUSE.exists():
        print(f"paused ({PAUSE} exists)", flush=True)
        t0 = time.perf_counter()
        while PAUSE.exists():
            time.sleep(5)
        print(f"resumed after {time.perf_counter() - t0:.0f} s", flush=True)


def report(name: str):
    def progress(r, k, n):
        write_json(
            {"model": name, "budget": n, "trials_done": k, "last_trial": r, "finished": False},
            PARTIAL / f"{name}.json",
        )
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
        res = tune(name, split, progress=report(name), write=False)
        write_json(res, tuning_path(name))
        print(
            f"{name}: best {res['best']} valid NDCG@10 {res['best_valid']['NDCG@10']:.4f}; "
            f"{len(res['trials'])} trials, {res['seconds']:.0f} s of training "
            f"({time.perf_counter() - t0:.0f} s wall); open edges: {open_edges(name, res['best'])}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
