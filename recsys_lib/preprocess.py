"""Step 1 of the framework: clean, de-duplicate, encode and filter interactions."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["REQUIRED_COLUMNS", "IdMap", "validate_interactions", "deduplicate",
           "encode_ids", "to_implicit", "k_core"]

REQUIRED_COLUMNS = ("user_id", "item_id", "timestamp")


def validate_interactions(df: pd.DataFrame, columns=REQUIRED_COLUMNS) -> None:
    """Raise ``ValueError`` with a clear message if ``df`` is not a usable interaction frame."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"interaction frame lacks column(s) {missing}; it has {list(df.columns)}")
    if len(df) == 0:
        raise ValueError("interaction frame is empty")
    for c in columns:
        if df[c].isna().any():
            raise ValueError(f"column {c!r} has {int(df[c].isna().sum())} missing value(s)")
        if not pd.api.types.is_numeric_dtype(df[c]):
            raise ValueError(f"column {c!r} must be numeric, got dtype {df[c].dtype}")


def deduplicate(df: pd.DataFrame, keep: str = "last") -> pd.DataFrame:
    """Drop repeated (user, item) pairs, keeping the ``keep`` one in time order.

    The sort is stable, so pairs with equal timestamps keep their file order.
    """
    validate_interactions(df)
    order = df.sort_values("timestamp", kind="stable")
    kept = order.drop_duplicates(["user_id", "item_id"], keep=keep)
    return df.loc[df.index.isin(kept.index)].reset_index(drop=True)


@dataclass
class IdMap:
    """Contiguous 0-based codes for raw ids, and the way back.

    ``users[k]`` / ``items[k]`` is the raw id of code ``k``.
    """

    users: np.ndarray
    items: np.ndarray

    @property
    def num_users(self) -> int:
        return len(self.users)

    @property
    def num_items(self) -> int:
        return len(self.items)

    def encode_items(self, raw) -> np.ndarray:
        """Codes of raw item ids; raises ``KeyError`` naming unknown ids."""
        return self._encode(self.items, raw, "item")

    def encode_users(self, raw) -> np.ndarray:
        """Codes of raw user ids; raises ``KeyError`` naming unknown ids."""
        return self._encode(self.users, raw, "user")

    @staticmethod
    def _encode(table: np.ndarray, raw, what: str) -> np.ndarray:
        raw = np.atleast_1d(np.asarray(raw))
        pos = np.searchsorted(table, raw)
        pos_c = np.minimum(pos, len(table) - 1)
        bad = table[pos_c] != raw
        if bad.any():
            raise KeyError(f"unknown {what} id(s): {raw[bad][:10].tolist()}")
        return pos_c.astype(np.int64)


def encode_ids(df: pd.DataFrame, item_universe=None) -> tuple[pd.DataFrame, IdMap]:
    """Replace raw ``user_id``/``item_id`` with contiguous codes 0..n-1.

    ``item_universe`` (e.g. every item in the catalogue file) fixes the item codes,
    so items nobody rated still get a code; by default the rated items are used.
    Codes follow the sorted raw ids. Returns the encoded copy and the ``IdMap``.
    """
    validate_interactions(df)
    users = np.unique(df["user_id"].to_numpy())
    items = np.unique(df["item_id"].to_numpy() if item_universe is None
                      else np.asarray(item_universe))
    idmap = IdMap(users, items)
    out = df.copy()
    out["user_id"] = idmap.encode_users(df["user_id"].to_numpy())
    out["item_id"] = idmap.encode_items(df["item_id"].to_numpy())
    return out, idmap


def to_implicit(df: pd.DataFrame, min_rating: float | None = None) -> pd.DataFrame:
    """Treat interactions as positive feedback.

    By default (the protocol) every rating counts; with ``min_rating`` only
    ratings at or above it are kept. The ``rating`` column stays.
    """
    validate_interactions(df)
    if min_rating is None:
        return df.reset_index(drop=True)
    return df.loc[df["rating"] >= min_rating].reset_index(drop=True)


def k_core(df: pd.DataFrame, k_user: int = 5, k_item: int = 5, max_rounds: int = 100) -> pd.DataFrame:
    """Repeatedly drop users with < ``k_user`` and items with < ``k_item`` interactions."""
    validate_interactions(df)
    out = df
    for _ in range(max_rounds):
        uc = out["user_id"].map(out["user_id"].value_counts())
        ic = out["item_id"].map(out["item_id"].value_counts())
        keep = (uc >= k_user) & (ic >= k_item)
        if keep.all():
            return out.reset_index(drop=True)
        out = out.loc[keep]
        if len(out) == 0:
            raise ValueError(f"the {k_user}/{k_item}-core of this frame is empty")
    raise RuntimeError(f"k_core did not converge in {max_rounds} rounds")
