"""The strong simple sequence baselines of the session-based literature.

Ludewig & Jannach (UMUAI 2018, "Evaluation of session-based recommendation algorithms") and
Ludewig, Mauro, Latifi & Jannach (Empirical Software Engineering 2021) found that simple,
non-neural methods match or beat GRU4Rec and its successors on most session datasets. Two of
them serve here, next to the Markov chain of chapter 5:

* ``SequentialRules`` (SR; Kamehkhosh, Jannach & Ludewig 2017): a rule ``a -> b`` for every
  item ``b`` that came up to ``steps`` positions after ``a`` in a training history, weighted
  by a decreasing function of the gap. A user is scored from the rules of their last item.
  The Markov chain is SR with ``steps = 1``.
* ``VSKNN`` (vector-multiplication session kNN; Ludewig & Jannach 2018): the user's recent
  items, weighted by recency, form a vector; the ``k`` other users whose histories share the
  most (weighted) items are the neighbours, and an item scores the summed similarity of the
  neighbours who have it.

Here a "session" is a user's whole history in time order (MovieLens has no sessions). Both
learn from the training histories and, at test time, read the user's history with the
validation item appended (the protocol's "What every model sees"); VSKNN's neighbours are the
other users' training (for validation) or training plus validation (for test) histories.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..config import Config, param
from .base import Recommender
from .baselines import keep_top_k

__all__ = ["SequentialRules", "VSKNN", "gap_weights", "WEIGHTINGS"]

#: weight of a rule (SR) or of a history position (VSKNN) at distance ``d = 1, 2, ...``
WEIGHTINGS = {
    "same": lambda d: np.ones_like(d, dtype=np.float64),
    "div": lambda d: 1.0 / d,
    "linear": lambda d: np.maximum(1.0 - 0.1 * (d - 1), 0.0),
    "log": lambda d: 1.0 / np.log10(d + 1.7),
    "quadratic": lambda d: 1.0 / d ** 2,
}


def gap_weights(weighting: str, distances) -> np.ndarray:
    """The weights of ``distances`` (integers >= 1) under ``weighting`` (a key of WEIGHTINGS)."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    d = np.asarray(distances, dtype=np.float64)
    if d.size and d.min() < 1:
        raise ValueError("distances start at 1")
    return WEIGHTINGS[weighting](d)


def _popularity(split) -> np.ndarray:
    pop = np.bincount(split.train.item_id.to_numpy(), minlength=split.num_items).astype(np.float64)
    return pop / max(pop.max(), 1.0)


class SequentialRules(Recommender):
    """Sequential rules over a window of ``steps`` (Kamehkhosh et al. 2017; Ludewig & Jannach 2018).

    ``R[a, b] = sum`` over training histories and positions ``t < t'`` with ``t' - t <= steps``,
    ``s_t = a`` and ``s_t' = b``, of ``w(t' - t)``; each row keeps its ``prune`` largest rules
    (0 keeps all). A user's scores are ``R[last item]``, plus ``pop_weight`` times normalised
    popularity to order the items no rule reaches.
    """

    name = "sr"

    @dataclass(frozen=True)
    class Config(Config):
        steps: int = param(3, low=1, doc="how far after an item a rule reaches")
        weighting: str = param("same", choices=tuple(WEIGHTINGS), doc="weight of a gap")
        prune: int = param(0, low=0, doc="rules kept per item (0: all)")
        pop_weight: float = param(1e-3, low=0, doc="weight of normalised popularity")
        space = {"steps": [1, 2, 3, 5, 10, 15, 20, 30, 50],
                 "weighting": ["same", "div", "linear", "log", "quadratic"],
                 "prune": [0, 20, 50]}

    def fit(self, split, **kwargs):
        self.num_users_, self.num_items_ = split.num_users, split.num_items
        self._seqs = {w: split.sequences(w) for w in ("valid", "test")}
        src, dst, wts = [], [], []
        for s in self._seqs["valid"]:
            for gap in range(1, min(self.steps, len(s) - 1) + 1):
                src.append(s[:-gap])
                dst.append(s[gap:])
                wts.append(np.full(len(s) - gap, gap_weights(self.weighting, [gap])[0]))
        n = split.num_items
        if src:
            src, dst, wts = np.concatenate(src), np.concatenate(dst), np.concatenate(wts)
        rules = sp.csr_matrix((wts, (src, dst)), shape=(n, n)) if len(src) else sp.csr_matrix((n, n))
        rules.sum_duplicates()
        rules.setdiag(0.0)                     # a repeat is not a rule
        rules.eliminate_zeros()
        if self.prune:
            rules = _prune_rows(rules, self.prune)
        self.rules_ = rules.tocsr()
        self.popularity_ = _popularity(split)
        return self

    def score(self, users, which="valid"):
        users = self._check_users(users)
        seqs = self._seqs[self._check_which(which)]
        out = np.tile(self.pop_weight * self.popularity_, (len(users), 1))
        last = np.array([seqs[u][-1] if len(seqs[u]) else -1 for u in users])
        has = last >= 0
        out[has] += self.rules_[last[has]].toarray()
        return out

    @property
    def num_params(self):
        return int(self.rules_.nnz + self.num_items_)


def _prune_rows(m: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Keep the ``keep`` largest entries of each row (ties to the lower column, stably)."""
    m = m.tocsr()
    rows, cols, vals = [], [], []
    for r in range(m.shape[0]):
        lo, hi = m.indptr[r], m.indptr[r + 1]
        if hi == lo:
            continue
        c, v = m.indices[lo:hi], m.data[lo:hi]
        order = np.lexsort((c, -v))[:keep]
        rows.append(np.full(len(order), r))
        cols.append(c[order])
        vals.append(v[order])
    if not rows:
        return sp.csr_matrix(m.shape)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=m.shape)


class VSKNN(Recommender):
    """Vector-multiplication session kNN (Ludewig & Jannach 2018), one user = one session.

    The user's last ``window`` items get weights ``w(d)`` by their distance ``d`` from the end
    (1 = the most recent). The similarity with another user ``v`` is the weighted count of the
    items they share, divided by ``sqrt(|v|)`` (cosine with a binary neighbour vector, up to a
    per-user constant that does not change the neighbours). The ``k`` most similar users
    (never the user themself) are the neighbours; item ``j`` scores the summed similarity of
    the neighbours who have ``j``, plus ``pop_weight`` times normalised popularity.
    """

    name = "vsknn"

    @dataclass(frozen=True)
    class Config(Config):
        window: int = param(20, low=1, doc="recent items that make the user's vector")
        weighting: str = param("linear", choices=tuple(WEIGHTINGS), doc="weight of a position")
        k: int = param(25, low=1, doc="neighbours")
        pop_weight: float = param(1e-3, low=0, doc="weight of normalised popularity")
        space = {"window": [5, 10, 20, 50, 100, 200, 400, 800],
                 "weighting": ["same", "div", "linear", "log", "quadratic"],
                 "k": [3, 5, 10, 15, 25, 50, 100, 200, 400, 800]}

    def fit(self, split, **kwargs):
        self.num_users_, self.num_items_ = split.num_users, split.num_items
        self.popularity_ = _popularity(split)
        self.stored_ = int(split.train_matrix().nnz)       # memory-based: it keeps the histories
        self.scores_ = {w: self._neighbour_scores(split, w) for w in ("valid", "test")}
        return self

    def _neighbour_scores(self, split, which) -> np.ndarray:
        nu, ni = split.num_users, split.num_items
        rows, cols, vals = [], [], []
        for u, s in enumerate(split.sequences(which)):
            recent = s[-self.window:]
            if not len(recent):
                continue
            w = gap_weights(self.weighting, np.arange(len(recent), 0, -1))
            rows.append(np.full(len(recent), u))
            cols.append(recent)
            vals.append(w)
        if not rows:
            return np.zeros((nu, ni))
        q = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(nu, ni))
        q.sum_duplicates()
        n = split.input_matrix(which).astype(np.float64).tocsr()
        sizes = np.sqrt(np.maximum(np.asarray(n.sum(axis=1)).ravel(), 1.0))
        sim = (q @ n.T).toarray() / sizes[None, :]
        np.fill_diagonal(sim, 0.0)
        return (sp.csr_matrix(keep_top_k(sim, self.k)) @ n).toarray()

    def score(self, users, which="valid"):
        users = self._check_users(users)
        return self.scores_[self._check_which(which)][users] + self.pop_weight * self.popularity_

    @property
    def num_params(self):
        return self.stored_ + self.num_items_
