"""Three cheap, strong baselines: Popularity, ItemKNN (cosine) and EASE."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .base import Recommender

__all__ = ["Popularity", "ItemKNN", "EASE"]


class Popularity(Recommender):
    """Score every item by its number of training interactions; same list for everyone."""

    name = "pop"
    hyperparameters: dict = {}

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
    hyperparameters = {"k": [10, 20, 50, 100, 200, 400], "shrink": [0.0, 10.0, 50.0]}

    def __init__(self, k: int = 10, shrink: float = 0.0):
        self.k, self.shrink = int(k), float(shrink)

    def fit(self, split, **kwargs):
        x = split.train_matrix().astype(np.float64)
        co = (x.T @ x).toarray()
        norms = np.sqrt(np.diag(co))
        sim = co / (np.outer(norms, norms) + self.shrink + 1e-12)
        np.fill_diagonal(sim, 0.0)
        if self.k < sim.shape[1]:  # keep the k largest of each row (the neighbours of i)
            drop = np.argpartition(-sim, self.k, axis=1)[:, self.k:]
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
    hyperparameters = {"l2": [50.0, 100.0, 200.0, 300.0, 500.0, 1000.0]}

    def __init__(self, l2: float = 100.0):
        self.l2 = float(l2)

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
