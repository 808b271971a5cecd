"""Train / validation / test splits: leave-last-out by time (the protocol) and a random one."""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .codes import as_codes
from .preprocess import IdMap, deduplicate, encode_ids, to_implicit, validate_interactions

__all__ = ["Split", "leave_last_out", "random_leave_one_out", "protocol_split", "hold_out_items"]


@dataclass
class Split:
    """A split of encoded interactions (codes ``0..num_users-1`` and ``0..num_items-1``).

    ``valid`` and ``test`` hold at most one row per user. Users with fewer than
    three interactions have all of them in ``train`` and no held-out rows.
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    num_users: int
    num_items: int
    idmap: IdMap | None = None
    kind: str = "leave-last-out"
    #: item metadata (title, year, genre flags), row ``k`` describing item code ``k``; optional
    items: pd.DataFrame | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def train_matrix(self) -> sp.csr_matrix:
        """Binary user x item CSR matrix of training interactions (float32)."""
        if "train" not in self._cache:
            m = sp.csr_matrix((np.ones(len(self.train), dtype=np.float32),
                               (self.train.user_id.to_numpy(), self.train.item_id.to_numpy())),
                              shape=(self.num_users, self.num_items))
            m.data[:] = 1.0  # repeated pairs count once
            self._cache["train"] = m
        return self._cache["train"]

    def targets(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """``(users, items)`` of the held-out interactions of ``which`` ('valid' or 'test')."""
        df = self._part(which)
        return df.user_id.to_numpy(np.int64), df.item_id.to_numpy(np.int64)

    def input_matrix(self, which: str) -> sp.csr_matrix:
        """Binary user x item matrix of what every model sees when predicting ``which``.

        For 'valid' the training interactions; for 'test' the training plus the validation
        interactions (the protocol's "What every model sees"). Models that score from the
        interaction matrix score these rows.
        """
        if which == "valid":
            return self.train_matrix()
        self._part(which)
        if "train+valid" not in self._cache:
            v = self.valid
            m = self.train_matrix() + sp.csr_matrix(
                (np.ones(len(v), dtype=np.float32), (v.user_id.to_numpy(), v.item_id.to_numpy())),
                shape=(self.num_users, self.num_items))
            m.data[:] = 1.0
            self._cache["train+valid"] = m.tocsr()
        return self._cache["train+valid"]

    def exclusions(self, which: str) -> sp.csr_matrix:
        """Items not to rank for ``which``: training items, plus the validation item for 'test'.

        Under the protocol these are exactly the items of ``input_matrix(which)``."""
        return self.input_matrix(which)

    def with_validation_in_train(self) -> "Split":
        """The split a model refit for test trains on: training plus validation as ``train``,
        and no held-out rows (the test rows are never passed on)."""
        out = Split(pd.concat([self.train, self.valid], ignore_index=True), self.valid.iloc[:0],
                    self.test.iloc[:0], self.num_users, self.num_items, self.idmap,
                    self.kind + " (train+valid)", self.items)
        if getattr(self, "users", None) is not None:
            out.users = self.users
        return out

    def sequences(self, which: str = "valid") -> list[np.ndarray]:
        """Each user's history in time order, as seen when predicting ``which``.

        For 'valid' that is the training history; for 'test' the validation item is appended.
        """
        df = self.train if which == "valid" else pd.concat([self.train, self.valid])
        if which not in ("valid", "test"):
            self._part(which)
        df = df.assign(_pos=np.arange(len(df))).sort_values(["user_id", "timestamp", "_pos"],
                                                             kind="stable")
        groups = df.groupby("user_id", sort=True)["item_id"].apply(np.asarray)
        out = [np.zeros(0, dtype=np.int64)] * self.num_users
        for u, seq in groups.items():
            out[int(u)] = seq.astype(np.int64)
        return out

    def _part(self, which: str) -> pd.DataFrame:
        if which == "valid":
            return self.valid
        if which == "test":
            return self.test
        raise ValueError(f"which must be 'valid' or 'test', got {which!r}")

    def summary(self) -> dict:
        """Sizes of the split, for tables and checks."""
        return {"users": self.num_users, "items": self.num_items, "train": len(self.train),
                "valid": len(self.valid), "test": len(self.test),
                "density": round(len(self.train) / (self.num_users * self.num_items), 6)}


def _check_encoded(df: pd.DataFrame, num_users: int | None, num_items: int | None):
    """The numbers of users and items, after checking that ``df`` holds real codes.

    Codes must be integers (no truncation of 0.5 or 1.7) in ``0..n-1``. When a count is
    not given it is inferred as ``max + 1``; then the smallest code must be 0, otherwise
    the frame most likely holds raw ids (ML-100K's start at 1) that would add an empty
    user or item 0.
    """
    validate_interactions(df)
    counts = []
    for col, n, what, arg in (("user_id", num_users, "user", "num_users"),
                              ("item_id", num_items, "item", "num_items")):
        if n is not None and (isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral)
                              or n < 1):
            raise ValueError(f"{arg} must be a positive integer, got {n!r}")
        try:
            codes = as_codes(df[col].to_numpy(), n, what)
        except ValueError as exc:
            raise ValueError(f"{col}: {exc}; use encode_ids() first") from exc
        if n is None:
            lo = int(codes.min())
            if lo != 0:
                raise ValueError(
                    f"{col} has no code 0 (the smallest is {lo}): these look like raw ids, "
                    f"not codes 0..n-1; use encode_ids() first, or pass {arg} if code 0 "
                    "is really unused")
            n = int(codes.max()) + 1
        counts.append(n)
    return counts[0], counts[1]


def _split_by_position(df, pick_valid, pick_test, nu, ni, idmap, kind) -> Split:
    test, valid = df.loc[pick_test], df.loc[pick_valid]
    train = df.loc[~(pick_test | pick_valid)]
    clean = [x.drop(columns=[c for c in ("_pos", "_n", "_k") if c in x.columns])
              .reset_index(drop=True) for x in (train, valid, test)]
    return Split(*clean, num_users=nu, num_items=ni, idmap=idmap, kind=kind)


def leave_last_out(df: pd.DataFrame, num_users: int | None = None, num_items: int | None = None,
                   idmap: IdMap | None = None) -> Split:
    """The protocol's split: per user, last interaction is test, second-to-last validation.

    Time order is a stable sort on ``timestamp``: ties keep the order of ``df``'s rows.
    ``df`` must have encoded ids (see ``encode_ids``).
    """
    nu, ni = _check_encoded(df, num_users, num_items)
    d = df.reset_index(drop=True).assign(_pos=np.arange(len(df)))
    d = d.sort_values(["user_id", "timestamp", "_pos"], kind="stable")
    d["_n"] = d.groupby("user_id")["item_id"].transform("size")
    d["_k"] = d.groupby("user_id").cumcount(ascending=False)  # 0 = latest
    eligible = d["_n"] >= 3
    return _split_by_position(d, eligible & (d["_k"] == 1), eligible & (d["_k"] == 0),
                              nu, ni, idmap, "leave-last-out")


def random_leave_one_out(df: pd.DataFrame, seed: int, num_users: int | None = None,
                         num_items: int | None = None, idmap: IdMap | None = None) -> Split:
    """A seeded *random* split: per user, one random interaction is test, another validation.

    It ignores time, so training can contain interactions from after the test one.
    It exists to show that leakage (a later chapter); the book's numbers never use it.
    """
    nu, ni = _check_encoded(df, num_users, num_items)
    rng = np.random.default_rng(seed)
    d = df.reset_index(drop=True).assign(_pos=np.arange(len(df)))
    d = d.iloc[rng.permutation(len(d))]
    d["_n"] = d.groupby("user_id")["item_id"].transform("size")
    d["_k"] = d.groupby("user_id").cumcount()
    eligible = d["_n"] >= 3
    d = d.sort_values("_pos")
    return _split_by_position(d, eligible & (d["_k"] == 1), eligible & (d["_k"] == 0),
                              nu, ni, idmap, "random")


def protocol_split(ml) -> Split:
    """ML ratings -> the protocol's split: de-duplicate, implicit, encode (all catalogue items)."""
    df = to_implicit(deduplicate(ml.ratings))
    enc, idmap = encode_ids(df, item_universe=ml.items.item_id.to_numpy())
    split = leave_last_out(enc, idmap.num_users, idmap.num_items, idmap)
    split.items = ml.items.set_index("item_id").loc[idmap.items].reset_index()
    return split


def hold_out_items(split: Split, n_items: int, min_train: int = 10, seed: int = 0):
    """A cold-start experiment: make ``n_items`` random items unseen in training.

    The items are drawn among those with at least ``min_train`` training interactions (so
    there are users to evaluate them on). Every interaction with them is removed from
    ``train``, ``valid`` and ``test``. Returns ``(warm_split, cold_items, removed)``: the
    reduced split (same codes and item metadata), the sorted cold item codes, and the
    removed *training* interactions, which are the ground truth of the experiment.
    """
    counts = np.bincount(split.train.item_id.to_numpy(), minlength=split.num_items)
    eligible = np.flatnonzero(counts >= min_train)
    if n_items < 1 or n_items > len(eligible):
        raise ValueError(f"n_items must be in 1..{len(eligible)} (items with >= {min_train} "
                         f"training interactions), got {n_items}")
    rng = np.random.default_rng(seed)
    cold = np.sort(rng.choice(eligible, size=n_items, replace=False))

    def keep(df):
        return df[~df.item_id.isin(cold)].reset_index(drop=True)

    removed = split.train[split.train.item_id.isin(cold)].reset_index(drop=True)
    warm = Split(keep(split.train), keep(split.valid), keep(split.test), split.num_users,
                 split.num_items, split.idmap, kind=f"{split.kind}, {n_items} cold items",
                 items=split.items)
    return warm, cold, removed

