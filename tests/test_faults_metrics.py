"""Issue 15, "Nothing silent", fault 4: metrics refuse impossible input with a clear
ValueError, and give exactly the old values for valid input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recsys_lib.metrics import (
    bootstrap_ci,
    catalogue_coverage,
    evaluate,
    metrics_from_ranks,
    target_ranks,
    top_k,
)


# the code before the fix, as the reference for valid input -----------------------------
def _old_metrics(ranks, k):
    ranks = np.asarray(ranks)
    hit = ranks <= k
    return {
        f"HR@{k}": hit.astype(float),
        f"NDCG@{k}": np.where(hit, 1.0 / np.log2(ranks + 1.0), 0.0),
        f"MRR@{k}": np.where(hit, 1.0 / ranks, 0.0),
    }


def _old_top_k(scores, k, exclude=None):
    """The documented rule, spelt out: best score first, ties by the lower index."""
    scores = np.asarray(scores, dtype=np.float64)
    mask = (
        np.zeros(scores.shape, bool)
        if exclude is None
        else np.asarray(exclude.toarray() if hasattr(exclude, "toarray") else exclude, bool)
    )
    s = np.where(mask, -np.inf, scores)
    k = min(k, s.shape[1])
    idx = np.arange(s.shape[1])
    return np.stack([np.lexsort((idx, -row))[:k] for row in s]).astype(np.int64)


def test_ties_at_the_cut_go_to_the_lower_index_not_to_argpartitions_choice():
    """``np.argpartition``, which top_k used, keeps an arbitrary one of the items tied at the
    k-th place (here item 10 instead of 9), and which one depends on NumPy's sorting code for
    the CPU: the top-10 lists then differ between machines."""
    scores = -np.ones((1, 11))
    excl = np.zeros((1, 11), bool)
    excl[0, 0] = True
    assert top_k(scores, 9, excl).tolist() == [[1, 2, 3, 4, 5, 6, 7, 8, 9]]
    ties = np.zeros((3, 50))
    assert top_k(ties, 10).tolist() == [list(range(10))] * 3


def _old_bootstrap(values, n_boot=1000, alpha=0.05, seed=0):
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    lo, hi = np.quantile(values[idx].mean(axis=1), [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def _same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].tobytes() == b[key].tobytes(), key


# ----------------------------------------------------------------------------- metrics_from_ranks
@pytest.mark.parametrize(
    "ranks, k, expect",
    [
        ([0, 1], 10, r"ranks are 1-based \(the best is 1\), got 0"),
        ([3, -2], 10, "got -2"),
        ([1.5, 2], 10, "whole numbers >= 1, got 1.5"),
        ([np.nan, 1], 10, "whole numbers >= 1, got nan"),
        ([np.inf], 10, "got inf"),
        (["1"], 10, "dtype <U1"),
        ([], 10, "no ranks given"),
        ([1, 2], 2.5, "k must be an integer >= 1, got 2.5"),
        ([1, 2], 0, "got 0"),
        ([1, 2], -3, "got -3"),
        ([1, 2], True, "got True"),
        ([1, 2], "10", "got '10'"),
    ],
)
def test_metrics_from_ranks_rejects(ranks, k, expect):
    with pytest.raises(ValueError, match=expect):
        metrics_from_ranks(np.array(ranks), k)


@settings(max_examples=200, deadline=None)
@given(
    arrays(
        st.sampled_from([np.int64, np.int32, np.float64]),
        st.integers(1, 50),
        elements=st.integers(1, 2000),
    ),
    st.integers(1, 300) | st.sampled_from([np.int64(10), np.int32(5)]),
)
def test_metrics_from_ranks_unchanged_for_valid_ranks(ranks, k):
    new = metrics_from_ranks(ranks, k)
    _same(new, _old_metrics(ranks, k))
    for v in new.values():
        assert np.isfinite(v).all() and ((v >= 0) & (v <= 1)).all()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 100), max_size=20), st.integers(-100, 0), st.data())
def test_any_rank_below_one_is_refused(good, bad, data):
    ranks = np.array(good + [bad])
    ranks = ranks[data.draw(st.permutations(list(range(len(ranks)))))]
    with pytest.raises(ValueError, match=f"ranks are 1-based .*got {bad}"):
        metrics_from_ranks(ranks, 10)


# ----------------------------------------------------------------------------- top_k
@pytest.mark.parametrize(
    "scores, k, expect",
    [
        (np.zeros((2, 5)), -2, "k must be an integer >= 1, got -2"),
        (np.zeros((2, 5)), 0, "got 0"),
        (np.zeros((2, 5)), 2.5, "got 2.5"),
        (np.zeros(5), 2, r"scores must be 2-D \(users, items\), got shape \(5,\)"),
        (np.zeros((1, 2, 3)), 2, "2-D"),
        (np.array([[0.1, np.nan]]), 1, "NaN"),
        (np.array([["a", "b"]]), 1, "numeric"),
    ],
)
def test_top_k_rejects(scores, k, expect):
    with pytest.raises(ValueError, match=expect):
        top_k(scores, k)


def test_top_k_with_fewer_candidates_than_k_pads_with_minus_one():
    scores = np.array([[0.1, 0.9, 0.5, 0.3], [0.4, 0.3, 0.2, 0.1]])
    excl = np.array([[False, True, True, False], [True, True, True, True]])
    assert top_k(scores, 3, excl).tolist() == [[3, 0, -1], [-1, -1, -1]]
    assert top_k(scores, 6).tolist() == [[1, 2, 3, 0, -1, -1], [0, 1, 2, 3, -1, -1]]
    # a candidate scored -inf still beats an excluded item
    s = np.array([[-np.inf, 0.0, -np.inf]])
    assert top_k(s, 3, np.array([[True, False, False]])).tolist() == [[1, 2, -1]]
    assert catalogue_coverage(top_k(scores, 3, excl), 4) == 0.5  # the padding is no item


scored = st.tuples(st.integers(1, 6), st.integers(1, 25)).flatmap(
    lambda shape: st.tuples(
        arrays(
            np.float64,
            shape,
            elements=st.sampled_from([-np.inf, np.inf, -1.0, 0.0, 0.5, 2.0]) | st.floats(-3, 3),
        ),
        arrays(np.bool_, shape),
    )
)


@settings(max_examples=300, deadline=None)
@given(scored, st.integers(1, 30))
def test_top_k_lists_only_candidates_best_first(data, k):
    scores, excl = data
    out = top_k(scores, k, excl)
    assert out.shape == (len(scores), k)
    for row, s, m in zip(out, scores, excl):
        real = row[row >= 0]
        assert (row[len(real) :] == -1).all()  # padding only at the end
        assert len(real) == min(k, int((~m).sum())) and len(set(real)) == len(real)
        assert not m[real].any()
        assert (s[real][1:] <= s[real][:-1]).all()  # best first
        rest = np.setdiff1d(np.flatnonzero(~m), real)
        if len(real) and len(rest):
            assert s[rest].max() <= s[real].min()
    if ((~excl).sum(axis=1) >= k).all() and np.isfinite(scores).all():
        assert out.tolist() == _old_top_k(scores, k, excl).tolist()  # the documented rule


def test_top_k_follows_its_rule_in_the_real_case(rng):
    """1,682 items, k=10, users with up to 737 training items, tied scores: best first, ties
    by the lower index."""
    n, m = 300, 1682
    scores = np.round(rng.standard_normal((n, m)), 1)  # many ties
    scores[:50] = rng.integers(0, 3, (50, m))  # popularity-like: huge ties
    excl = rng.random((n, m)) < rng.uniform(0, 737 / m, (n, 1))
    for k in (10, 100, 300):
        new, old = top_k(scores, k, sp.csr_matrix(excl)), _old_top_k(scores, k, excl)
        assert new.dtype == old.dtype and new.tobytes() == old.tobytes()


def test_evaluate_unchanged_on_a_catalogue_of_1682(rng):
    from dataclasses import dataclass

    import pandas as pd

    from recsys_lib.splits import leave_last_out

    n_users, m = 80, 1682
    rows = [
        (u, i, t)
        for u in range(n_users)
        for t, i in enumerate(rng.choice(m, rng.integers(3, 60), replace=False))
    ]
    split = leave_last_out(
        pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]), n_users, m
    )

    @dataclass
    class Model:
        table: np.ndarray

        def score(self, users, which):
            return self.table[users]

    table = np.round(rng.standard_normal((n_users, m)), 1)
    res = evaluate(Model(table), split, "test", k=10, batch_size=32)
    users, targets = split.targets("test")
    excl = split.exclusions("test")[users].toarray()
    ranks = target_ranks(table[users], targets, excl)
    _same(res.per_user, _old_metrics(ranks, 10))
    assert res.topk.tobytes() == _old_top_k(table[users], 10, excl).tobytes()


# ----------------------------------------------------------------------------- bootstrap, coverage
@pytest.mark.parametrize(
    "values, kw, expect",
    [
        ([np.nan, 1.0], {}, r"values hold 1 NaN or infinite entry \(first at position 0\)"),
        ([1.0, np.inf, -np.inf], {}, "2 NaN or infinite entries"),
        ([], {}, "empty"),
        ([[1.0, 2.0]], {}, "1-D"),
        ([1.0, 0.0], {"n_boot": 0}, "n_boot must be an integer >= 1"),
        ([1.0, 0.0], {"alpha": 0}, "alpha must lie strictly between 0 and 1"),
        ([1.0, 0.0], {"alpha": 1.5}, "alpha"),
    ],
)
def test_bootstrap_ci_rejects(values, kw, expect):
    with pytest.raises(ValueError, match=expect):
        bootstrap_ci(values, **kw)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-10, 10), min_size=1, max_size=40),
    st.integers(1, 300),
    st.floats(0.01, 0.5),
    st.integers(0, 3),
)
def test_bootstrap_ci_unchanged_for_finite_values(values, n_boot, alpha, seed):
    assert bootstrap_ci(values, n_boot, alpha, seed) == _old_bootstrap(values, n_boot, alpha, seed)


@pytest.mark.parametrize(
    "topk, n, expect",
    [
        (np.array([[0, 1]]), 0, "num_items must be an integer >= 1, got 0"),
        (np.array([[0, 1]]), -4, "got -4"),
        (np.array([[0, 1]]), 2.0, "got 2.0"),
        (np.array([[0, 5]]), 5, r"item code 5, outside 0\.\.4"),
        (np.array([[0, -2]]), 5, "item code -2"),
        (np.array([[0.0, 1.0]]), 5, "integer item codes"),
    ],
)
def test_catalogue_coverage_rejects(topk, n, expect):
    with pytest.raises(ValueError, match=expect):
        catalogue_coverage(topk, n)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 50).flatmap(
        lambda n: st.tuples(
            st.just(n),
            arrays(
                np.int64,
                st.tuples(st.integers(0, 8), st.integers(1, 10)),
                elements=st.integers(0, n - 1),
            ),
        )
    )
)
def test_catalogue_coverage_unchanged_for_valid_lists(data):
    n, topk = data
    assert catalogue_coverage(topk, n) == float(len(np.unique(topk)) / n)
