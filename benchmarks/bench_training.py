"""Benchmark: training throughput of the deep models on ML-100K (one process, this machine).

For each model: the time of its first epoch (which includes building and tracing the Keras
graph) and of the following ``epochs`` epochs without validation, the training examples per
second in those epochs, and the process's peak resident memory. Run:

    make bench            (or python benchmarks/bench_training.py [model ...])

The chapters' early-stopping runs add one validation pass (943 users x 1,682 items) per epoch.
"""
from __future__ import annotations

import json
import resource
import sys
import time

from recsys_lib.experiment import load_split
from recsys_lib.registry import make_model
from recsys_lib.utils import set_seed


def examples_per_epoch(model, split) -> int:
    """What one epoch iterates over: prefixes for sequence models, interactions x (1 + negatives)
    for pointwise ones, items for the item-only model (its loss is summed per item), user
    vectors through the discriminator and the generator steps for CFGAN."""
    if hasattr(model, "trained_targets"):        # sequence-to-sequence windows (chapter 5)
        return model.trained_targets
    if hasattr(model, "targets_"):               # one prefix per example (Caser)
        return len(model.targets_)
    if model.name == "cnn-item-only":
        return split.num_items
    if model.name == "cfgan":                    # each user's vector: one D update, one G update
        return len(model._active) * (model.d_steps + model.g_steps)
    return len(split.train) * (1 + getattr(model, "negatives", 0))


def bench(name: str, split, epochs: int = 3) -> dict:
    set_seed(0)
    model = make_model(name, seed=0, epochs=1)
    t0 = time.perf_counter()
    model.fit(split)                          # builds the network and runs epoch 1 + one validation
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for e in range(epochs):
        model._run_epoch(e + 2)
    wall = (time.perf_counter() - t0) / epochs
    n = examples_per_epoch(model, split)
    return {"model": name, "examples_per_epoch": n, "first_epoch_s": round(first, 2),
            "epoch_s": round(wall, 2), "examples_per_s": round(n / wall),
            "params": model.num_params}


DEFAULT = ("cnn-item-only", "cnn-content", "caser", "lstm", "gru4rec", "cfgan")


def main(names=DEFAULT) -> list[dict]:
    split = load_split("ml-100k")
    rows = []
    for name in names:
        rows.append(bench(name, split))
        print(json.dumps(rows[-1]), flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"process_peak_rss_MiB": round(rss, 1)}))
    return rows


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)
