"""Retrain every stored seed record under ``results/<dataset>/seeds`` with today's code.

    python benchmarks/retrain_records.py [--dry-run]

Each record is rerun through ``cached_experiment`` with the model, seed, tag and overrides
it was made with, and a registered model without records gets its seed records (three seeds
if its seed matters, else one) (a record that is already current is kept, so an interrupted run resumes
where it stopped). Records made under a ``tf.distribute`` strategy are rerun in a fresh
process over two logical CPUs. The seed-0 default records also refresh the public
``results/<dataset>/<model>.json`` summaries.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time

from recsys_lib.cli import _PUBLIC_KEYS
from recsys_lib.experiment import cached_experiment, load_split, results_dir
from recsys_lib.io import write_json
from recsys_lib.registry import MODELS, model_config


def plan(dataset: str = "ml-100k"):
    out = []
    for path in sorted((results_dir() / dataset / "seeds").glob("*.json")):
        rec = json.loads(path.read_text())
        name, seed = rec["model"], int(rec["seed"])
        m = re.fullmatch(re.escape(name) + r"(.*)-seed\d+\.json", path.name)
        tag = m.group(1)
        if "overrides" in rec:
            overrides = rec["overrides"]
        else:  # an older record: its settings minus the defaults
            default = model_config(name).as_dict()
            overrides = {
                k: v
                for k, v in rec.get("settings", {}).items()
                if k in default and default[k] is not None and default[k] != v
            }
        out.append(
            {
                "name": name,
                "seed": seed,
                "tag": tag,
                "overrides": overrides,
                "strategy": rec.get("strategy"),
            }
        )
    # a registered model with no default record yet gets one per seed it needs: 0, 1 and 2
    # for a model whose seed matters, 0 alone for a deterministic one
    have = {(j["name"], j["seed"]) for j in out if not j["tag"]}
    for name, e in MODELS.items():
        seeded = e.model_class().seeded
        for seed in (0, 1, 2) if seeded else (0,):
            if (name, seed) not in have:
                out.append(
                    {"name": name, "seed": seed, "tag": "", "overrides": {}, "strategy": None}
                )
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument(
        "--models",
        nargs="+",
        metavar="MODEL",
        help="retrain only these models' records (default: every record)",
    )
    p.add_argument("--mirrored", help=argparse.SUPPRESS)  # internal: one strategy run
    args = p.parse_args(argv)
    if args.mirrored:
        from recsys_lib.distributed import logical_cpus

        devices = logical_cpus(2)
        import tensorflow as tf

        job = json.loads(args.mirrored)
        rec = cached_experiment(
            job["name"],
            load_split(args.dataset),
            seed=job["seed"],
            dataset=args.dataset,
            overrides=job["overrides"],
            tag=job["tag"],
            strategy=tf.distribute.MirroredStrategy(devices),
        )
        print(f"  {'kept' if rec['cached'] else 'trained'} in {rec['train_seconds']:.0f} s")
        return 0
    jobs = plan(args.dataset)
    if args.models:
        jobs = [j for j in jobs if j["name"] in args.models]
    unknown = sorted({j["name"] for j in jobs} - set(MODELS))
    if unknown:
        raise SystemExit(f"records of unregistered models: {unknown}")
    split = load_split(args.dataset)
    t0 = time.perf_counter()
    for k, job in enumerate(jobs, 1):
        print(
            f"[{k}/{len(jobs)}] {job['name']}{job['tag']} seed {job['seed']} "
            f"{job['overrides'] or ''} {job['strategy'] or ''} "
            f"({time.perf_counter() - t0:.0f} s so far)",
            flush=True,
        )
        if args.dry_run:
            continue
        if job["strategy"]:
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--dataset",
                    args.dataset,
                    "--mirrored",
                    json.dumps(job),
                ],
                check=True,
            )
            continue
        rec = cached_experiment(
            job["name"],
            split,
            seed=job["seed"],
            dataset=args.dataset,
            overrides=job["overrides"],
            tag=job["tag"],
        )
        print(
            f"  {'kept' if rec['cached'] else 'trained'}: test NDCG@10 "
            f"{rec['test']['NDCG@10']:.4f}, {rec['train_seconds']:.0f} s",
            flush=True,
        )
        if job["seed"] == 0 and not job["tag"] and not job["overrides"]:
            write_json(
                {k: rec[k] for k in _PUBLIC_KEYS},
                results_dir() / args.dataset / f"{job['name']}.json",
            )
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
