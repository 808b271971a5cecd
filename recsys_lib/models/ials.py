"""iALS: implicit alternating least squares (Hu, Koren & Volinsky, ICDM 2008), the baseline
that Rendle, Krichene, Zhang & Koren (RecSys 2022, "Revisiting the performance of iALS on item
recommendation benchmarks") showed to be competitive with much newer models when it is tuned.

The factorisation is the ``implicit`` library's (Frederickson), not written here. A user's
vector is then *folded in*: solved exactly with the item factors fixed, from the user's row of
``split.input_matrix(which)``, so that the test scores see the validation item like every
other model's (the protocol's "What every model sees").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Config, param
from .base import Recommender

__all__ = ["IALS", "fold_in"]


def fold_in(item_factors: np.ndarray, rows, alpha: float, regularization: float) -> np.ndarray:
    """The iALS user vectors of the binary ``rows`` (CSR, users x items) with ``item_factors``
    fixed, the exact solve of ``implicit``'s own user step:
    ``p_u = (YᵀY + λI + (alpha − 1) Y_uᵀ Y_u)⁻¹ alpha Y_uᵀ 1``, where ``Y_u`` holds the factors
    of the user's items. In ``implicit``'s parameterisation an observed pair has confidence
    ``alpha`` (the data times alpha; Hu et al. write ``1 + alpha``) and every other pair 1."""
    y = np.asarray(item_factors, dtype=np.float64)
    base = y.T @ y + regularization * np.eye(y.shape[1])
    out = np.zeros((rows.shape[0], y.shape[1]))
    for u in range(rows.shape[0]):
        items = rows.indices[rows.indptr[u]:rows.indptr[u + 1]]
        if len(items):
            yu = y[items]
            out[u] = np.linalg.solve(base + (alpha - 1.0) * yu.T @ yu, alpha * yu.sum(axis=0))
    return out


class IALS(Recommender):
    """Weighted matrix factorisation for implicit feedback, fitted by ``implicit``'s ALS.

    Confidence ``alpha`` on observed pairs and 1 on the rest (``implicit``'s convention);
    squared loss towards 1 and 0;
    L2 penalty ``regularization``. Scores are ``p_u · q_i`` with ``p_u`` folded in (``fold_in``).
    """

    name = "ials"
    seeded = True                 # the factors start from a seeded random draw

    @dataclass(frozen=True)
    class Config(Config):
        factors: int = param(32, low=1, doc="vector size")
        regularization: float = param(10.0, low=0, doc="L2 penalty lambda")
        alpha: float = param(2.0, low=0, low_open=True, doc="confidence of an observed pair")
        iterations: int = param(15, low=1, doc="ALS sweeps")
        space = {"factors": [8, 16, 32, 64, 128, 256, 512],
                 "regularization": [1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1000.0],
                 "alpha": [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]}

    def fit(self, split, **kwargs):
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        x = split.train_matrix().astype(np.float32).tocsr()
        # one BLAS thread, as implicit asks (it warns otherwise); it also keeps the run
        # identical whatever the machine's core count
        with threadpool_limits(1, "blas"):
            als = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization,
                                          alpha=self.alpha, iterations=self.iterations,
                                          random_state=self.seed, num_threads=1)
            als.fit(x, show_progress=False)
        self.item_factors_ = np.asarray(als.item_factors, dtype=np.float64)
        self.user_factors_ = {w: fold_in(self.item_factors_, split.input_matrix(w).tocsr(),
                                         self.alpha, self.regularization)
                              for w in ("valid", "test")}
        self.num_users_ = split.num_users
        return self

    def score(self, users, which="valid"):
        users = self._check_users(users)
        return self.user_factors_[self._check_which(which)][users] @ self.item_factors_.T

    @property
    def num_params(self):
        return int(self.item_factors_.size + self.user_factors_["valid"].size)
