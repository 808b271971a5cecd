"""Tune models one after another with the shared budget (``recsys_lib.tuning.TRIALS``).

    python benchmarks/tune_models.py MODEL [MODEL ...]

Each search resumes from its study under ``data/tuning/`` if it was interrupted; the record
``results/<dataset>/tuning/<MODEL>.json`` is rewritten after every trial. Prints the cost of
each search (trials x seconds) and any optimum on an open edge of its space.
"""
from __future__ import annotations

import sys
import time

from recsys_lib.experiment import load_split
from recsys_lib.tuning import open_edges, tune


def main(argv=None) -> int:
    names = list(argv if argv is not None else sys.argv[1:])
    split = load_split()
    for name in names:
        t0 = time.perf_counter()
        res = tune(name, split, progress=lambda r, k, n: print(
            f"  {name} [{k}/{n}] {r['hyperparameters']} {r['valid']['NDCG@10']:.4f} "
            f"({r['train_seconds']:.1f} s)", flush=True))
        print(f"{name}: best {res['best']} valid NDCG@10 {res['best_valid']['NDCG@10']:.4f}; "
              f"{len(res['trials'])} trials, {res['seconds']:.0f} s of training "
              f"({time.perf_counter() - t0:.0f} s wall); open edges: {open_edges(name, res['best'])}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
