"""Train-and-evaluate under the protocol, and result files (tuning: ``recsys_lib.tuning``)."""
from __future__ import annotations

import json
import time
from pathlib import Path

from .keys import fingerprint
from .metrics import bootstrap_ci, catalogue_coverage, evaluate
from .model_store import save_model
from .registry import make_model
from .report import long_tail_share
from .io import write_json
from .utils import set_seed

__all__ = ["run_experiment", "cached_experiment", "fingerprint", "results_dir",
           "load_split", "write_json", "record_path", "stored_record", "strategy_label",
           "trained_model", "variant_records", "recent_share_split",
           "record_split"]


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


def strategy_label(strategy) -> str | None:
    """``"MirroredStrategy x2"``: the kind of a ``tf.distribute`` strategy and its replicas
    (``None`` for no strategy, i.e. TensorFlow's default single-device one)."""
    if strategy is None:
        return None
    return f"{type(strategy).__name__} x{strategy.num_replicas_in_sync}"


def run_experiment(name: str, split, seed: int = 0, dataset: str = "ml-100k",
                   overrides: dict | None = None, n_boot: int = 1000,
                   return_model: bool = False, store: bool = True, strategy=None):
    """Fit model ``name`` on ``split`` and evaluate validation and test under the protocol.

    ``overrides`` change fields of the registry entry's config. Returns the result record
    (see the README): the config, the overrides, the metrics; per-user test NDCG@10 is under
    ``per_user_test_ndcg`` for paired comparisons. With ``return_model`` returns
    ``(record, fitted_model)``. With ``store`` the weights of a Keras-backed model are kept in
    the model store (``recsys_lib.model_store``), so later chapters can reuse the trained model.
    With ``strategy`` (a ``tf.distribute.Strategy``) a Keras-backed model trains under it; the
    record then says which (``"strategy"``) and is not stored in the model store.
    """
    overrides = dict(overrides or {})
    model = make_model(name, seed=seed, **overrides)
    label = strategy_label(strategy)
    fp = fingerprint(name, split, seed, overrides, label)
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
        save_model(model, name, split, seed, overrides, fp=fp)
    valid, test = evaluate(model, split, "valid"), evaluate(model, split, "test")
    ci = {m: [round(x, 4) for x in bootstrap_ci(v, n_boot=n_boot, seed=seed)]
          for m, v in test.per_user.items()}
    rec = {"model": name, "dataset": dataset, "seed": seed, "fingerprint": fp,
           "overrides": overrides, "config": model.config.as_dict(),
           "valid": _round(valid.means), "test": _round(test.means),
           "test_ci95": ci, "train_seconds": round(train_seconds, 3),
           "params": model.num_params,
           "hyperparameters": {k: getattr(model.config, k) for k in model.Config.space},
            "coverage@10": round(catalogue_coverage(test.topk, split.num_items), 4),
            "long_tail@10": round(long_tail_share(test.topk, split.train_matrix().sum(0).A1), 4),
            "per_user_test_ndcg": [round(float(x), 5) for x in test.per_user["NDCG@10"]]}
    rec["test_input"] = getattr(model, "test_input", "input")
    if rec["test_input"] == "refit":
        rec["refit_epochs"] = int(model.best_epoch_)
    if label is not None:
        rec["strategy"] = label
    if hasattr(model, "history_"):
        rec["history"] = {k: [round(float(x), 5) for x in v] for k, v in model.history_.items()}
    return (rec, model) if return_model else rec


def record_path(name: str, seed: int = 0, dataset: str = "ml-100k", tag: str = "") -> Path:
    """Where the seed record of ``name`` (a variant: ``tag``) is stored."""
    if tag and not all(c.isalnum() or c in "-_." for c in tag):
        raise ValueError(f"tag may contain letters, digits, '-', '_' and '.', got {tag!r}")
    return results_dir() / dataset / "seeds" / f"{name}{tag}-seed{seed}.json"


def stored_record(name: str, split, seed: int = 0, dataset: str = "ml-100k",
                  overrides: dict | None = None, tag: str = "", strategy=None) -> dict | None:
    """The stored seed record of ``name`` if it is current (its fingerprint matches today's
    code, settings, seed and data), else ``None``; never trains, never writes."""
    path = record_path(name, seed, dataset, tag)
    if not path.exists():
        return None
    try:
        rec = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    fp = fingerprint(name, split, seed, overrides, strategy_label(strategy))
    return rec if isinstance(rec, dict) and rec.get("fingerprint") == fp else None


def cached_experiment(name: str, split, seed: int = 0, dataset: str = "ml-100k",
                      overrides: dict | None = None, refresh: bool = False,
                      tag: str = "", strategy=None) -> dict:
    """``run_experiment``, unless ``results/<dataset>/seeds/<name><tag>-seed<seed>.json`` holds a
    record with the same fingerprint (same code, settings, seed and data): then that record.

    The stored files are written by ``python -m recsys_lib evaluate NAME --seed N`` and by
    this function; ``tag`` names a variant with other ``overrides`` (e.g. ``"-units200"``)
    so that it does not overwrite the model's default record; a run under a ``strategy`` needs
    a tag too. The returned record has
    ``"cached": True`` when it was read, not rerun.
    """
    path = record_path(name, seed, dataset, tag)
    if strategy is not None and not tag:
        raise ValueError("a run under a strategy needs a tag, e.g. '-mirrored2'")
    if not refresh and (rec := stored_record(name, split, seed, dataset, overrides, tag,
                                             strategy)) is not None:
        return {**rec, "cached": True}
    rec = run_experiment(name, split, seed=seed, dataset=dataset, overrides=overrides,
                         strategy=strategy)
    write_json(rec, path)
    return {**rec, "cached": False}


def trained_model(name: str, split, seed: int = 0, dataset: str = "ml-100k",
                  overrides: dict | None = None):
    """``(record, fitted model)`` of one seed, trained at most once on this computer.

    When the model store holds this model (the same fingerprint: code, settings, seed and data)
    and the stored record is current, both are returned as they are: the model is restored,
    not retrained, and the record is the committed one. Otherwise the model trains here, once,
    is evaluated and kept in the store (``run_experiment``), and the record is the one just
    made; on a fresh clone, where the store is empty, that is every chapter's seed-0 run. A
    model with no weights to store (EASE, ItemKNN, ...) is refitted in seconds and comes with
    its stored record.
    The model's ``restored_from_store_``, and the record's ``"restored"``, say which happened.
    A model retrained here while its current record is stored comes with that record (one value
    per fact in the book), plus ``"retrained_seconds"`` (this run's time) and ``"reproduced"``
    (whether this run's test metrics match the record's to 3 decimals).
    """
    from .model_store import _stores_weights, fitted_model, load_model

    rec = stored_record(name, split, seed, dataset, overrides)
    model = load_model(name, split, seed, overrides) if rec is not None else None
    if model is not None:
        return {**rec, "cached": True, "restored": True}, model
    if rec is not None and not _stores_weights(make_model(name, seed=seed, **(overrides or {}))):
        # a model without weights to store (closed-form, neighbourhood) is fitted again here,
        # in seconds and deterministically; its record, and its measured time, stay the stored ones
        return {**rec, "cached": True}, fitted_model(name, split, seed, overrides)
    new, model = run_experiment(name, split, seed=seed, dataset=dataset, overrides=overrides,
                                return_model=True)
    model.restored_from_store_ = False
    if rec is not None:
        # a current record exists (the store was empty, e.g. on a fresh clone): its figures,
        # the training time among them, stay the book's one value; this run's time is kept
        # beside it, and whether this run reproduced the stored test metrics
        same = all(abs(new["test"][m] - rec["test"][m]) < 5e-4 for m in rec["test"])
        return {**rec, "cached": False, "retrained_seconds": new["train_seconds"],
                "reproduced": same}, model
    return {**new, "cached": False}, model


def variant_records(name: str, split, overrides: dict, tag: str, profile: str = "full",
                    seeds=(0, 1, 2), dataset: str = "ml-100k") -> list[dict]:
    """The seed records of a variant of ``name``: the registry's settings changed by
    ``overrides``, stored under ``tag`` (e.g. ``"-meanpool"``) beside the model's own records.

    In the ``"full"`` profile each seed is ``cached_experiment``: read when its stored record's
    fingerprint matches, trained and stored otherwise. In another profile (a chapter's
    ``"smoke"`` run) it is one run of seed 0 with ``overrides`` and then the profile's short
    settings (``registry.profile_overrides``), neither read nor stored, so that a quick check
    never replaces a real record. The chapters' exercises compare a variant with the model's
    own seeds through ``report.variant_comparison``.
    """
    from .registry import profile_overrides

    if not tag:
        raise ValueError("a variant needs a tag, so that it does not overwrite the model's "
                         "own records")
    if profile != "full":
        quick = {**overrides, **profile_overrides(name, profile)}
        return [run_experiment(name, split, seed=0, dataset=dataset, overrides=quick,
                               store=False)]
    return [cached_experiment(name, split, seed=int(s), dataset=dataset, overrides=overrides,
                              tag=tag) for s in seeds]


def recent_share_split(split, share: float):
    """``split`` with each user's training history cut to its most recent ``share`` (the
    positions from ``floor(n * (1 - share))`` on, in time order); validation and test are
    unchanged. Chapter 10's learning curve is measured on these splits, and a stored record
    tagged ``-history<percent>`` was made on one (the tests rebuild it to check the record's
    fingerprint). ``share = 1`` returns ``split`` itself."""
    import math
    from dataclasses import replace

    import numpy as np

    if not (isinstance(share, (int, float)) and 0 < share <= 1) or math.isnan(share):
        raise ValueError(f"share must be in (0, 1], got {share!r}")
    if share == 1:
        return split
    train = split.train
    ordered = train.sort_values(["user_id", "timestamp"], kind="stable")
    position = ordered.groupby("user_id").cumcount().reindex(train.index)  # 0 = oldest
    length = train.groupby("user_id")["item_id"].transform("size")
    kept = train[position >= np.floor(length * (1 - share))]
    return replace(split, train=kept.sort_values(["user_id", "timestamp"], kind="stable")
                   .reset_index(drop=True), _cache={})


def record_split(split, filename: str):
    """The split a stored seed record named ``filename`` was made on: for a learning-curve
    point tagged ``-history<percent>`` (chapter 10), the most recent share of each history
    (``recent_share_split``); otherwise ``split`` itself. Whoever checks a stored record's
    fingerprint (the tests, ``benchmarks/restamp_keys.py``) rebuilds its split here."""
    import re

    share = re.search(r"-history(\d+)-seed\d+\.json$", str(filename))
    return recent_share_split(split, int(share.group(1)) / 100) if share else split
