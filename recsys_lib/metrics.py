"""Full-ranking evaluation as PROTOCOL.md defines it.

Every item is a candidate except the user's excluded ones; the held-out item is
never excluded. Ties are pessimistic: the target's rank is 1 + the number of other
candidates whose score is greater than *or equal to* its own.
"""
from __future__ import annotations

import numbers
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


def _check_k(k) -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    return int(k)


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
    """Per-user HR@k, NDCG@k and MRR@k from 1-based ranks.

    ``ranks`` must be a non-empty array of whole numbers >= 1 (as ``target_ranks`` gives)
    and ``k`` an integer >= 1; anything else raises ``ValueError``.
    """
    k = _check_k(k)
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("no ranks given: nothing to compute metrics from")
    if ranks.dtype.kind not in "iuf":
        raise ValueError(f"ranks must be whole numbers >= 1, got dtype {ranks.dtype}")
    if ranks.dtype.kind == "f":
        bad = ~np.isfinite(ranks) | (ranks != np.floor(ranks))
        if bad.any():
            raise ValueError(f"ranks must be whole numbers >= 1, got {ranks[bad].ravel()[0].item()!r}")
    if (ranks < 1).any():
        raise ValueError(f"ranks are 1-based (the best is 1), got {ranks[ranks < 1].ravel()[0].item()!r}")
    hit = ranks <= k
    return {f"HR@{k}": hit.astype(float),
            f"NDCG@{k}": np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0),
            f"MRR@{k}": np.where(hit, 1.0 / ranks, 0.0)}


def top_k(scores, k: int = 10, exclude=None) -> np.ndarray:
    """Indices of the ``k`` best candidates per row, best first (ties: lower index first).

    The result always has shape ``(n, k)``. A row with fewer than ``k`` candidates (items
    not excluded; e.g. ``k`` larger than the catalogue) lists all of them and is padded at
    the end with ``-1``: an excluded item is never returned. ``scores`` must be a 2-D
    numeric array without NaN.
    """
    k = _check_k(k)
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (users, items), got shape {scores.shape}")
    if scores.dtype.kind not in "iufb":
        raise ValueError(f"scores must be numeric, got dtype {scores.dtype}")
    scores = scores.astype(np.float64, copy=False)
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    mask = _as_dense_mask(exclude, scores.shape)
    n, m = scores.shape
    if m == 0:
        return np.full((n, k), -1, dtype=np.int64)
    s = np.where(mask, -np.inf, scores)
    kk = min(k, m)
    # A stable sort ranks tied scores by the lower index, the same on every machine.
    # ``np.argpartition`` does not: which of several items tied at the k-th place it keeps
    # depends on the sorting code NumPy picks for the CPU (AVX-512 or AVX2), so the lists,
    # their coverage and long-tail share could differ between two computers.
    top = np.argsort(-s, axis=1, kind="stable")[:, :kk]
    n_cand = m - mask.sum(axis=1)
    # Rows that are short of candidates, or where a candidate scored -inf like the excluded
    # items, are ranked exactly: candidates first, by score, ties by lower index.
    redo = (n_cand < k) | np.take_along_axis(mask, top, 1).any(axis=1)
    if not redo.any():
        return top
    out = np.full((n, k), -1, dtype=top.dtype)
    out[~redo, :kk] = top[~redo]
    idx = np.arange(m)
    for r in np.flatnonzero(redo):
        full = np.lexsort((idx, -scores[r], mask[r]))[:min(k, n_cand[r])]
        out[r, :len(full)] = full
    return out


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
    """Share of the catalogue that appears in at least one user's top-k list.

    ``topk`` holds item codes in ``0..num_items-1``; the padding ``-1`` of ``top_k`` (rows
    with fewer candidates than k) is not an item and is ignored.
    """
    if isinstance(num_items, (bool, np.bool_)) or not isinstance(num_items, numbers.Integral) \
            or num_items < 1:
        raise ValueError(f"num_items must be an integer >= 1, got {num_items!r}")
    topk = np.asarray(topk)
    if topk.size and topk.dtype.kind not in "iu":
        raise ValueError(f"topk must hold integer item codes, got dtype {topk.dtype}")
    items = topk[topk != -1] if topk.size else topk
    if items.size and (items.min() < 0 or items.max() >= num_items):
        bad = items[(items < 0) | (items >= num_items)].ravel()[0].item()
        raise ValueError(f"topk holds item code {bad!r}, outside 0..{num_items - 1} "
                         "(and not the padding -1)")
    return float(len(np.unique(items)) / num_items)


def bootstrap_ci(values, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-user ``values`` (users resampled).

    ``values`` must be a non-empty 1-D array of finite numbers (``ValueError`` otherwise:
    a NaN would silently make both ends NaN).
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("cannot bootstrap an empty array")
    if values.ndim != 1:
        raise ValueError(f"values must be 1-D (one per user), got shape {values.shape}")
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"values hold {int(bad.sum())} NaN or infinite entr"
                         f"{'y' if bad.sum() == 1 else 'ies'} (first at position "
                         f"{int(np.flatnonzero(bad)[0])}): drop or fix them first")
    if isinstance(n_boot, (bool, np.bool_)) or not isinstance(n_boot, numbers.Integral) \
            or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
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

