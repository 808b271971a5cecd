"""Step 1 of the framework: clean, de-duplicate, encode and filter interactions."""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .codes import as_codes

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

    The sort is stable, so pairs with equal timestamps keep their file order. Rows are
    matched by position, so the frame's index (which may repeat, e.g. after ``pd.concat``)
    does not matter; the result keeps the surviving rows in their original order.
    """
    validate_interactions(df)
    d = df.reset_index(drop=True)
    order = d.sort_values("timestamp", kind="stable")
    kept = order.drop_duplicates(["user_id", "item_id"], keep=keep)
    survive = np.zeros(len(d), dtype=bool)
    survive[kept.index.to_numpy()] = True
    return d.loc[survive].reset_index(drop=True)


@dataclass
class IdMap:
    """Contiguous 0-based codes for raw ids, and the way back.

    ``users[k]`` / ``items[k]`` is the raw id of code ``k``. The tables need not be sorted
    (``encode_ids`` makes sorted ones), but each must be 1-D, without repeats or missing
    values: otherwise ``ValueError``.
    """

    users: np.ndarray
    items: np.ndarray

    def __post_init__(self):
        for what in ("user", "item"):
            table = np.asarray(getattr(self, what + "s"))
            if table.ndim != 1:
                raise ValueError(f"IdMap {what}s must be a 1-D array of raw ids, "
                                 f"got shape {table.shape}")
            if len(table) and pd.isna(table).any():
                raise ValueError(f"IdMap {what}s hold {int(pd.isna(table).sum())} missing id(s)")
            if len(np.unique(table)) != len(table):
                vals, counts = np.unique(table, return_counts=True)
                raise ValueError(f"IdMap {what}s repeat raw id(s) {vals[counts > 1][:10].tolist()}: "
                                 "a raw id must have exactly one code")
            setattr(self, what + "s", table)

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
        table = np.asarray(table)
        raw = np.atleast_1d(np.asarray(raw))
        if len(table) == 0:
            if raw.size == 0:
                return np.zeros(raw.shape, dtype=np.int64)
            raise KeyError(f"unknown {what} id(s): {raw.ravel()[:10].tolist()} "
                           f"(this IdMap holds no {what}s)")
        # Sorted tables (what encode_ids builds) are searched directly; others via argsort,
        # so that code k is always the position of the raw id in the table.
        sorter = None if np.all(table[1:] > table[:-1]) else np.argsort(table, kind="stable")
        pos = np.searchsorted(table, raw, sorter=sorter)
        pos_c = np.minimum(pos, len(table) - 1)
        if sorter is not None:
            pos_c = sorter[pos_c]
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
    if item_universe is None:
        items = np.unique(df["item_id"].to_numpy())
    else:
        universe = np.asarray(item_universe)
        if universe.ndim != 1:
            raise ValueError(f"item_universe must be a 1-D list of raw item ids, "
                             f"got shape {universe.shape}")
        if len(universe) and pd.isna(universe).any():
            raise ValueError(f"item_universe holds {int(pd.isna(universe).sum())} missing "
                             "value(s) (NaN/None): every catalogue item needs a real id")
        if len(universe) and not (pd.api.types.is_numeric_dtype(universe.dtype)
                                  and universe.dtype.kind != "b"):
            raise ValueError(f"item_universe must hold numeric ids like item_id, "
                             f"got dtype {universe.dtype}")
        items = np.unique(universe)
    idmap = IdMap(users, items)
    out = df.copy()
    out["user_id"] = as_codes(idmap.encode_users(df["user_id"].to_numpy()), idmap.num_users, "user")
    out["item_id"] = as_codes(idmap.encode_items(df["item_id"].to_numpy()), idmap.num_items, "item")
    return out, idmap


def to_implicit(df: pd.DataFrame, min_rating: float | None = None) -> pd.DataFrame:
    """Treat interactions as positive feedback.

    By default (the protocol) every rating counts; with ``min_rating`` only
    ratings at or above it are kept. The ``rating`` column stays. With ``min_rating``,
    a frame without a numeric ``rating`` column, or with missing ratings (which are
    neither above nor below any threshold), raises ``ValueError``: drop or fill them first.
    """
    validate_interactions(df)
    if min_rating is None:
        return df.reset_index(drop=True)
    if (isinstance(min_rating, (bool, np.bool_)) or not isinstance(min_rating, numbers.Real)
            or not np.isfinite(min_rating)):
        raise ValueError(f"min_rating must be a finite number, got {min_rating!r}")
    if "rating" not in df.columns:
        raise ValueError(f"to_implicit(min_rating={min_rating!r}) needs a 'rating' column; "
                         f"the frame has {list(df.columns)}")
    rating = df["rating"]
    if not pd.api.types.is_numeric_dtype(rating) or pd.api.types.is_bool_dtype(rating):
        raise ValueError(f"column 'rating' must be numeric, got dtype {rating.dtype}")
    missing = int(rating.isna().sum())
    if missing:
        raise ValueError(f"column 'rating' has {missing} missing value(s) of {len(df)}: they "
                         f"cannot be compared with min_rating={min_rating!r}; drop or fill "
                         "them before to_implicit")
    return df.loc[rating >= min_rating].reset_index(drop=True)


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
