"""Keep the weights of trained deep models, so that a later chapter can reuse a model an earlier
chapter trained instead of training it again.

Files live in ``data/models/<name>-seed<seed>-<fingerprint>.npz`` of the checkout, or in
``$RECSYS_MODELS`` if set; like the rest of ``data/``, they are a cache and never committed. The fingerprint is the one of
``recsys_lib.experiment.fingerprint``: model settings, seed, split content, library source and
Keras/TensorFlow versions. A file is only used when all of those match, so a stored model is
the model that training would produce now.

``run_experiment`` stores every Keras-backed model it trains; ``fitted_model`` returns a fitted
model, restored from the store when possible and trained (and stored) otherwise.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

__all__ = ["store_dir", "store_path", "save_model", "load_model", "fitted_model"]


def store_dir() -> Path:
    from .download import project_dir

    return project_dir("RECSYS_MODELS", "data/models")


def store_path(name: str, seed: int, fp: str) -> Path:
    return store_dir() / f"{name}-seed{seed}-{fp}.npz"


def _is_keras_model(model) -> bool:
    from .models.training import EarlyStoppingRecommender

    return isinstance(model, EarlyStoppingRecommender)


def save_model(model, name: str, split, seed: int = 0, hyperparameters: dict | None = None,
               fp: str | None = None) -> Path | None:
    """Store a fitted Keras-backed model's weights and training history; ``None`` for other models.

    ``fp`` is the model's fingerprint if the caller has it already. The file is written to a
    temporary name and renamed into place, so an interrupted write never leaves a partial file
    that a later run could load.
    """
    if not _is_keras_model(model):
        return None
    from .experiment import fingerprint

    fp = fp or fingerprint(name, split, seed, hyperparameters)
    path = store_path(name, seed, fp)
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = model.net_.get_weights()
    meta = {"history": model.history_, "best_epoch": int(model.best_epoch_),
            "train_seconds": float(model.train_seconds_), "n_weights": len(weights)}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, meta=np.array(json.dumps(meta)), **{f"w{i}": w for i, w in enumerate(weights)})
    tmp.replace(path)
    return path


def load_model(name: str, split, seed: int = 0, hyperparameters: dict | None = None):
    """The fitted model from the store, or ``None`` when no file matches its fingerprint.

    The model's own ``fit`` prepares everything but the weights (its inputs, windows, caches);
    training is replaced by loading the stored weights, so restoring takes about one validation
    pass, not a training run. A corrupt file is removed and ``None`` returned.
    """
    from .experiment import fingerprint
    from .registry import make_model
    from .utils import set_seed

    path = store_path(name, seed, fingerprint(name, split, seed, hyperparameters))
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            weights = [f[f"w{i}"] for i in range(meta["n_weights"])]
    except Exception:                               # truncated or corrupt: forget it
        path.unlink(missing_ok=True)
        return None
    model = make_model(name, seed=seed, **(hyperparameters or {}))
    if not _is_keras_model(model):
        return None
    epochs, refresh = model.epochs, model._refresh
    loaded = False

    def restore():
        nonlocal loaded
        if not loaded:
            model.net_.set_weights(weights)
            loaded = True
        refresh()

    model._run_epoch = lambda epoch: 0.0            # no training: one pass that only restores
    model._refresh, model.epochs = restore, 1
    set_seed(seed, tensorflow=True)
    try:
        model.fit(split)
    finally:
        del model._run_epoch, model._refresh
        model.epochs = epochs
    model.history_ = meta["history"]
    model.best_epoch_, model.train_seconds_ = meta["best_epoch"], meta["train_seconds"]
    model.restored_from_store_ = True
    return model


def fitted_model(name: str, split, seed: int = 0, hyperparameters: dict | None = None):
    """A fitted model: restored from the store if its fingerprint matches, else trained here
    (with the protocol's seeding) and, for Keras-backed models, stored for next time."""
    from .registry import make_model
    from .utils import set_seed

    model = load_model(name, split, seed, hyperparameters)
    if model is not None:
        return model
    model = make_model(name, seed=seed, **(hyperparameters or {}))
    set_seed(seed, tensorflow=model.uses_tensorflow)
    t0 = time.perf_counter()
    model.fit(split)
    if not hasattr(model, "train_seconds_"):
        model.train_seconds_ = time.perf_counter() - t0
    save_model(model, name, split, seed, hyperparameters)
    model.restored_from_store_ = False
    return model
