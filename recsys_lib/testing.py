"""Small synthetic data with a known answer, for the tests, the benchmarks and the exercises.

``block_split()`` has two taste groups (users 0..29 like items 0..19, the rest like 20..39),
so any model that learns from co-occurrence should recommend within the user's group.
``tiny(name)`` is the registry's ``tiny`` profile of a model: settings small enough to train
on it in a second or two.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .registry import MODELS, profile_overrides
from .splits import leave_last_out

__all__ = ["block_split", "block_items", "tiny", "deep_models", "fitted_tiny"]


def block_split(seed=0, n_users=60, n_items=40):
    """Two taste groups: users 0..29 like items 0..19, the rest like 20..39."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        lo = 0 if u < n_users // 2 else n_items // 2
        items = rng.choice(np.arange(lo, lo + n_items // 2), size=10, replace=False)
        rows += [(u, int(i), 1, t) for t, i in enumerate(items)]
    split = leave_last_out(pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]),
                           num_items=n_items)
    split.items = block_items(n_items)
    return split


def block_items(n_items):
    """Synthetic item metadata: the two groups have different title words and genres."""
    from recsys_lib.movielens import GENRES
    half = n_items // 2
    titles = [f"{'star space war' if i < half else 'love paris story'} part {i % 7}"
              for i in range(n_items)]
    genres = np.zeros((n_items, len(GENRES)), dtype=np.int8)
    genres[:half, GENRES.index("Sci-Fi")] = 1
    genres[half:, GENRES.index("Romance")] = 1
    return pd.concat([pd.DataFrame({"item_id": np.arange(n_items), "title": titles}),
                      pd.DataFrame(genres, columns=GENRES)], axis=1)


def tiny(name: str, **changes) -> dict:
    """The registry's ``tiny`` settings of ``name``, with ``changes``."""
    return {**profile_overrides(name, "tiny"), **changes}


def fitted_tiny(name: str, split=None, **changes):
    """``name`` with its ``tiny`` settings (and ``changes``), seed 0, fitted on ``split``
    (``block_split()`` by default) through the model store: a test that only needs a fitted
    model gets the one another test already trained on the same data and settings (the store
    is keyed by the model's fingerprint, and the test suite's store is shared by its workers)."""
    from .model_store import fitted_model

    split = block_split() if split is None else split
    return fitted_model(name, split, seed=0, overrides=tiny(name, **changes))


def deep_models() -> list[str]:
    """Registered models that train with TensorFlow (imports their classes)."""
    return [n for n, e in MODELS.items() if e.model_class().uses_tensorflow]
