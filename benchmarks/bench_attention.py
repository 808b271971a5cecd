"""Benchmark: does one seed of a self-attention model train within its time target?

    python benchmarks/bench_attention.py [model ...]     (default: sasrec)

Chapter 7's target is that one SASRec seed trains in at most ``Config.seed_seconds`` (120 s)
on the book's 2-core machine. For each model this trains seed 0 at its defaults (the tuned
optimum) exactly as a result record is made: early stopping on validation NDCG@10, one
validation pass per epoch. It reports the whole fit's wall time against the target, the
epochs run, the training windows (sequences of ``L`` items) per epoch and per second, the
(prefix, next item) targets per second, and the process's peak resident memory. The rows are
written to ``results/benchmarks/attention.json``.

Run it on an idle machine: with another job sharing the cores, the times are not the
machine's.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

from recsys_lib.experiment import load_split, results_dir
from recsys_lib.io import write_json
from recsys_lib.registry import make_model
from recsys_lib.utils import set_seed


def bench(name: str, split) -> dict:
    set_seed(0)
    model = make_model(name, seed=0)
    t0 = time.perf_counter()
    model.fit(split)
    wall = time.perf_counter() - t0
    h = model.history_
    epochs = int(h["epoch"][-1])
    epoch_s = h["seconds"][-1] / epochs  # training and one validation pass per epoch
    windows = int(model.examples_per_epoch)
    row = {
        "model": name,
        "settings": {k: getattr(model.config, k) for k in model.Config.space},
        "fit_seconds": round(wall, 1),
        "target_seconds": model.Config.seed_seconds,
        "within_target": wall <= model.Config.seed_seconds,
        "epochs": epochs,
        "best_epoch": int(model.best_epoch_),
        "windows_per_epoch": windows,
        "seconds_per_epoch": round(epoch_s, 3),
        "windows_per_s": round(windows / epoch_s),
        "params": model.num_params,
    }
    try:
        row["targets_per_s"] = round(model.trained_targets / epoch_s)
    except AttributeError:  # BERT4Rec trains a random share of positions
        pass
    return row


def main(names=None) -> list[dict]:
    names = names or ["sasrec"]
    split = load_split("ml-100k")
    rows = []
    for name in names:
        rows.append(bench(name, split))
        print(json.dumps(rows[-1]), flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "threads": os.environ.get("TF_NUM_INTRAOP_THREADS"),
        "cores": os.cpu_count(),
        "rows": rows,
        "process_peak_rss_MiB": round(rss, 1),
    }
    print(json.dumps({"process_peak_rss_MiB": out["process_peak_rss_MiB"]}))
    write_json(out, results_dir() / "benchmarks" / "attention.json")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
