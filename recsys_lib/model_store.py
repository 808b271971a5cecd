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

**Published weights.** The weights the executed book uses are also committed, in
``results/models/`` (``published_dir``), so that a fresh clone restores them instead of
training every chapter's models again: the book and its nbval check then fit their time
budgets, and the self-attention chapter does not retrain a SASRec that takes most of an hour.
``load_model`` looks in the store first and then there. The book runner lists every file a
run loads or saves (``$RECSYS_STORE_USAGE``, ``usage``), and ``publish`` copies exactly the
files of the last full run there and removes the others. They are what training produces:
a test retrains one of them and compares it, array by array, with the committed file; set
``RECSYS_PUBLISHED_MODELS=0`` to ignore them and train everything.
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

__all__ = ["store_dir", "store_path", "save_model", "load_model", "fitted_model",
           "published_dir", "publish", "usage"]

#: where ``$RECSYS_STORE_USAGE`` names a file, every store file a process loads or saves is
#: appended to it, one name per line (the book runner collects them per run)
USAGE_ENV = "RECSYS_STORE_USAGE"


def store_dir() -> Path:
    from .download import project_dir

    return project_dir("RECSYS_MODELS", "data/models")


def store_path(name: str, seed: int, fp: str) -> Path:
    return store_dir() / f"{name}-seed{seed}-{fp}.npz"


def published_dir() -> Path | None:
    """Where the committed weights are: ``results/models`` of the checkout, or
    ``$RECSYS_PUBLISHED_MODELS`` if set to a folder (``download.project_dir``, as for the data
    and the store); ``None`` when ``RECSYS_PUBLISHED_MODELS=0`` (train everything: what the
    book's first run did)."""
    import os

    from .download import project_dir

    if os.environ.get("RECSYS_PUBLISHED_MODELS") == "0":
        return None
    return project_dir("RECSYS_PUBLISHED_MODELS", "results/models")


def _note_use(path: Path) -> None:
    import os

    log = os.environ.get(USAGE_ENV)
    if log:
        with open(log, "a") as f:       # one short line per write: appends do not interleave
            f.write(path.name + "\n")


def usage(log: Path) -> list[str]:
    """The store files named in a usage log (``USAGE_ENV``), sorted, each once."""
    try:
        return sorted(set(Path(log).read_text().split()))
    except FileNotFoundError:
        return []


#: the largest file that is committed, in MB: the repository stays light, and a model above it
#: (CFGAN's two networks, 6.8 MB) is trained by its chapter on a fresh clone instead
PUBLISH_CAP_MB = 5.0


def publish(names: list[str], cap_mb: float = PUBLISH_CAP_MB) -> dict:
    """Make ``results/models`` hold exactly those of the store files ``names`` that are at most
    ``cap_mb`` MB: copy the missing ones from the store (atomically), remove the others, and
    write ``MANIFEST.json`` (what is published, and what was left out and why). Returns what it
    did and the total size."""
    import shutil

    out = published_dir()
    if out is None:
        raise RuntimeError("RECSYS_PUBLISHED_MODELS=0: there is nowhere to publish to")
    names = sorted(set(names))
    missing = [n for n in names if not (store_dir() / n).exists() and not (out / n).exists()]
    if missing:
        raise FileNotFoundError(f"not in the model store, so cannot be published: {missing}")

    def size(n):
        return ((store_dir() / n) if (store_dir() / n).exists() else (out / n)).stat().st_size

    skipped = {n: f"{size(n) / 1e6:.1f} MB, above the {cap_mb:g} MB cap" for n in names
               if size(n) > cap_mb * 1e6}
    names = [n for n in names if n not in skipped]
    copied = []
    for n in names:
        if not (out / n).exists():
            with atomic_file(out / n) as f, open(store_dir() / n, "rb") as src:
                shutil.copyfileobj(src, f)
            copied.append(n)
    removed = sorted(p.name for p in out.glob("*.npz") if p.name not in names)
    for n in removed:
        (out / n).unlink()
    total = sum((out / n).stat().st_size for n in names)
    from .io import write_json

    write_json({"published": names, "left_out": skipped}, out / "MANIFEST.json")
    return {"files": len(names), "copied": copied, "removed": removed, "left_out": skipped,
            "MB": round(total / 1e6, 1)}


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
    _note_use(path)
    return path


def load_model(name: str, split, seed: int = 0, overrides: dict | None = None):
    """The fitted model from the store, or ``None`` when no file matches its fingerprint.

    A corrupt file, or one that holds another model's weights, is removed and ``None``
    returned, so the caller trains instead.
    """
    path = store_path(name, seed, fingerprint(name, split, seed, overrides))
    committed = published_dir()
    published = committed / path.name if committed is not None else None
    if not path.exists():
        if published is None or not published.exists():
            return None
        path = published
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            weights = {k: [f[f"{k}/{i}"] for i in range(n)] for k, n in meta["networks"].items()}
        if meta.get("model") != name:
            raise ValueError(f"holds {meta.get('model')!r}")
    except Exception as err:                        # truncated, corrupt or foreign: forget it
        if path == published:                       # never delete a committed file: say so
            raise RuntimeError(f"the committed weights {path.name} cannot be read ({err}); "
                               "restore them with git, or publish them again") from err
        path.unlink(missing_ok=True)
        return None
    model = make_model(name, seed=seed, **(overrides or {}))
    if not _stores_weights(model):
        return None
    set_seed(seed, tensorflow=True)
    try:
        model.restore(split, weights, meta["history"], meta["best_epoch"], meta["train_seconds"])
    except ValueError as err:                       # weights that do not fit the network
        if path == published:
            raise RuntimeError(f"the committed weights {path.name} do not fit the network "
                               f"({err}); publish them again") from err
        path.unlink(missing_ok=True)
        return None
    model.restored_from_store_ = True
    _note_use(path)
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
