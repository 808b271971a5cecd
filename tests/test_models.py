"""Every model answers the interface with the right shapes; baselines compute what they claim."""

import numpy as np
import pandas as pd
import pytest

from recsys_lib.metrics import evaluate
from recsys_lib.models import EASE, ItemKNN, Popularity
from recsys_lib.registry import MODELS, make_model
from recsys_lib.splits import leave_last_out
from recsys_lib.testing import (
    block_split as _block_split,
)
from recsys_lib.testing import (
    fitted_tiny,
    tiny,
)

FAST = {n: tiny(n) for n in MODELS}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_scores_all_items(name):
    split = _block_split()
    with pytest.raises(RuntimeError, match="fitted"):
        make_model(name, seed=0, **FAST.get(name, {})).score(np.array([0]))
    model = fitted_tiny(name, split)  # trained here, or by another test on the same data
    users = np.array([0, 5, 59])
    s = model.score(users)
    assert s.shape == (3, split.num_items)
    assert np.isfinite(s).all()
    assert model.score(users, which="test").shape == (3, split.num_items)
    assert model.num_params > 0
    with pytest.raises(ValueError, match="user code"):
        model.score(np.array([split.num_users]))


@pytest.mark.parametrize("model", [ItemKNN(k=10), EASE(l2=1.0)])
def test_collaborative_baselines_learn_the_groups(model):
    split = _block_split()
    res = evaluate(model.fit(split), split, "valid")
    pop = evaluate(Popularity().fit(split), split, "valid")
    # in-group guessing gives HR@10 of about 10/12; popularity mixes both groups
    assert res.means["HR@10"] > 0.7 > pop.means["HR@10"] + 0.2
    top = res.topk[:, :5]
    same_group = (top < 20) == (res.users[:, None] < 30)
    assert same_group.mean() > 0.95


def test_itemknn_by_hand():
    df = pd.DataFrame(
        {
            "user_id": [0, 0, 1, 1, 2, 2, 2],
            "item_id": [0, 1, 0, 1, 0, 2, 1],
            "rating": 1,
            "timestamp": [1, 2, 1, 2, 1, 2, 3],
        }
    )
    s = leave_last_out(df, num_items=3)  # only user 2 is held out (valid 2, test 1)
    m = ItemKNN(k=5, shrink=0.0).fit(s)
    # training: user0 {0,1}, user1 {0,1}, user2 {0}: cos(0, 1) = 2 / sqrt(3 * 2)
    c = 2 / np.sqrt(6)
    assert m.sim_.toarray() == pytest.approx(np.array([[0, c, 0], [c, 0, 0], [0, 0, 0]]))
    assert m.score(np.array([0, 2])) == pytest.approx(np.array([[c, c, 0], [0, c, 0]]))


def test_ease_closed_form():
    split = _block_split(n_users=20, n_items=24)
    m = EASE(l2=5.0).fit(split)
    x = split.train_matrix().toarray()
    b = m.b_
    assert np.allclose(np.diag(b), 0)
    # stationarity of the constrained least squares: off-diagonal gradient is zero
    grad = x.T @ (x @ b - x) + 5.0 * b
    off = ~np.eye(len(b), dtype=bool)
    assert np.abs(grad[off]).max() < 1e-8


def test_popularity_counts():
    split = _block_split()
    m = Popularity().fit(split)
    assert m.counts_["valid"].sum() == len(split.train)
    assert m.counts_["test"].sum() == len(split.train) + len(split.valid)
    assert (m.score(np.array([0, 1]))[0] == m.counts_["valid"]).all()
    assert (m.score(np.array([0, 1]), "test")[0] == m.counts_["test"]).all()


def test_bpr_learns_structure():
    from recsys_lib.models import BPR

    split = _block_split()
    m = BPR(dim=8, epochs=30, eval_every=5, patience=10, batch_size=64, lr=0.01, seed=0).fit(split)
    res = evaluate(m, split, "valid")
    assert res.means["HR@10"] > 0.8
    assert m.history_["val_NDCG@10"][-1] >= m.history_["val_NDCG@10"][0]


def test_chapter2_models_shapes():
    from recsys_lib.models.concepts import ContentBased, SocialRecommender
    from recsys_lib.models.neural import TinyNCF

    split = _block_split()
    rng = np.random.default_rng(0)
    feats = __import__("scipy.sparse", fromlist=["csr_matrix"]).csr_matrix(
        rng.random((split.num_items, 7))
    )
    graph = __import__("scipy.sparse", fromlist=["csr_matrix"]).csr_matrix(
        (rng.random((split.num_users, split.num_users)) < 0.1).astype(float)
    )
    for model in (
        ContentBased(feats),
        SocialRecommender(graph),
        TinyNCF(dim=4, hidden=8, epochs=1),
    ):
        model.fit(split)
        assert model.score(np.array([0, 1, 2])).shape == (3, split.num_items)
    ncf = model
    p = ncf.predict_proba([0, 1], [3, 4])
    assert p.shape == (2,) and ((p > 0) & (p < 1)).all()
    out = ncf.model_({"user": np.array([0, 1, 2]), "item": np.array([0, 1, 2])})
    assert tuple(out.shape) == (3, 1)
    with pytest.raises(ValueError, match="rows"):
        ContentBased(feats[:5]).fit(split)
    with pytest.raises(ValueError, match="graph"):
        SocialRecommender(graph[:5]).fit(split)


def test_simulated_friendships_homophily(ml100k):
    from recsys_lib.models.concepts import simulate_friendships

    ids = ml100k.users.user_id.to_numpy()
    occ = ml100k.users.occupation.to_numpy()

    def same_occ(h):
        g = simulate_friendships(ml100k.users, ids, friends=5, homophily=h, seed=0)
        assert (g != g.T).nnz == 0 and g.diagonal().sum() == 0
        r, c = g.nonzero()
        return np.mean(occ[r] == occ[c])

    assert same_occ(6.0) > same_occ(0.0) + 0.05
