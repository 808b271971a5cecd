"""Chapter 4's convolutional models: features, layers, shapes and what each model can learn."""

import keras  # noqa: E402  (recsys_lib.models.cnn configured TensorFlow's logging first)
import numpy as np
import pandas as pd
import pytest

from recsys_lib.metrics import evaluate
from recsys_lib.models.baselines import Popularity
from recsys_lib.models.cnn import (
    Caser,
    CaserNet,
    ContentCNN,
    ItemOnlyCNN,
    VerticalConv,
    article_feature_vectors,
    build_article_cnn,
    items_of,
    last_items,
    next_item_windows,
    title_token_ids,
    tokenize_title,
)
from recsys_lib.models.training import sample_negatives
from recsys_lib.movielens import GENRES
from recsys_lib.splits import leave_last_out
from recsys_lib.testing import block_items
from recsys_lib.testing import block_split as _block_split


def test_tokens_by_hand():
    assert tokenize_title("Star Wars: Episode IV") == ["star", "wars", "episode", "iv"]
    ids, vocab = title_token_ids(["Star Wars", "Star Trek", "Heat"], max_len=3, min_count=2)
    assert vocab == ["<pad>", "<oov>", "star"]
    assert ids.tolist() == [[2, 1, 0], [2, 1, 0], [1, 0, 0]]
    ids, _ = title_token_ids(["a b c d e"], max_len=2, min_count=1)
    assert ids.shape == (1, 2) and (ids > 1).all()  # truncated, not wrapped


def test_article_feature_vectors():
    items = block_items(6)
    x, names = article_feature_vectors(items, length=25)
    assert x.shape == (6, 25) and len(names) == 25
    assert (x[:, : len(GENRES)] == items[GENRES].to_numpy()).all()
    j = names.index("word:star")
    assert x[:3, j].tolist() == [1, 1, 1] and x[3:, j].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="genre"):
        article_feature_vectors(items, length=len(GENRES))


def test_article_cnn_shapes():
    net = build_article_cnn(100)
    assert net.input_shape == (None, 100, 1)
    assert tuple(net(np.zeros((3, 100, 1), "float32")).shape) == (3, 1)
    # Conv1D(64, 3) + Dense(32) on 49 * 64 pooled values + Dense(1)
    assert net.count_params() == (3 * 64 + 64) + (49 * 64 * 32 + 32) + (32 + 1)


def test_item_only_cnn_gives_every_user_the_same_scores():
    split = _block_split()
    m = ItemOnlyCNN(epochs=2, batch_size=64, seed=0).fit(split)
    s = m.score(np.arange(split.num_users))
    assert (s == s[0]).all()
    # so it cannot beat a model that knows the two taste groups
    assert evaluate(m, split, "valid").means["HR@10"] < 0.7


def test_models_need_item_metadata():
    split = _block_split()
    split.items = None
    with pytest.raises(ValueError, match="item metadata"):
        ContentCNN(epochs=1).fit(split)
    with pytest.raises(ValueError, match="rows"):
        items_of(split, block_items(5))
    with pytest.raises(ValueError, match="lacks"):
        items_of(split, block_items(40).drop(columns=["Romance"]))


@pytest.mark.slow  # a learning/extension check that trains; make test runs it, make test-fast (3 min) does not
def test_content_cnn_learns_groups_and_scores_cold_items():
    split = _block_split()
    cold = [5, 25]  # one item of each group
    keep = ~split.train.item_id.isin(cold)
    split.train = split.train[keep].reset_index(drop=True)
    split._cache.clear()
    m = ContentCNN(
        dim=8, filters=8, word_dim=8, epochs=15, batch_size=64, lr=5e-3, patience=15, seed=0
    ).fit(split)
    # never-seen items keep a zero offset and bias: only their content scores them
    assert np.allclose(m.net_.offset.embeddings.numpy()[cold], 0)
    assert np.allclose(m.net_.bias.embeddings.numpy()[cold], 0)
    s = m.score(np.arange(split.num_users))
    group_a = np.arange(split.num_users) < 30
    # users of group A prefer the cold group-A item, group B users the cold group-B item
    prefer_a = s[:, 5] > s[:, 25]
    assert (prefer_a == group_a).mean() > 0.9
    assert evaluate(m, split, "valid").means["HR@10"] > 0.7


def test_windows_by_hand():
    assert last_items(np.array([4, 6, 8]), 2).tolist() == [7, 9]
    assert last_items(np.array([4]), 3).tolist() == [0, 0, 5]
    assert last_items(np.array([], dtype=int), 2).tolist() == [0, 0]
    u, w, t = next_item_windows([np.array([3, 5, 7]), np.array([1])], L=2)
    assert u.tolist() == [0, 0] and t.tolist() == [5, 7]
    assert w.tolist() == [[0, 4], [4, 6]]
    with pytest.raises(ValueError, match="history"):
        next_item_windows([np.array([1])], L=2)


def test_vertical_and_horizontal_filters_match_conv2d():
    rng = np.random.default_rng(0)
    L, d = 4, 6
    e = rng.normal(size=(3, L, d)).astype("float32")
    vert = VerticalConv(2)
    out = vert(e).numpy()  # (3, d, 2)
    conv = keras.layers.Conv2D(2, (L, 1))
    conv.build((None, L, d, 1))
    conv.set_weights([vert.kernel.numpy()[:, None, None, :], vert.bias.numpy()])
    ref = conv(e[..., None]).numpy()[:, 0]  # (3, d, 2)
    assert np.allclose(out, ref, atol=1e-5)

    net = CaserNet(num_users=2, num_items=5, L=L, dim=d, n_v=1, n_h=3)
    h2 = net.horizontal[1]  # height 2, as Conv1D
    h2.build((None, L, d))
    conv = keras.layers.Conv2D(3, (2, d), activation="relu")
    conv.build((None, L, d, 1))
    conv.set_weights([h2.kernel.numpy()[..., None, :], h2.bias.numpy()])
    assert np.allclose(h2(e).numpy(), conv(e[..., None]).numpy()[:, :, 0], atol=1e-5)


def test_caser_shapes_and_padding():
    net = CaserNet(num_users=4, num_items=9, L=3, dim=5, n_v=2, n_h=4)
    logits = net((np.array([0, 3]), np.array([[0, 0, 2], [1, 2, 3]])))
    assert tuple(logits.shape) == (2, 9)
    assert tuple(net.features(np.array([0]), np.array([[0, 1, 2]])).shape) == (1, 10)
    # padding contributes nothing: its embedding row is masked
    w = np.array([[0, 0, 2]])
    before = net((np.array([0]), w)).numpy()
    emb = net.item_emb.embeddings
    delta = np.zeros((10, 5), "float32")
    delta[0] = 1.0  # change the padding row only
    emb.assign(emb.numpy() + delta)
    assert np.allclose(before, net((np.array([0]), w)).numpy())
    with pytest.raises(ValueError, match="loss"):
        Caser(loss="mse")


def _chain_split(n_users=40, n_items=30, length=12, seed=0):
    """Every user walks the chain i -> i+1 (mod n) from a random start."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start = rng.integers(n_items)
        rows += [(u, int((start + t) % n_items), 1, t) for t in range(length)]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    return leave_last_out(df, num_items=n_items)


def test_caser_learns_the_next_item_and_uses_the_validation_item_for_test():
    split = _chain_split()
    m = Caser(
        L=2,
        dim=16,
        n_h=8,
        n_v=2,
        dropout=0.0,
        epochs=40,
        batch_size=32,
        lr=1e-2,
        patience=40,
        seed=0,
    ).fit(split)
    valid = evaluate(m, split, "valid")
    test = evaluate(m, split, "test")
    pop = evaluate(Popularity().fit(split), split, "test")
    assert valid.means["HR@10"] > 0.9 and test.means["HR@10"] > 0.9 > pop.means["HR@10"]
    # for test the history ends with the validation item: the input windows differ
    w_valid, w_test = m.user_windows([0], "valid"), m.user_windows([0], "test")
    assert w_test[0, -1] == split.valid.set_index("user_id").loc[0, "item_id"] + 1
    assert (w_valid != w_test).any()
    assert len(m.history_["loss"]) == len(m.history_["val_NDCG@10"])
    assert m.history_["loss"][-1] < m.history_["loss"][0]


def test_sample_negatives_from_candidates():
    rng = np.random.default_rng(0)
    seen = np.zeros((2, 6), bool)
    seen[0, [1, 2]] = True
    neg = sample_negatives(np.array([0, 0, 1]), seen, rng, np.array([1, 2, 3]), size=50)
    assert neg.shape == (3, 50)
    assert set(neg[:2].ravel()) == {3} and set(neg[2].ravel()) <= {1, 2, 3}
    seen[0, 3] = True
    with pytest.raises(ValueError, match="every candidate"):
        sample_negatives(np.array([0]), seen, rng, np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="no candidate"):
        sample_negatives(np.array([0]), seen, rng, np.array([], int))


def test_content_cnn_bpr_loss_by_hand_and_shapes():
    """``loss="bpr"`` trains on (user, rated, sampled) triples: one BPR step's loss is
    ``-mean log sigmoid(x_ui - x_uj)`` of the network's own scores (no L2 and no dropout
    here: a training step draws its dropout mask), the scores keep their shape, and an
    unknown loss is refused by name."""
    split = _block_split()
    m = ContentCNN(
        dim=4,
        filters=4,
        word_dim=4,
        l2=0.0,
        dropout=0.0,
        epochs=1,
        batch_size=64,
        seed=0,
        loss="bpr",
    ).fit(split)
    assert m.score(np.arange(3)).shape == (3, split.num_items)
    assert m.examples_per_epoch == len(split.train) * m.negatives
    net = m.net_
    u, i, j = (np.array(v, np.int32) for v in ([0, 1, 2], [3, 4, 5], [30, 31, 32]))
    x_ui = net({"user": u, "item": i}).numpy()
    x_uj = net({"user": u, "item": j}).numpy()
    expected = -np.mean(np.log(1.0 / (1.0 + np.exp(-(x_ui - x_uj)))))
    net.compile(optimizer=keras.optimizers.SGD(0.0))  # a step that leaves the weights alone
    loss = net.train_step(({"user": u, "item": i, "neg": j}, np.ones(3, np.float32)))["loss"]
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="loss"):
        ContentCNN(loss="hinge")
