"""Command line: ``python -m recsys_lib {data fetch, evaluate, tune, report}``."""
from __future__ import annotations

import argparse
import json
import sys
import time

__all__ = ["main"]

_PUBLIC_KEYS = ("model", "dataset", "seed", "fingerprint", "valid", "test", "test_ci95", "train_seconds",
                "params", "hyperparameters", "coverage@10", "long_tail@10")


def _cmd_fetch(args) -> int:
    from .movielens import load_ml1m, load_ml100k

    t0 = time.perf_counter()
    ml = (load_ml100k if args.dataset == "ml-100k" else load_ml1m)()
    print(f"{ml!r}: verified and cached in {time.perf_counter() - t0:.1f} s")
    return 0


def _cmd_evaluate(args) -> int:
    from .experiment import load_split, results_dir, run_experiment, tune, write_json

    split = load_split(args.dataset)
    hp = None
    if args.tune:
        hp = tune(args.model, split, seed=args.seed)["best"]
    rec = run_experiment(args.model, split, seed=args.seed, dataset=args.dataset,
                         hyperparameters=hp)
    public = {k: rec[k] for k in _PUBLIC_KEYS}
    out = results_dir() / args.dataset
    write_json(public, out / f"{args.model}.json")
    write_json(rec, out / "seeds" / f"{args.model}-seed{args.seed}.json")
    print(json.dumps(public))
    return 0


def _cmd_tune(args) -> int:
    from .experiment import load_split, results_dir, tune, write_json

    split = load_split(args.dataset)

    def show(row):
        print(f"  {row['hyperparameters']}  valid NDCG@10={row['valid']['NDCG@10']:.4f} "
              f"({row['train_seconds']:.1f} s)", file=sys.stderr, flush=True)

    res = tune(args.model, split, seed=args.seed, progress=show)
    write_json(res, results_dir() / args.dataset / "tuning" / f"{args.model}.json")
    print(json.dumps({"model": args.model, "best": res["best"]}))
    return 0


def _cmd_report(args) -> int:
    from .experiment import load_split, results_dir, run_experiment, write_json
    from .report import baseline_table

    split = load_split(args.dataset)
    records = []
    for name in args.models:
        print(f"training {name} ...", file=sys.stderr, flush=True)
        rec = run_experiment(name, split, seed=args.seed, dataset=args.dataset)
        public = {k: rec[k] for k in _PUBLIC_KEYS}
        write_json(public, results_dir() / args.dataset / f"{name}.json")
        write_json(rec, results_dir() / args.dataset / "seeds" / f"{name}-seed{args.seed}.json")
        records.append(public)
    table = baseline_table(records)
    path = results_dir() / args.dataset / "baselines.md"
    path.write_text(table + "\n")
    print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .registry import MODELS

    p = argparse.ArgumentParser(prog="python -m recsys_lib",
                                description="Deep Learning for Recommender Systems: helper CLI")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="fetch and verify datasets")
    dsub = d.add_subparsers(dest="action", required=True)
    f = dsub.add_parser("fetch", help="download (or find in the cache) and verify a dataset")
    f.add_argument("--dataset", default="ml-100k", choices=["ml-100k", "ml-1m"])
    f.set_defaults(func=_cmd_fetch)

    e = sub.add_parser("evaluate", help="train and evaluate one model under the protocol")
    e.add_argument("model", choices=sorted(MODELS))
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--dataset", default="ml-100k", choices=["ml-100k", "ml-1m"])
    e.add_argument("--tune", action="store_true",
                   help="grid-search the model's hyperparameters on validation first")
    e.set_defaults(func=_cmd_evaluate)

    t = sub.add_parser("tune", help="grid-search hyperparameters on the validation split")
    t.add_argument("model", choices=sorted(MODELS))
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--dataset", default="ml-100k", choices=["ml-100k", "ml-1m"])
    t.set_defaults(func=_cmd_tune)

    r = sub.add_parser("report", help="evaluate several models and print a markdown table")
    r.add_argument("models", nargs="*", default=["pop", "itemknn", "ease", "bpr"])
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--dataset", default="ml-100k", choices=["ml-100k", "ml-1m"])
    r.set_defaults(func=_cmd_report)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:  # a clear one-line error instead of a traceback
        from .download import DownloadError
        if isinstance(exc, (DownloadError, KeyError, ValueError)):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise
