"""The simple baselines added for the fair fight, computed by hand: sequential rules, V-SKNN,
RP3beta, and iALS's fold-in against the library it wraps."""

import numpy as np
import pandas as pd
import pytest

from recsys_lib.models.baselines import RP3beta
from recsys_lib.models.ials import IALS, fold_in
from recsys_lib.models.session import VSKNN, SequentialRules, gap_weights
from recsys_lib.splits import leave_last_out
from recsys_lib.testing import block_split


def _split(seqs, num_items):
    df = pd.DataFrame(
        [(u, i, 1, t) for u, s in seqs.items() for t, i in enumerate(s)],
        columns=["user_id", "item_id", "rating", "timestamp"],
    )
    return leave_last_out(df, num_items=num_items)


# user 0: 0 1 2 | valid 3 | test 4 ; user 1: 0 2 1 | 3 | 4 ; user 2: 1 2 0 | 4 | 3
SEQS = {0: [0, 1, 2, 3, 4], 1: [0, 2, 1, 3, 4], 2: [1, 2, 0, 4, 3]}


def test_gap_weights():
    assert gap_weights("div", [1, 2, 4]).tolist() == [1.0, 0.5, 0.25]
    assert gap_weights("linear", [1, 2, 11, 12]).tolist() == pytest.approx([1.0, 0.9, 0.0, 0.0])
    assert gap_weights("same", [1, 5]).tolist() == [1.0, 1.0]
    assert gap_weights("quadratic", [2]).tolist() == [0.25]
    with pytest.raises(ValueError, match="weighting"):
        gap_weights("cubic", [1])
    with pytest.raises(ValueError, match="start at 1"):
        gap_weights("div", [0])


def test_sequential_rules_by_hand():
    split = _split(SEQS, 5)
    m = SequentialRules(steps=2, weighting="div", pop_weight=0.0).fit(split)
    # training histories 0 1 2, 0 2 1, 1 2 0. Gap 1 (weight 1): 0->1 1->2 0->2 2->1 1->2 2->0;
    # gap 2 (weight 1/2): 0->2 0->1 1->0
    r = m.rules_.toarray()
    assert r[0].tolist() == [0, 1.5, 1.5, 0, 0]
    assert r[1].tolist() == [0.5, 0, 2.0, 0, 0]
    assert r[2].tolist() == [1.0, 1.0, 0, 0, 0]
    # a user is scored from the rules of their last item: user 0's is 2 (valid), 3 (test)
    assert m.score(np.array([0])).ravel().tolist() == [1.0, 1.0, 0, 0, 0]
    assert m.score(np.array([0]), "test").ravel().tolist() == [0, 0, 0, 0, 0]
    # steps = 1 is the Markov chain's direct transitions (before its row normalisation)
    one = SequentialRules(steps=1, pop_weight=0.0).fit(split).rules_.toarray()
    assert one[0].tolist() == [0, 1, 1, 0, 0]
    pruned = (
        SequentialRules(steps=2, weighting="div", prune=1, pop_weight=0.0)
        .fit(split)
        .rules_.toarray()
    )
    assert pruned[0].tolist() == [0, 1.5, 0, 0, 0]  # a tie goes to the lower item
    assert pruned[1].tolist() == [0, 0, 2.0, 0, 0]


def test_vsknn_by_hand():
    split = _split(SEQS, 5)
    m = VSKNN(window=2, weighting="div", k=1, pop_weight=0.0).fit(split)
    # user 0 (valid): recent items 1 (distance 2, weight 1/2) and 2 (distance 1, weight 1).
    # Every other user rated {0, 1, 2}: similarity (1/2 + 1) / sqrt(3) with both; k = 1 keeps
    # the lower code, user 1, whose items each score that similarity
    sim = 1.5 / np.sqrt(3)
    assert m.score(np.array([0])).ravel() == pytest.approx([sim, sim, sim, 0, 0])
    # test: the recent items are 2 and 3; the neighbours' histories now include their
    # validation items (3, 3 and 4): user 1 has {0, 1, 2, 3}: (1/2 + 1) / 2
    assert m.score(np.array([0]), "test").ravel() == pytest.approx([0.75, 0.75, 0.75, 0.75, 0])


def test_rp3beta_by_hand():
    split = block_split(n_users=12, n_items=24)
    m = RP3beta(alpha=1.0, beta=0.0, k=0).fit(split)
    x = split.train_matrix().toarray()
    p_ui = x / x.sum(1, keepdims=True)
    p_iu = x.T / x.T.sum(1, keepdims=True)
    w = p_iu @ p_ui
    np.fill_diagonal(w, 0)
    assert m.w_.toarray() == pytest.approx(w)
    beta = RP3beta(alpha=1.0, beta=1.0, k=0).fit(split).w_.toarray()
    assert beta == pytest.approx(w / x.sum(0)[None, :])
    top1 = RP3beta(alpha=1.0, beta=0.0, k=1).fit(split).w_.toarray()
    assert ((top1 > 0).sum(1) <= 1).all()
    half = RP3beta(alpha=0.5, beta=0.0, k=0).fit(split).w_.toarray()
    w_half = np.sqrt(p_iu) @ np.sqrt(p_ui)
    np.fill_diagonal(w_half, 0)
    assert half == pytest.approx(w_half)


def test_ials_fold_in_is_the_library_users_exact_solve():
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    split = block_split()
    x = split.train_matrix().astype(np.float32).tocsr()
    with threadpool_limits(1, "blas"):
        als = AlternatingLeastSquares(
            factors=4,
            regularization=0.5,
            alpha=3.0,
            iterations=5,
            random_state=0,
            num_threads=1,
            use_cg=False,
        )
        als.fit(x, show_progress=False)
        # implicit's own exact user step, against its own item factors
        theirs = als.recalculate_user(np.arange(x.shape[0]), x)
    ours = fold_in(als.item_factors, x, alpha=3.0, regularization=0.5)
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)
    m = IALS(factors=4, iterations=3).fit(split)
    # at test time the user's row includes the validation item
    assert not np.allclose(m.user_factors_["valid"], m.user_factors_["test"])
