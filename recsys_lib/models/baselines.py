"""Cheap, strong general baselines: Popularity, ItemKNN (cosine), EASE and RP3beta.

All four learn item-side quantities from the training interactions and score a user from
their row of ``split.input_matrix(which)``: the training items when predicting validation,
the training plus validation items when predicting test (the protocol's "What every model
sees"). Popularity counts the training plus validation rows at test time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..config import Config, param
from .base import Recommender

__all__ = ["Popularity", "ItemKNN", "EASE", "RP3beta"]


def _inputs(split) -> dict:
    """Each user's input row for validation and for test, as float64 CSR."""
    return {w: split.input_matrix(w).astype(np.float64).tocsr() for w in ("valid", "test")}


def keep_top_k(sim: np.ndarray, k: int) -> np.ndarray:
    """Zero all but the ``k`` largest entries of each row, in place; ties at the k-th place go
    to the lower item code on every machine (a stable sort, not ``np.argpartition``, whose
    choice among ties depends on the CPU)."""
    if k < sim.shape[1]:
        drop = np.argsort(-sim, axis=1, kind="stable")[:, k:]
        np.put_along_axis(sim, drop, 0.0, axis=1)
    return sim


class Popularity(Recommender):
    """Score every item by its number of training interactions; same list for everyone."""

    name = "pop"

    def fit(self, split, **kwargs):
        self.counts_ = {w: np.asarray(split.input_matrix(w).sum(axis=0)).ravel().astype(np.float64)
                        for w in ("valid", "test")}
        self.num_users_ = split.num_users
        return self

    def score(self, users, which="valid"):
        users = self._check_users(users)
        return np.tile(self.counts_[self._check_which(which)], (len(users), 1))

    @property
    def num_params(self):
        return int(self.counts_["valid"].size)


class ItemKNN(Recommender):
    """Item-item collaborative filtering with cosine similarity.

    ``sim[i, j] = |U_i ∩ U_j| / (sqrt(|U_i| |U_j|) + shrink)``; each item ``i`` keeps its
    ``k`` most similar neighbours ``j`` (a row of ``sim``), and a user's score for ``j`` is
    the sum of ``sim[i, j]`` over the items ``i`` in their training history.
    """

    name = "itemknn"

    @dataclass(frozen=True)
    class Config(Config):
        k: int = param(3, low=1, doc="neighbours kept per item")
        shrink: float = param(5.0, low=0, doc="added to the cosine's denominator")
        space = {"k": [2, 3, 5, 7, 10, 15, 20, 50, 100, 200, 400],
                 "shrink": [0.0, 1.0, 5.0, 10.0, 50.0]}

    def fit(self, split, **kwargs):
        x = split.train_matrix().astype(np.float64)
        co = (x.T @ x).toarray()
        norms = np.sqrt(np.diag(co))
        sim = co / (np.outer(norms, norms) + self.shrink + 1e-12)
        np.fill_diagonal(sim, 0.0)
        keep_top_k(sim, self.k)              # the k neighbours of each item i (a row)
        self.sim_ = sp.csr_matrix(sim)
        self.x_ = _inputs(split)
        self.num_users_ = split.num_users
        return self

    def score(self, users, which="valid"):
        users = self._check_users(users)
        return np.asarray((self.x_[self._check_which(which)][users] @ self.sim_).todense())

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
        space = {"l2": [10.0, 25.0, 50.0, 100.0, 200.0, 300.0, 500.0, 1000.0, 2000.0, 5000.0]}

    def fit(self, split, **kwargs):
        x = split.train_matrix().astype(np.float64)
        g = (x.T @ x).toarray()
        g[np.diag_indices_from(g)] += self.l2
        p = np.linalg.inv(g)
        b = -p / np.diag(p)[None, :]
        np.fill_diagonal(b, 0.0)
        self.b_ = b
        self.x_ = _inputs(split)
        self.num_users_ = split.num_users
        return self

    def score(self, users, which="valid"):
        users = self._check_users(users)
        return np.asarray(self.x_[self._check_which(which)][users] @ self.b_)

    @property
    def num_params(self):
        return int(self.b_.size)


class RP3beta(Recommender):
    """RP3beta: a random walk of three steps, item -> user -> item, re-ranked by popularity
    (Paudel, Christoffel, Newell & Bernstein, ACM TiiS 2016; Christoffel et al. 2015).

    With ``P_ui`` the row-normalised user x item matrix and ``P_iu`` the row-normalised item x
    user matrix, the item-item weights are ``W = (P_iu P_ui)^alpha``-style walk probabilities:
    ``W[i, j] = sum_u P_iu[i, u]^alpha P_ui[u, j]^alpha / pop(j)^beta``, where ``pop(j)`` is
    item ``j``'s number of training users. Each row keeps its ``k`` largest entries (all of them
    for ``k = 0``); a user's
    scores are their input row times ``W``. ``beta = 0`` is the plain random walk P3alpha;
    larger ``beta`` pushes down popular items.
    """

    name = "rp3beta"

    @dataclass(frozen=True)
    class Config(Config):
        alpha: float = param(0.01, low=0, low_open=True, doc="exponent of the transition probabilities")
        beta: float = param(0.6, low=0, doc="popularity penalty exponent")
        k: int = param(0, low=0, doc="neighbours kept per item (0: all of them)")
        # k's last value, 0, keeps every neighbour: the natural end of the range
        space = {"alpha": [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5],
                 "beta": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0],
                 "k": [25, 50, 100, 200, 400, 800, 0]}

    def fit(self, split, **kwargs):
        x = split.train_matrix().astype(np.float64).tocsr()
        users = np.asarray(x.sum(axis=1)).ravel()
        pop = np.asarray(x.sum(axis=0)).ravel()
        p_ui = sp.diags(1.0 / np.maximum(users, 1)) @ x         # user -> item
        p_iu = sp.diags(1.0 / np.maximum(pop, 1)) @ x.T.tocsr()  # item -> user
        p_ui, p_iu = p_ui.power(self.alpha), p_iu.power(self.alpha)
        w = (p_iu @ p_ui).toarray()
        w /= np.power(np.maximum(pop, 1), self.beta)[None, :]
        np.fill_diagonal(w, 0.0)
        self.w_ = sp.csr_matrix(keep_top_k(w, self.k) if self.k else w)
        self.x_ = _inputs(split)
        self.num_users_ = split.num_users
        return self

    def score(self, users, which="valid"):
        users = self._check_users(users)
        return np.asarray((self.x_[self._check_which(which)][users] @ self.w_).todense())

    @property
    def num_params(self):
        return int(self.w_.nnz)
