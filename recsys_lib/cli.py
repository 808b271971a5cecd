"""Command line: ``python -m recsys_lib {data fetch, evaluate, tune, report}``."""
from __future__ import annotations

import argparse
import json
import sys
import time

__all__ = ["main"]

_PUBLIC_KEYS = ("model", "dataset", "seed", "fingerprint", "overrides", "valid", "test",
                "test_ci95", "train_seconds", "params", "hyperparameters", "coverage@10",
                "long_tail@10")


def parse_overrides(pairs) -> dict:
    """``["dim=64", "loss=bce", "stream=true"]`` -> ``{"dim": 64, "loss": "bce", "stream": True}``
    (true/false/none in any case, then JSON when it parses, else the string)."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set takes NAME=VALUE, got {pair!r}")
        words = {"true": True, "false": False, "none": None, "null": None}
        if value.strip().lower() in words:
            out[key.strip()] = words[value.strip().lower()]
            continue
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _write_records(rec: dict, dataset: str, name: str, seed: int) -> dict:
    from .experiment import record_path, results_dir
    from .io import write_json

    public = {k: rec[k] for k in _PUBLIC_KEYS}
    write_json(rec, record_path(name, seed, dataset))        # the seed record first
    if seed == 0:                                             # the summary is seed 0's
        write_json(public, results_dir() / dataset / f"{name}.json")
    return public


def _cmd_fetch(args) -> int:
    from .movielens import load_ml1m, load_ml100k

    t0 = time.perf_counter()
    ml = (load_ml100k if args.dataset == "ml-100k" else load_ml1m)()
    print(f"{ml!r}: verified and cached in {time.perf_counter() - t0:.1f} s")
    return 0


def _cmd_evaluate(args) -> int:
    from .experiment import load_split, run_experiment
    from .tuning import tune
    from .registry import model_config

    overrides = parse_overrides(args.set)
    model_config(args.model, **overrides)           # a bad setting fails before any data loads
    split = load_split(args.dataset)
    if args.tune:
        overrides = {**tune(args.model, split, seed=args.seed, dataset=args.dataset,
                            progress=_show_trial)["best"], **overrides}
    rec = run_experiment(args.model, split, seed=args.seed, dataset=args.dataset,
                         overrides=overrides)
    if overrides:       # a variant: keep the default record of the model untouched
        print(json.dumps({k: rec[k] for k in _PUBLIC_KEYS}))
        return 0
    print(json.dumps(_write_records(rec, args.dataset, args.model, args.seed)))
    return 0


def _show_trial(row, done, budget):
    print(f"  [{done}/{budget}] {row['hyperparameters']}  valid NDCG@10="
          f"{row['valid']['NDCG@10']:.4f} ({row['train_seconds']:.1f} s)", file=sys.stderr, flush=True)


def _cmd_tune(args) -> int:
    from .experiment import load_split
    from .registry import entry
    from .tuning import TRIALS, best_seconds, open_edges, studies_dir, tune, tuning_path

    entry(args.model)
    trials = TRIALS if args.trials is None else args.trials
    if trials < 1:
        raise ValueError(f"--trials must be at least 1, got {trials}")
    split = load_split(args.dataset)
    res = tune(args.model, split, seed=args.seed, trials=trials, dataset=args.dataset,
               progress=_show_trial, storage_dir=studies_dir(args.dataset))
    edges = open_edges(args.model, res["best"], best_seconds(res))
    print(json.dumps({"model": args.model, "best": res["best"], "valid": res["best_valid"],
                      "trials": len(res["trials"]), "seconds": res["seconds"],
                      "record": tuning_path(args.model, args.dataset).name, "open_edges": edges}))
    return 0


def _cmd_report(args) -> int:
    from .experiment import load_split, results_dir, run_experiment
    from .registry import entry
    from .report import baseline_table

    for name in args.models:                        # every name is checked before any training
        entry(name)
    split = load_split(args.dataset)
    records = []
    for name in args.models:
        print(f"training {name} ...", file=sys.stderr, flush=True)
        rec = run_experiment(name, split, seed=args.seed, dataset=args.dataset)
        records.append(_write_records(rec, args.dataset, name, args.seed))
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

    names = ", ".join(MODELS)
    seed_help = "the random seed of the run (default 0)"
    data_help = "the dataset (default ml-100k)"
    e = sub.add_parser("evaluate", help="train and evaluate one model under the protocol")
    e.add_argument("model", choices=list(MODELS), metavar="MODEL", help=f"one of: {names}")
    e.add_argument("--seed", type=int, default=0, help=seed_help)
    e.add_argument("--dataset", default="ml-100k", choices=["ml-100k", "ml-1m"], help=data_help)
    e.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="override one config setting (repeatable), e.g. --set dim=64; the "
                        "record is then printed, not stored over the model's default one")
    e.add_argument("--tune", action="store_true",
                   help="tune the model on validation first (as the tune command); the tuned "
                        "record is printed, not stored over the model's default one")
    e.set_defaults(func=_cmd_evaluate)

    t = sub.add_parser("tune", help="search a model's space on validation with the shared budget "
                                    "(Optuna TPE; resumes an interrupted search)")
    t.add_argument("model", choices=list(MODELS), metavar="MODEL", help=f"one of: {names}")
    t.add_argument("--seed", type=int, default=0, help=seed_help)
    t.add_argument("--dataset", default="ml-100k", choices=["ml-100k", "ml-1m"], help=data_help)
    t.add_argument("--trials", type=int, default=None,
                   help="the budget (default: recsys_lib.tuning.TRIALS, the same for every model)")
    t.set_defaults(func=_cmd_tune)

    r = sub.add_parser("report", help="evaluate several models and print a markdown table")
    r.add_argument("models", nargs="*", default=["pop", "itemknn", "ease", "bpr"],
                   metavar="MODEL", help=f"models to train (default: the four baselines); {names}")
    r.add_argument("--seed", type=int, default=0, help=seed_help)
    r.add_argument("--dataset", default="ml-100k", choices=["ml-100k", "ml-1m"], help=data_help)
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
