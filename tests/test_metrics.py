"""Full-ranking metrics: hand-computed cases, ties, exclusions, properties and bad input."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recsys_lib.metrics import (
    bootstrap_ci,
    catalogue_coverage,
    evaluate_scores,
    metrics_from_ranks,
    target_ranks,
    top_k,
)


def test_hand_computed_ranks_ties_and_exclusions():
    scores = np.array(
        [
            [0.9, 0.8, 0.7, 0.6, 0.5],  # target 2: two items ahead -> rank 3
            [0.5, 0.5, 0.5, 0.1, 0.0],  # target 1 tied with 0 and 2 -> pessimistic rank 3
            [0.9, 0.8, 0.7, 0.6, 0.5],  # target 3, items 0 and 1 excluded -> rank 2
            [0.1, 0.9, 0.3, 0.3, 0.3],  # target 1 excluded too -> never dropped, rank 1
        ]
    )
    targets = np.array([2, 1, 3, 1])
    exclude = np.zeros_like(scores, dtype=bool)
    exclude[2, [0, 1]] = True
    exclude[3, [1, 4]] = True
    ranks = target_ranks(scores, targets, exclude)
    assert ranks.tolist() == [3, 3, 2, 1]
    m = metrics_from_ranks(ranks, k=2)
    assert m["HR@2"].tolist() == [0, 0, 1, 1]
    assert m["NDCG@2"].tolist() == [0, 0, 1 / math.log2(3), 1.0]
    assert m["MRR@2"].tolist() == [0, 0, 0.5, 1.0]
    means = evaluate_scores(scores, targets, sp.csr_matrix(exclude), k=3)
    assert means["HR@3"] == 1.0
    assert means["MRR@3"] == pytest.approx((1 / 3 + 1 / 3 + 1 / 2 + 1) / 4)
    assert means["NDCG@3"] == pytest.approx((2 / math.log2(4) + 1 / math.log2(3) + 1) / 4)


def test_constant_scores_rank_last():
    n_users, n_items = 50, 200
    scores = np.zeros((n_users, n_items))
    targets = np.arange(n_users)
    exclude = np.zeros_like(scores, dtype=bool)
    exclude[:, 150:] = True
    ranks = target_ranks(scores, targets, exclude)
    assert (ranks == 150).all()  # behind every other candidate
    assert evaluate_scores(scores, targets, exclude)["HR@10"] == 0.0


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 8), st.integers(2, 30)),
        elements=st.floats(-5, 5, allow_nan=False),
    ),
    st.integers(1, 12),
    st.data(),
)
def test_metric_properties(scores, k, data):
    n, m = scores.shape
    targets = np.array(data.draw(st.lists(st.integers(0, m - 1), min_size=n, max_size=n)))
    per = metrics_from_ranks(target_ranks(scores, targets), k)
    hr, ndcg, mrr = per[f"HR@{k}"], per[f"NDCG@{k}"], per[f"MRR@{k}"]
    for v in (hr, ndcg, mrr):
        assert ((v >= 0) & (v <= 1)).all()
    assert (ndcg <= hr + 1e-12).all() and (mrr <= ndcg + 1e-12).all()
    perfect = scores.copy()
    perfect[np.arange(n), targets] = scores.max() + 1
    assert evaluate_scores(perfect, targets, k=k)[f"NDCG@{k}"] == 1.0


@pytest.mark.parametrize(
    "scores, targets, msg",
    [
        (np.zeros(5), np.array([0]), "2-D"),
        (np.zeros((2, 5)), np.array([0]), "shape"),
        (np.zeros((2, 5)), np.array([0, 5]), "0..4"),
        (np.zeros((2, 5)), np.array([-1, 0]), "0..4"),
        (np.full((2, 5), np.nan), np.array([0, 1]), "NaN"),
        (np.zeros((0, 5)), np.zeros(0, dtype=int), "no users"),
        (np.zeros((2, 5)), np.array([0.0, 1.0]), "integer"),
    ],
)
def test_bad_input_is_rejected(scores, targets, msg):
    with pytest.raises(ValueError, match=msg):
        target_ranks(scores, targets)


def test_exclusion_mask_shape_checked():
    with pytest.raises(ValueError, match="exclusion mask"):
        target_ranks(np.zeros((2, 5)), np.array([0, 1]), np.zeros((2, 4), dtype=bool))


def test_top_k_and_coverage():
    scores = np.array([[0.1, 0.9, 0.5, 0.9], [0.3, 0.2, 0.1, 0.0]])
    excl = np.array([[False, False, False, True], [True, False, False, False]])
    assert top_k(scores, 2, excl).tolist() == [[1, 2], [1, 2]]
    assert top_k(scores, 3).tolist() == [[1, 3, 2], [0, 1, 2]]
    assert catalogue_coverage(top_k(scores, 2, excl), 4) == 0.5


def test_bootstrap_ci():
    values = np.r_[np.ones(30), np.zeros(70)]
    lo, hi = bootstrap_ci(values, n_boot=2000, seed=1)
    assert lo < 0.3 < hi and 0.15 < lo and hi < 0.45
    assert bootstrap_ci(values, seed=1) == bootstrap_ci(values, seed=1)
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_auc_per_user_by_hand():
    from recsys_lib.metrics import auc_per_user

    scores = np.array([[0.9, 0.1, 0.5, 0.5], [1.0, 1.0, 1.0, 1.0], [0.2, 0.3, 0.1, 0.0]])
    pos = np.array(
        [[True, False, True, False], [True, False, False, False], [False, False, False, False]]
    )
    auc = auc_per_user(scores, pos)
    # row 0: positives 0.9, 0.5 vs negatives 0.1, 0.5 -> (1 + 1 + 1 + 0.5) / 4
    assert auc[0] == pytest.approx(3.5 / 4)
    assert auc[1] == 0.5  # a constant scorer
    assert np.isnan(auc[2])  # no positive: undefined
    with pytest.raises(ValueError, match="shapes"):
        auc_per_user(scores, pos[:, :2])
