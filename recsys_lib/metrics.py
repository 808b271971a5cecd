"""Full-ranking evaluation as PROTOCOL.md defines it.

Every item is a candidate except the user's excluded ones; the held-out item is
never excluded. Ties are pessimistic: the target's rank is 1 + the number of other
candidates whose score is greater than *or equal to* its own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["target_ranks", "metrics_from_ranks", "top_k", "evaluate_scores", "evaluate",
           "EvalResult", "catalogue_coverage", "bootstrap_ci", "auc_per_user", "METRICS"]

METRICS = ("HR", "NDCG", "MRR")


def _as_dense_mask(exclude, shape) -> np.ndarray:
    if exclude is None:
        return np.zeros(shape, dtype=bool)
    if sp.issparse(exclude):
        exclude = exclude.toarray()
    exclude = np.asarray(exclude, dtype=bool)
    if exclude.shape != shape:
        raise ValueError(f"exclusion mask has shape {exclude.shape}, scores have {shape}")
    return exclude


def _check_scores(scores, targets) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores)
    targets = np.asarray(targets)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (users, items), got shape {scores.shape}")
    if scores.shape[0] == 0:
        raise ValueError("nothing to evaluate: no users (is the split empty?)")
    if targets.shape != (scores.shape[0],):
        raise ValueError(f"targets must have shape ({scores.shape[0]},), got {targets.shape}")
    if not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(f"targets must be integer item codes, got dtype {targets.dtype}")
    if targets.min() < 0 or targets.max() >= scores.shape[1]:
        raise ValueError(f"target item codes must lie in 0..{scores.shape[1] - 1}")
    if not np.issubdtype(scores.dtype, np.number) or np.isnan(scores).any():
        raise ValueError("scores contain NaN or are not numeric")
    return scores, targets


def target_ranks(scores, targets, exclude=None) -> np.ndarray:
    """1-based pessimistic rank of each row's target among its candidates.

    ``scores``: (n, num_items); ``targets``: (n,) item codes; ``exclude``: (n, num_items)
    boolean or sparse mask of items to drop from the ranking (the target is kept).
    """
    scores, targets = _check_scores(scores, targets)
    rows = np.arange(len(targets))
    mask = _as_dense_mask(exclude, scores.shape).copy()
    mask[rows, targets] = False
    t = scores[rows, targets][:, None]
    ahead_or_tied = (scores >= t) & ~mask
    return ahead_or_tied.sum(axis=1).astype(np.int64)  # the target itself counts as 1


def metrics_from_ranks(ranks: np.ndarray, k: int = 10) -> dict[str, np.ndarray]:
    """Per-user HR@k, NDCG@k and MRR@k from 1-based ranks."""
    ranks = np.asarray(ranks)
    if k < 1:
        raise ValueError("k must be >= 1")
    hit = ranks <= k
    return {f"HR@{k}": hit.astype(float),
            f"NDCG@{k}": np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0),
            f"MRR@{k}": np.where(hit, 1.0 / ranks, 0.0)}


def top_k(scores, k: int = 10, exclude=None) -> np.ndarray:
    """Indices of the ``k`` best candidates per row, best first (ties: lower index first)."""
    scores = np.asarray(scores, dtype=np.float64)
    mask = _as_dense_mask(exclude, scores.shape)
    s = np.where(mask, -np.inf, scores)
    k = min(k, s.shape[1])
    part = np.argpartition(-s, k - 1, axis=1)[:, :k]
    order = np.lexsort((part, -np.take_along_axis(s, part, 1)), axis=1)
    return np.take_along_axis(part, order, 1)


def evaluate_scores(scores, targets, exclude=None, k: int = 10) -> dict[str, float]:
    """Mean HR@k, NDCG@k and MRR@k for one matrix of scores."""
    per_user = metrics_from_ranks(target_ranks(scores, targets, exclude), k)
    return {m: float(v.mean()) for m, v in per_user.items()}


@dataclass
class EvalResult:
    """Per-user metrics and top-k lists of one model on one part of a split."""

    which: str
    k: int
    users: np.ndarray
    ranks: np.ndarray
    per_user: dict
    topk: np.ndarray

    @property
    def means(self) -> dict[str, float]:
        return {m: float(v.mean()) for m, v in self.per_user.items()}

    def rounded(self, digits: int = 3) -> dict[str, float]:
        return {m: round(v, digits) for m, v in self.means.items()}


def evaluate(model, split, which: str = "valid", k: int = 10, batch_size: int = 512) -> EvalResult:
    """Score all items for every held-out user of ``which`` and compute the metrics.

    ``model.score(users, which=which)`` must return an (n, num_items) array.
    """
    users, targets = split.targets(which)
    if len(users) == 0:
        raise ValueError(f"the {which!r} part of the split is empty")
    excl = split.exclusions(which)
    ranks, tops = [], []
    for start in range(0, len(users), batch_size):
        u = users[start:start + batch_size]
        s = np.asarray(model.score(u, which=which))
        if s.shape != (len(u), split.num_items):
            raise ValueError(f"{type(model).__name__}.score returned shape {s.shape}, "
                             f"expected {(len(u), split.num_items)}")
        ex = excl[u]
        ranks.append(target_ranks(s, targets[start:start + batch_size], ex))
        tops.append(top_k(s, k, ex))
    ranks = np.concatenate(ranks)
    return EvalResult(which, k, users, ranks, metrics_from_ranks(ranks, k), np.concatenate(tops))


def catalogue_coverage(topk: np.ndarray, num_items: int) -> float:
    """Share of the catalogue that appears in at least one user's top-k list."""
    return float(len(np.unique(np.asarray(topk))) / num_items)


def bootstrap_ci(values, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-user ``values`` (users resampled)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("cannot bootstrap an empty array")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    means = values[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def auc_per_user(scores, positives) -> np.ndarray:
    """Per-row AUC: the probability that a random positive outranks a random negative.

    ``scores`` and the boolean ``positives`` have shape (n_users, n_candidates); every
    candidate not positive is a negative. Ties count one half, so a constant scorer gets
    exactly 0.5. Rows without a positive or without a negative are NaN.
    """
    s = np.asarray(scores, dtype=float)
    pos = np.asarray(positives, dtype=bool)
    if s.shape != pos.shape or s.ndim != 2:
        raise ValueError(f"scores {s.shape} and positives {pos.shape} must be equal 2-D shapes")
    out = np.full(len(s), np.nan)
    for r in range(len(s)):
        p, n = s[r, pos[r]], s[r, ~pos[r]]
        if len(p) and len(n):
            greater = (p[:, None] > n[None, :]).sum()
            ties = (p[:, None] == n[None, :]).sum()
            out[r] = (greater + 0.5 * ties) / (len(p) * len(n))
    return out

