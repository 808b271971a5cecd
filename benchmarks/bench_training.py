"""Benchmark: training throughput of the deep models on ML-100K (one process, this machine).

For each model: the time of its first epoch (which includes building and tracing the Keras
graph) and of the following ``epochs`` epochs without validation, the training examples per
second in those epochs, and the process's peak resident memory. Run:

    make bench            (or python benchmarks/bench_training.py [model ...])

``examples_per_s`` counts what an epoch iterates over (``model.examples_per_epoch``: windows of a
history for the RNNs, prefixes for Caser, interaction triples for BPR); the RNNs' windows each
train several (prefix, next item) targets, counted as ``targets_per_s``.
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


def bench(name: str, split, epochs: int = 3) -> dict:
    set_seed(0)
    model = make_model(name, seed=0, epochs=1)
    t0 = time.perf_counter()
    model.fit(split)  # builds the network and runs epoch 1 + one validation
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for e in range(epochs):
        model._run_epoch(e + 2)
    wall = (time.perf_counter() - t0) / epochs
    n = model.examples_per_epoch  # windows, triples, rows: what one epoch iterates over
    row = {
        "model": name,
        "examples_per_epoch": n,
        "first_epoch_s": round(first, 2),
        "epoch_s": round(wall, 2),
        "examples_per_s": round(n / wall),
        "params": model.num_params,
    }
    if hasattr(model, "trained_targets"):  # windows train several (prefix, next item) targets
        row["targets_per_s"] = round(model.trained_targets / wall)
    return row


def default_models() -> list[str]:
    """Every registered model that trains with TensorFlow, but variants of another entry (the
    first entry of each class stands for its variants, e.g. gru4rec for gru4rec-lstm)."""
    from recsys_lib.registry import MODELS

    out, classes = [], set()
    for n, e in MODELS.items():
        cls = e.model_class()
        if cls.uses_tensorflow and cls not in classes and n != "bpr":
            out.append(n)
        classes.add(cls)
    return out


def main(names=None) -> list[dict]:
    names = names or default_models()
    split = load_split("ml-100k")
    rows = []
    for name in names:
        rows.append(bench(name, split))
        print(json.dumps(rows[-1]), flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"process_peak_rss_MiB": round(rss, 1)}))
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
