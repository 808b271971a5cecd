"""Benchmark: full-ranking evaluation of all ML-100K users over all items.

Reports wall time, throughput (users ranked per second) and peak memory for scoring
and evaluating with each baseline. Run:  make bench  (or python benchmarks/bench_evaluation.py)
The target in the foundation issue is "well under a second" for all 943 x 1,682 scores.
"""

from __future__ import annotations

import json
import resource
import time
import tracemalloc

from recsys_lib.experiment import load_split
from recsys_lib.metrics import evaluate
from recsys_lib.models import EASE, ItemKNN, Popularity


def main(repeats: int = 5) -> list[dict]:
    split = load_split("ml-100k")
    rows = []
    for model in (Popularity(), ItemKNN(), EASE()):
        model.fit(split)
        evaluate(model, split, "test")  # warm-up
        times = []
        tracemalloc.start()
        for _ in range(repeats):
            t0 = time.perf_counter()
            evaluate(model, split, "test")
            times.append(time.perf_counter() - t0)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        best = min(times)
        rows.append(
            {
                "model": model.name,
                "users": split.num_users,
                "items": split.num_items,
                "wall_seconds_best": round(best, 4),
                "wall_seconds_median": round(sorted(times)[len(times) // 2], 4),
                "users_per_second": round(split.num_users / best),
                "peak_traced_MiB": round(peak / 2**20, 1),
            }
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for r in rows:
        print(json.dumps(r))
    print(json.dumps({"process_peak_rss_MiB": round(rss, 1)}))
    return rows


if __name__ == "__main__":
    main()
