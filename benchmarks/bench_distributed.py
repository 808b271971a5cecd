"""Benchmark: GRU4Rec's training throughput under each tf.distribute setting on this machine.

Three settings, the same model and global batch: one device (TensorFlow's default strategy),
``MirroredStrategy`` over two logical CPU devices, and ``MultiWorkerMirroredStrategy`` with
two worker processes on 127.0.0.1. For each: wall time of ``epochs`` epochs (plus one
validation pass), training windows per second, and peak resident memory (this process for
the first two; the workers report their own). Run:

    make bench            (or python benchmarks/bench_distributed.py [epochs])

The rows are also written to ``results/benchmarks/distributed.json``, which chapter 12 shows
next to its own (shared-machine) timings.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
from pathlib import Path

from recsys_lib.distributed import logical_cpus, run_local_cluster, train_under

devices = logical_cpus(2)  # before TensorFlow runs anything

import tensorflow as tf  # noqa: E402

tf.get_logger().setLevel("ERROR")


def row(setting: str, rec: dict, seconds: float) -> dict:
    n = rec["examples_per_epoch"] * rec["epochs_run"]
    return {
        "setting": setting,
        "replicas": rec["replicas"],
        "epochs": rec["epochs_run"],
        "wall_s": round(seconds, 2),
        "windows_per_s": round(n / seconds),
        "valid_NDCG@10": round(rec["valid_NDCG@10"], 4),
    }


def main(epochs: int = 2) -> list[dict]:
    hp = {"epochs": epochs, "eval_every": epochs, "batch_size": 128}
    rows = []
    one = train_under(tf.distribute.get_strategy(), "gru4rec", overrides=hp)
    rows.append(row("one device", one, one["seconds"]))
    print(json.dumps(rows[-1]), flush=True)
    mirrored = train_under(tf.distribute.MirroredStrategy(devices), "gru4rec", overrides=hp)
    rows.append(row("MirroredStrategy x2 logical CPUs", mirrored, mirrored["seconds"]))
    print(json.dumps(rows[-1]), flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"process_peak_rss_MiB": round(rss, 1)}), flush=True)
    cluster = run_local_cluster("gru4rec", workers=2, overrides=hp, timeout=1800)
    rows.append(
        row("MultiWorkerMirroredStrategy, 2 workers on localhost", cluster, cluster["seconds"])
    )
    rows[-1]["worker_peak_rss_MiB"] = cluster.get("peak_rss_MiB")
    print(json.dumps(rows[-1]), flush=True)
    out = Path(__file__).resolve().parents[1] / "results" / "benchmarks" / "distributed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    import keras

    info = {
        "model": "gru4rec",
        "hyperparameters": hp,
        "rows": rows,
        "process_peak_rss_MiB": round(rss, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "system": platform.system(),
            "machine": platform.machine(),
        },
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=1) + "\n")
    tmp.replace(out)
    return rows


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
