"""Training the book's models under ``tf.distribute``: on several devices of one host, and
on several worker processes that train one model together.

* ``logical_cpus(n)`` splits the CPU into ``n`` logical devices (call it before TensorFlow
  has run anything), so ``MirroredStrategy`` can be tried on any laptop.
* ``tf_config(ports, index)`` is the ``TF_CONFIG`` of worker ``index`` in a cluster on
  127.0.0.1. ``python -m recsys_lib.distributed worker MODEL ...`` is the one script every
  worker runs: it builds ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``, fits the model
  under it and (the chief only) writes a JSON result. ``run_local_cluster`` starts the
  workers as processes on loopback ports, bounded by a timeout, and collects the result.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

from .keys import array_digest
from .io import write_json

__all__ = ["logical_cpus", "tf_config", "free_ports", "run_local_cluster", "train_under",
           "checkpoint_epoch"]


def logical_cpus(n: int = 2) -> list[str]:
    """Split the (first) physical CPU into ``n`` logical devices; returns their names.

    TensorFlow fixes its devices when it first runs an operation, so this must be called
    before anything else in TensorFlow; afterwards it raises a ``RuntimeError`` that says so.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of logical CPUs must be an integer >= 1, got {n!r}")
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is None or len(current) != n:
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
        except RuntimeError as e:
            raise RuntimeError("TensorFlow is already initialised: call logical_cpus() first "
                               "thing in a fresh process (or restart the kernel)") from e
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports that are free on 127.0.0.1 right now."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tf_config(ports: list[int], index: int) -> str:
    """``TF_CONFIG`` for worker ``index`` of a cluster of ``len(ports)`` workers on loopback."""
    if not 0 <= index < len(ports):
        raise ValueError(f"index must be in 0..{len(ports) - 1}")
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def train_under(strategy, name: str, dataset: str = "ml-100k", seed: int = 0,
                overrides: dict | None = None, checkpoint_dir=None) -> dict:
    """Fit model ``name`` under ``strategy`` on the protocol split; a small result record.

    Returns the validation NDCG@10 of the restored best epoch (the metric early stopping
    uses), the history, the number of replicas, wall time and training examples per second.
    """
    from .experiment import load_split
    from .metrics import evaluate
    from .registry import make_model
    from .utils import set_seed

    model = make_model(name, seed=seed, **(overrides or {}))
    if not model.uses_tensorflow:
        raise ValueError(f"{name} does not train with TensorFlow, so it takes no strategy")
    split = load_split(dataset)
    set_seed(seed)
    t0 = time.perf_counter()
    model.fit(split, strategy=strategy, checkpoint_dir=checkpoint_dir)
    seconds = time.perf_counter() - t0
    valid = evaluate(model, split, "valid").means
    weights = [w for ws in model.network_weights().values() for w in ws]
    return {"model": name, "dataset": dataset, "seed": seed,
            "replicas": int(strategy.num_replicas_in_sync),
            "valid_NDCG@10": float(valid["NDCG@10"]), "valid_HR@10": float(valid["HR@10"]),
            "epochs_run": int(model.epochs_run_), "best_epoch": int(model.best_epoch_),
            "history": model.history_, "seconds": seconds,
            "weights_sha256": array_digest(weights),
            "peak_rss_MiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "examples_per_epoch": int(model.examples_per_epoch)}


def checkpoint_epoch(directory) -> int:
    """The last completed epoch recorded in ``directory``'s checkpoint (0 if none or unreadable)."""
    from .models.training import checkpoint_epoch as epoch_of

    return epoch_of(directory)


def _worker(args) -> None:
    import tensorflow as tf

    cfg = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    if "cluster" not in cfg:
        raise SystemExit("TF_CONFIG does not describe a cluster")
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    record = train_under(strategy, args.model, args.dataset, args.seed,
                         args.hyperparameters, args.checkpoint_dir)
    record["workers"] = len(cfg["cluster"]["worker"])
    record["task_index"] = int(cfg["task"]["index"])
    if args.out:
        write_json(record, Path(args.out).with_name(f"worker-{record['task_index']}.json"), None)


def _train(args) -> None:
    """Single-process training (optionally Mirrored over logical CPUs) with checkpoints."""
    if args.logical_cpus > 1:
        logical_cpus(args.logical_cpus)
    import tensorflow as tf

    strategy = (tf.distribute.MirroredStrategy(logical_cpus(args.logical_cpus))
                if args.logical_cpus > 1 else None)
    record = train_under(strategy or tf.distribute.get_strategy(), args.model, args.dataset,
                         args.seed, args.hyperparameters, args.checkpoint_dir)
    if args.out:
        write_json(record, Path(args.out), None)
    print(json.dumps({k: v for k, v in record.items() if k != "history"}), flush=True)


def run_local_cluster(name: str, workers: int = 2, dataset: str = "ml-100k", seed: int = 0,
                      overrides: dict | None = None, timeout: float = 600,
                      out_dir=None) -> dict:
    """Train ``name`` with ``workers`` processes on 127.0.0.1 under MultiWorkerMirroredStrategy.

    Every worker runs ``python -m recsys_lib.distributed worker`` with its own ``TF_CONFIG``;
    the chief's result record is returned, with every worker's exit code, final-weight
    digest and validation NDCG@10 (one model trained together: the same on all). All workers are
    killed if the run exceeds ``timeout`` seconds, and a ``TimeoutError`` is raised.
    """
    import tempfile

    ports = free_ports(workers)
    with tempfile.TemporaryDirectory(prefix="mwms-") as tmp:
        out = Path(out_dir or tmp) / "result.json"
        results = [out.with_name(f"worker-{i}.json") for i in range(workers)]
        for r in results:
            r.unlink(missing_ok=True)
        procs, logs = [], []
        for i in range(workers):
            env = dict(os.environ, TF_CONFIG=tf_config(ports, i), TF_CPP_MIN_LOG_LEVEL="3",
                       TF_ENABLE_ONEDNN_OPTS="0", PYTHONWARNINGS="ignore")
            log = open(Path(out.parent) / f"worker-{i}.log", "w+")
            logs.append(log)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "recsys_lib.distributed", "worker", name,
                 "--dataset", dataset, "--seed", str(seed),
                 "--hyperparameters", json.dumps(overrides or {}), "--out", str(out),
                 "--checkpoint-dir", str(Path(tmp) / "checkpoints")],
                env=env, stdout=log, stderr=subprocess.STDOUT))
        t0 = time.perf_counter()
        try:
            codes = [p.wait(timeout=max(1.0, timeout - (time.perf_counter() - t0))) for p in procs]
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise TimeoutError(f"the {workers}-worker run did not finish in {timeout:.0f} s") from None
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        if any(codes) or not all(r.exists() for r in results):
            tails = []
            for i, log in enumerate(logs):
                log.seek(0)
                tails.append(f"--- worker {i} (exit {codes[i]}):\n" + log.read()[-2000:])
            raise RuntimeError("multi-worker training failed:\n" + "\n".join(tails))
        for log in logs:
            log.close()
        records = [json.loads(r.read_text()) for r in results]
        record = dict(records[0])              # the chief's
        record["exit_codes"] = codes
        record["wall_seconds"] = time.perf_counter() - t0
        record["worker_weights_sha256"] = [r["weights_sha256"] for r in records]
        record["worker_valid_NDCG@10"] = [r["valid_NDCG@10"] for r in records]
        return record


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m recsys_lib.distributed")
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("worker", help="one worker of a MultiWorkerMirroredStrategy run (TF_CONFIG)")
    t = sub.add_parser("train", help="train in one process, with checkpoints (resumes if present)")
    for cmd in (w, t):
        cmd.add_argument("model")
        cmd.add_argument("--dataset", default="ml-100k")
        cmd.add_argument("--seed", type=int, default=0)
        cmd.add_argument("--hyperparameters", default="{}", help="JSON object")
        cmd.add_argument("--checkpoint-dir", default=None)
    w.add_argument("--out", default=None, help="a JSON path; each worker writes worker-I.json beside it")
    t.add_argument("--logical-cpus", type=int, default=1,
                   help="more than 1: MirroredStrategy over that many logical CPU devices")
    t.add_argument("--out", default=None, help="where to write the JSON result")
    args = p.parse_args(argv)
    try:
        args.hyperparameters = _check_args(args)
    except (KeyError, ValueError) as e:
        p.error(str(e).strip("'\""))
    if args.cmd == "worker":
        _worker(args)
    else:
        _train(args)


def _check_args(args) -> dict:
    """Fail before any data loads: unknown model or dataset, bad settings, bad CPU count."""
    from .registry import entry

    e = entry(args.model)
    if args.dataset not in ("ml-100k", "ml-1m"):
        raise ValueError(f"unknown dataset {args.dataset!r}; choose ml-100k or ml-1m")
    try:
        hp = json.loads(args.hyperparameters)
    except json.JSONDecodeError as err:
        raise ValueError(f"--hyperparameters is not valid JSON ({err})") from None
    if not isinstance(hp, dict):
        raise ValueError("--hyperparameters must be a JSON object, e.g. '{\"epochs\": 5}'")
    e.config(**hp)
    if not getattr(e.model_class(), "uses_tensorflow", False):
        raise ValueError(f"{args.model} does not train with TensorFlow; "
                         "python -m recsys_lib evaluate trains it")
    if getattr(args, "logical_cpus", 1) < 1:
        raise ValueError(f"--logical-cpus must be at least 1, got {args.logical_cpus}")
    return hp


if __name__ == "__main__":
    main()
