"""Train-and-evaluate under the protocol, grid tuning on validation, and result files."""
from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np

from .metrics import bootstrap_ci, catalogue_coverage, evaluate
from .registry import make_model
from .report import long_tail_share

__all__ = ["run_experiment", "cached_experiment", "fingerprint", "model_settings", "tune",
           "results_dir", "load_split", "write_json"]


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


def model_settings(model) -> dict:
    """Every plain setting of an unfitted model (hyperparameters, epochs, seed, ...)."""
    return {k: v for k, v in sorted(vars(model).items())
            if not k.startswith("_") and not k.endswith("_")      # fitted attributes end in _
            and isinstance(v, (bool, int, float, str, type(None)))}


def strategy_label(strategy) -> str | None:
    """``"MirroredStrategy x2"``: the kind of a ``tf.distribute`` strategy and its replicas
    (``None`` for no strategy, i.e. TensorFlow's default single-device one)."""
    if strategy is None:
        return None
    return f"{type(strategy).__name__} x{strategy.num_replicas_in_sync}"


def fingerprint(name: str, split, seed: int = 0, hyperparameters: dict | None = None,
                strategy: str | None = None) -> str:
    """A hash of everything a result depends on: the model's settings and seed, the split's
    content, the source of the library modules involved, and the Keras/TensorFlow versions.

    Two runs with the same fingerprint give the same numbers (training is deterministic), so
    a stored result with a matching fingerprint can stand in for a rerun. ``strategy`` (a
    ``strategy_label``) marks a run under ``tf.distribute``: its order of operations differs,
    so it is a different result.
    """
    import hashlib
    import importlib.metadata as md
    import inspect

    model = make_model(name, seed=seed, **(hyperparameters or {}))
    h = hashlib.sha256()
    h.update(json.dumps({"model": name, "settings": model_settings(model)},
                        sort_keys=True, default=str).encode())
    if strategy is not None:
        h.update(f"strategy={strategy}".encode())
    for part in (split.train, split.valid, split.test):
        h.update(np.ascontiguousarray(part[["user_id", "item_id"]].to_numpy(np.int64)).tobytes())
    here = Path(__file__).parent
    files = {Path(inspect.getsourcefile(type(model))), here / "metrics.py", here / "splits.py",
             here / "models" / "base.py", here / "models" / "training.py"}
    for f in sorted(files):
        h.update(f.read_bytes().replace(b"\r\n", b"\n"))
    for dist in ("keras", "tensorflow", "tensorflow-cpu", "numpy"):
        try:
            h.update(f"{dist}={md.version(dist)}".encode())
        except md.PackageNotFoundError:
            pass
    return h.hexdigest()[:16]


def run_experiment(name: str, split, seed: int = 0, dataset: str = "ml-100k",
                   hyperparameters: dict | None = None, n_boot: int = 1000,
                   return_model: bool = False, store: bool = True, strategy=None):
    """Fit model ``name`` on ``split`` and evaluate validation and test under the protocol.

    Returns the result record (see the README); per-user test NDCG@10 is under
    ``per_user_test_ndcg`` for paired comparisons. With ``return_model`` returns
    ``(record, fitted_model)``. With ``store`` the weights of a Keras-backed model are kept in
    the model store (``recsys_lib.model_store``), so later chapters can reuse the trained model.
    With ``strategy`` (a ``tf.distribute.Strategy``) a Keras-backed model trains under it; the
    record then says which (``"strategy"``) and is not stored in the model store.
    """
    from .utils import set_seed

    model = make_model(name, seed=seed, **(hyperparameters or {}))
    label = strategy_label(strategy)
    fp = fingerprint(name, split, seed, hyperparameters, label)
    set_seed(seed, tensorflow=model.uses_tensorflow)
    t0 = time.perf_counter()
    if strategy is not None:
        if not model.uses_tensorflow:
            raise ValueError(f"{name} does not train with TensorFlow, so it takes no strategy")
        model.fit(split, strategy=strategy)
    else:
        model.fit(split)
    train_seconds = time.perf_counter() - t0
    if store and strategy is None:
        from .model_store import save_model

        save_model(model, name, split, seed, hyperparameters, fp=fp)
    valid, test = evaluate(model, split, "valid"), evaluate(model, split, "test")
    ci = {m: [round(x, 4) for x in bootstrap_ci(v, n_boot=n_boot, seed=seed)]
          for m, v in test.per_user.items()}
    hp = {k: getattr(model, k) for k in model.hyperparameters}
    settings = {k: v for k, v in model_settings(model).items() if k != "seed"}
    rec = {"model": name, "dataset": dataset, "seed": seed, "fingerprint": fp, "settings": settings,
            "valid": _round(valid.means), "test": _round(test.means),
            "test_ci95": ci, "train_seconds": round(train_seconds, 3),
            "params": model.num_params, "hyperparameters": hp,
            "coverage@10": round(catalogue_coverage(test.topk, split.num_items), 4),
            "long_tail@10": round(long_tail_share(test.topk, split.train_matrix().sum(0).A1), 4),
            "per_user_test_ndcg": [round(float(x), 5) for x in test.per_user["NDCG@10"]]}
    if label is not None:
        rec["strategy"] = label
    if hasattr(model, "history_"):
        rec["history"] = {k: [round(float(x), 5) for x in v] for k, v in model.history_.items()}
    return (rec, model) if return_model else rec


def cached_experiment(name: str, split, seed: int = 0, dataset: str = "ml-100k",
                      hyperparameters: dict | None = None, refresh: bool = False,
                      tag: str = "", strategy=None) -> dict:
    """``run_experiment``, unless ``results/<dataset>/seeds/<name><tag>-seed<seed>.json`` holds a
    record with the same fingerprint (same code, settings, seed and data): then that record.

    The stored files are written by ``python -m recsys_lib evaluate NAME --seed N`` and by
    this function; ``tag`` names a variant with other ``hyperparameters`` (e.g. ``"-units200"``)
    so that it does not overwrite the model's default record; a run under a ``strategy`` needs
    a tag too. The returned record has
    ``"cached": True`` when it was read, not rerun.
    """
    if tag and not all(c.isalnum() or c in "-_." for c in tag):
        raise ValueError(f"tag may contain letters, digits, '-', '_' and '.', got {tag!r}")
    if strategy is not None and not tag:
        raise ValueError("a run under a strategy needs a tag, e.g. '-mirrored2'")
    path = results_dir() / dataset / "seeds" / f"{name}{tag}-seed{seed}.json"
    fp = fingerprint(name, split, seed, hyperparameters, strategy_label(strategy))
    if path.exists() and not refresh:
        try:
            rec = json.loads(path.read_text())
        except json.JSONDecodeError:
            rec = {}
        if rec.get("fingerprint") == fp:
            return {**rec, "cached": True}
    rec = run_experiment(name, split, seed=seed, dataset=dataset, hyperparameters=hyperparameters,
                         strategy=strategy)
    write_json(rec, path)
    return {**rec, "cached": False}


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
