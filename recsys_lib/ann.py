"""Approximate top-k retrieval by inner product: a minimal inverted-file (IVF) index.

Exact retrieval scores every item for every query, so its cost grows with the catalogue. An
IVF index clusters the item vectors once (k-means, ``n_cells`` cells); a query scores the
cell centroids, then scans only the items of its ``nprobe`` best cells. The work per query
falls to roughly ``nprobe / n_cells`` of the catalogue, at the price of missing items that sit
in other cells (recall below 1). Libraries such as FAISS and ScaNN implement the same idea
with quantised vectors and tuned kernels; this version exists to measure the trade-off.
"""
from __future__ import annotations

import numpy as np

__all__ = ["exact_top_k", "IVFIndex", "recall_at_k"]


def _check(vectors, name="vectors") -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2 or v.shape[0] == 0 or v.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array")
    if not np.isfinite(v).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    return v


def exact_top_k(queries, vectors, k: int = 10, batch: int = 1024) -> np.ndarray:
    """Ids of the ``k`` items with the largest inner product, best first, per query."""
    q, v = _check(queries, "queries"), _check(vectors)
    if q.shape[1] != v.shape[1]:
        raise ValueError("queries and vectors differ in dimension")
    k = min(k, len(v))
    out = np.empty((len(q), k), dtype=np.int64)
    for s in range(0, len(q), batch):
        scores = q[s:s + batch] @ v.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1, kind="stable")
        out[s:s + batch] = np.take_along_axis(part, order, 1)
    return out


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact top-k ids that the approximate lists also return."""
    approx, exact = np.asarray(approx), np.asarray(exact)
    if approx.shape[0] != exact.shape[0]:
        raise ValueError("approx and exact must have one row per query")
    hits = [len(set(a.tolist()) & set(e.tolist())) for a, e in zip(approx, exact)]
    return float(np.sum(hits) / exact.size)


class IVFIndex:
    """k-means cells over the item vectors; a query scans its ``nprobe`` best cells."""

    def __init__(self, n_cells: int = 64, iterations: int = 10, seed: int = 0):
        if n_cells < 1 or iterations < 1:
            raise ValueError("n_cells and iterations must be positive")
        self.n_cells, self.iterations, self.seed = int(n_cells), int(iterations), seed

    def fit(self, vectors) -> "IVFIndex":
        v = _check(vectors)
        if len(v) < self.n_cells:
            raise ValueError(f"need at least n_cells={self.n_cells} vectors, got {len(v)}")
        rng = np.random.default_rng(self.seed)
        c = v[rng.choice(len(v), self.n_cells, replace=False)].copy()
        sq = (v ** 2).sum(1)
        for _ in range(self.iterations):              # Lloyd's k-means (squared L2)
            assign = np.argmin(sq[:, None] - 2 * v @ c.T + (c ** 2).sum(1)[None, :], axis=1)
            for j in range(self.n_cells):
                members = v[assign == j]
                if len(members):
                    c[j] = members.mean(0)
        self.vectors_, self.centroids_ = v, c
        self.assign_ = np.argmin(sq[:, None] - 2 * v @ c.T + (c ** 2).sum(1)[None, :], axis=1)
        self.cells_ = [np.flatnonzero(self.assign_ == j) for j in range(self.n_cells)]
        return self

    def search(self, queries, k: int = 10, nprobe: int = 4):
        """``(ids (n, k), scanned)``: approximate top-k ids (-1 where a probe found fewer than
        ``k`` items) and the mean share of the catalogue each query scored."""
        if not hasattr(self, "centroids_"):
            raise RuntimeError("fit the index before searching")
        q = _check(queries, "queries")
        if q.shape[1] != self.vectors_.shape[1]:
            raise ValueError("queries and vectors differ in dimension")
        if not 1 <= nprobe <= self.n_cells:
            raise ValueError(f"nprobe must be in 1..{self.n_cells}")
        probes = np.argsort(-(q @ self.centroids_.T), axis=1)[:, :nprobe]
        out = np.full((len(q), k), -1, dtype=np.int64)
        scanned = 0
        for r, cells in enumerate(probes):
            cand = np.concatenate([self.cells_[j] for j in cells])
            scanned += len(cand)
            scores = self.vectors_[cand] @ q[r]
            top = cand[np.argsort(-scores, kind="stable")[:k]]
            out[r, :len(top)] = top
        return out, scanned / (len(q) * len(self.vectors_))
