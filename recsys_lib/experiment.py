"""Train-and-evaluate under the protocol, grid tuning on validation, and result files."""
from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np

from .metrics import bootstrap_ci, catalogue_coverage, evaluate
from .registry import make_model

__all__ = ["run_experiment", "tune", "results_dir", "load_split"]


def results_dir() -> Path:
    """Where result files go: ``$RECSYS_RESULTS``, else ``results/`` of the project checkout."""
    from .download import project_dir

    return project_dir("RECSYS_RESULTS", "results")


def load_split(dataset: str = "ml-100k"):
    """The protocol split of ``dataset`` ('ml-100k' or 'ml-1m')."""
    from .movielens import load_ml1m, load_ml100k
    from .splits import protocol_split

    loaders = {"ml-100k": load_ml100k, "ml-1m": load_ml1m}
    if dataset not in loaders:
        raise KeyError(f"unknown dataset {dataset!r}; choose from {sorted(loaders)}")
    return protocol_split(loaders[dataset]())


def _round(d: dict, digits: int = 4) -> dict:
    return {k: round(float(v), digits) for k, v in d.items()}


def run_experiment(name: str, split, seed: int = 0, dataset: str = "ml-100k",
                   hyperparameters: dict | None = None, n_boot: int = 1000) -> dict:
    """Fit model ``name`` on ``split`` and evaluate validation and test under the protocol.

    Returns the result record (see the README); per-user test NDCG@10 is under
    ``per_user_test_ndcg`` for paired comparisons.
    """
    from .utils import set_seed

    model = make_model(name, seed=seed, **(hyperparameters or {}))
    set_seed(seed, tensorflow=model.uses_tensorflow)
    t0 = time.perf_counter()
    model.fit(split)
    train_seconds = time.perf_counter() - t0
    valid, test = evaluate(model, split, "valid"), evaluate(model, split, "test")
    ci = {m: [round(x, 4) for x in bootstrap_ci(v, n_boot=n_boot, seed=seed)]
          for m, v in test.per_user.items()}
    hp = {k: getattr(model, k) for k in model.hyperparameters}
    return {"model": name, "dataset": dataset, "seed": seed,
            "valid": _round(valid.means), "test": _round(test.means),
            "test_ci95": ci, "train_seconds": round(train_seconds, 3),
            "params": model.num_params, "hyperparameters": hp,
            "coverage@10": round(catalogue_coverage(test.topk, split.num_items), 4),
            "per_user_test_ndcg": [round(float(x), 5) for x in test.per_user["NDCG@10"]]}


def tune(name: str, split, seed: int = 0, grid: dict | None = None, progress=None) -> dict:
    """Grid search on the validation split only; returns every config's validation metrics."""
    from .registry import model_class

    grid = grid if grid is not None else model_class(name).hyperparameters
    keys = sorted(grid)
    configs = [dict(zip(keys, vals)) for vals in itertools.product(*(grid[k] for k in keys))]
    rows = []
    for hp in configs:
        model = make_model(name, seed=seed, **hp)
        t0 = time.perf_counter()
        model.fit(split)
        secs = time.perf_counter() - t0
        rows.append({"hyperparameters": hp, "valid": _round(evaluate(model, split, "valid").means),
                     "train_seconds": round(secs, 2)})
        if progress:
            progress(rows[-1])
    best = max(rows, key=lambda r: r["valid"]["NDCG@10"])
    return {"model": name, "seed": seed, "criterion": "valid NDCG@10", "grid": grid,
            "trials": rows, "best": best["hyperparameters"]}


def write_json(obj: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    tmp.replace(path)
    return path
