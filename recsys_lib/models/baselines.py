"""Three cheap, strong baselines: Popularity, ItemKNN (cosine) and EASE."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..config import Config, param
from .base import Recommender

__all__ = ["Popularity", "ItemKNN", "EASE"]


class Popularity(Recommender):
    """Score every item by its number of training interactions; same list for everyone."""

    name = "pop"

    def fit(self, split, **kwargs):
        x = split.train_matrix()
        self.counts_ = np.asarray(x.sum(axis=0)).ravel().astype(np.float64)
        self.num_users_ = split.num_users
        return self

    def score(self, users, which="valid"):
        users = self._check_users(users)
        return np.tile(self.counts_, (len(users), 1))

    @property
    def num_params(self):
        return int(self.counts_.size)


class ItemKNN(Recommender):
    """Item-item collaborative filtering with cosine similarity.

    ``sim[i, j] = |U_i ∩ U_j| / (sqrt(|U_i| |U_j|) + shrink)``; each item ``i`` keeps its
    ``k`` most similar neighbours ``j`` (a row of ``sim``), and a user's score for ``j`` is
    the sum of ``sim[i, j]`` over the items ``i`` in their training history.
    """

    name = "itemknn"

    @dataclass(frozen=True)
    class Config(Config):
        k: int = param(10, low=1, doc="neighbours kept per item")
        shrink: float = param(0.0, low=0, doc="added to the cosine's denominator")
        space = {"k": [10, 20, 50, 100, 200, 400], "shrink": [0.0, 10.0, 50.0]}

    def fit(self, split, **kwargs):
        x = split.train_matrix().astype(np.float64)
        co = (x.T @ x).toarray()
        norms = np.sqrt(np.diag(co))
        sim = co / (np.outer(norms, norms) + self.shrink + 1e-12)
        np.fill_diagonal(sim, 0.0)
        if self.k < sim.shape[1]:  # keep the k largest of each row (the neighbours of i)
            # ties at the k-th place go to the lower item code, on every machine: a stable
            # sort, not ``np.argpartition``, whose choice among ties depends on the CPU
            drop = np.argsort(-sim, axis=1, kind="stable")[:, self.k:]
            np.put_along_axis(sim, drop, 0.0, axis=1)
        self.sim_ = sp.csr_matrix(sim)
        self.x_ = x.tocsr()
        self.num_users_ = split.num_users
        return self

    def score(self, users, which="valid"):
        users = self._check_users(users)
        return np.asarray((self.x_[users] @ self.sim_).todense())

    @property
    def num_params(self):
        return int(self.sim_.nnz)


class EASE(Recommender):
    """Embarrassingly Shallow Autoencoder (Steck, WWW 2019).

    Closed form: ``P = (XᵀX + λI)⁻¹``, ``B = I − P·diag(1/diag(P))``, so ``diag(B) = 0``.
    A user's scores are their training row times ``B``.
    """

    name = "ease"

    @dataclass(frozen=True)
    class Config(Config):
        l2: float = param(100.0, low=0, low_open=True, doc="ridge penalty lambda")
        space = {"l2": [50.0, 100.0, 200.0, 300.0, 500.0, 1000.0]}

    def fit(self, split, **kwargs):
        x = split.train_matrix().astype(np.float64)
        g = (x.T @ x).toarray()
        g[np.diag_indices_from(g)] += self.l2
        p = np.linalg.inv(g)
        b = -p / np.diag(p)[None, :]
        np.fill_diagonal(b, 0.0)
        self.b_ = b
        self.x_ = x.tocsr()
        self.num_users_ = split.num_users
        return self

    def score(self, users, which="valid"):
        users = self._check_users(users)
        return np.asarray(self.x_[users] @ self.b_)

    @property
    def num_params(self):
        return int(self.b_.size)
