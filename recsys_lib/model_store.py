"""Keep the weights of trained deep models, so that a later chapter can reuse a model an earlier
chapter trained instead of training it again.

Files live in ``data/models/<name>-seed<seed>-<fingerprint>.npz`` of the checkout, or in
``$RECSYS_MODELS`` if set; like the rest of ``data/``, they are a cache and never committed. The
fingerprint is the cache key of ``recsys_lib.keys.fingerprint`` (config, seed, data content,
library versions and the code's behaviour), so a stored model is the model that training
would produce now.

The format is NumPy's ``.npz``: for every network of the model (``model.networks()``), its
weights in Keras' ``get_weights`` order, plus a JSON header with the training history. To
restore, the model is rebuilt from its config (``setup``, which builds the networks without
training), the weights are loaded with ``set_weights``, and the model refreshes its caches
(``EarlyStoppingRecommender.restore``).

``run_experiment`` stores every Keras-backed model it trains; ``fitted_model`` returns a fitted
model, restored from the store when possible and trained (and stored) otherwise.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .keys import fingerprint
from .registry import make_model
from .io import atomic_file
from .utils import set_seed

__all__ = ["store_dir", "store_path", "save_model", "load_model", "fitted_model"]


def store_dir() -> Path:
    from .download import project_dir

    return project_dir("RECSYS_MODELS", "data/models")


def store_path(name: str, seed: int, fp: str) -> Path:
    return store_dir() / f"{name}-seed{seed}-{fp}.npz"


def _stores_weights(model) -> bool:
    return callable(getattr(model, "network_weights", None))


def save_model(model, name: str, split, seed: int = 0, overrides: dict | None = None,
               fp: str | None = None) -> Path | None:
    """Store a fitted Keras-backed model's weights and history; ``None`` for other models.

    ``fp`` is the model's fingerprint if the caller has it already. The file is written under a
    unique temporary name and renamed into place, so an interrupted or concurrent write never
    leaves a partial file that a later run could load.
    """
    if not _stores_weights(model):
        return None
    fp = fp or fingerprint(name, split, seed, overrides)
    path = store_path(name, seed, fp)
    weights = model.stored_weights()
    meta = {"model": name, "history": model.history_, "best_epoch": int(model.best_epoch_),
            "train_seconds": float(model.train_seconds_),
            "networks": {k: len(v) for k, v in weights.items()}}
    arrays = {f"{k}/{i}": w for k, ws in weights.items() for i, w in enumerate(ws)}
    with atomic_file(path) as f:
        np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
    return path


def load_model(name: str, split, seed: int = 0, overrides: dict | None = None):
    """The fitted model from the store, or ``None`` when no file matches its fingerprint.

    A corrupt file, or one that holds another model's weights, is removed and ``None``
    returned, so the caller trains instead.
    """
    path = store_path(name, seed, fingerprint(name, split, seed, overrides))
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            weights = {k: [f[f"{k}/{i}"] for i in range(n)] for k, n in meta["networks"].items()}
        if meta.get("model") != name:
            raise ValueError(f"holds {meta.get('model')!r}")
    except Exception:                               # truncated, corrupt or foreign: forget it
        path.unlink(missing_ok=True)
        return None
    model = make_model(name, seed=seed, **(overrides or {}))
    if not _stores_weights(model):
        return None
    set_seed(seed, tensorflow=True)
    try:
        model.restore(split, weights, meta["history"], meta["best_epoch"], meta["train_seconds"])
    except ValueError:                              # weights that do not fit the network
        path.unlink(missing_ok=True)
        return None
    model.restored_from_store_ = True
    return model


def fitted_model(name: str, split, seed: int = 0, overrides: dict | None = None):
    """A fitted model: restored from the store if its fingerprint matches, else trained here
    (with the protocol's seeding) and, for Keras-backed models, stored for next time."""
    model = load_model(name, split, seed, overrides)
    if model is not None:
        return model
    model = make_model(name, seed=seed, **(overrides or {}))
    set_seed(seed, tensorflow=model.uses_tensorflow)
    t0 = time.perf_counter()
    model.fit(split)
    if not hasattr(model, "train_seconds_"):
        model.train_seconds_ = time.perf_counter() - t0
    save_model(model, name, split, seed, overrides)
    model.restored_from_store_ = False
    return model
