"""SASRec and BERT4Rec (recsys_lib.models.attention): the mask, the losses by hand, the cloze
task and the windows."""

import numpy as np
import pytest
import tensorflow as tf  # noqa: E402

from recsys_lib.models.attention import AttentionNet, attention_mask, cloze, item_windows


def _net(causal=True, positional=True, **kw):
    tf.keras.utils.set_random_seed(0)
    net = AttentionNet(
        num_items=6,
        L=4,
        dim=8,
        blocks=2,
        heads=2,
        dropout=0.0,
        causal=causal,
        positional=positional,
        **kw,
    )
    net(np.array([[0, 1, 2, 3]], np.int32))
    return net


def test_the_attention_mask_hides_padding_and_the_future():
    m = attention_mask(np.array([[0, 0, 3, 5]], np.int32), causal=True).numpy()[0]
    expect = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]], bool)
    np.testing.assert_array_equal(m, expect)
    m = attention_mask(np.array([[0, 2, 3, 5]], np.int32), causal=False).numpy()[0]
    np.testing.assert_array_equal(m, np.tile([0, 1, 1, 1], (4, 1)).astype(bool))


def test_causal_states_do_not_depend_on_later_items():
    net = _net(causal=True)
    a = net.encode(np.array([[0, 1, 2, 3]], np.int32)).numpy()
    b = net.encode(np.array([[0, 1, 2, 6]], np.int32)).numpy()
    np.testing.assert_allclose(a[0, :3], b[0, :3], atol=1e-6)  # positions before the change
    assert not np.allclose(a[0, 3], b[0, 3])
    bi = _net(causal=False)
    a = bi.encode(np.array([[0, 1, 2, 3]], np.int32)).numpy()
    b = bi.encode(np.array([[0, 1, 2, 6]], np.int32)).numpy()
    assert not np.allclose(a[0, 1], b[0, 1])  # bidirectional: it does


def test_attention_gives_padding_no_weight():
    net = _net(causal=True)
    _, weights = net.encode(np.array([[0, 0, 4, 5]], np.int32), return_attention=True)
    for w in weights:  # (batch, heads, L, L)
        w = w.numpy()
        np.testing.assert_allclose(w[0, :, 2:, :2], 0.0, atol=1e-7)
        np.testing.assert_allclose(w[0, :, 2:].sum(-1), 1.0, atol=1e-6)


def test_without_positions_the_order_of_the_context_is_invisible():
    """With no positional embedding a bidirectional encoder is permutation-equivariant: the
    state at the last position does not change when the other items are shuffled."""
    net = _net(causal=False, positional=False)
    a = net.encode(np.array([[1, 2, 3, 7]], np.int32)).numpy()[0, -1]
    b = net.encode(np.array([[3, 1, 2, 7]], np.int32)).numpy()[0, -1]
    np.testing.assert_allclose(a, b, atol=1e-5)
    pos = _net(causal=False, positional=True)
    a = pos.encode(np.array([[1, 2, 3, 7]], np.int32)).numpy()[0, -1]
    b = pos.encode(np.array([[3, 1, 2, 7]], np.int32)).numpy()[0, -1]
    assert not np.allclose(a, b, atol=1e-5)


def _softplus(x):
    return np.log1p(np.exp(x))


@pytest.mark.parametrize("loss", ["ce", "sampled", "bce", "gbce"])
def test_each_loss_matches_its_formula_by_hand(loss):
    net = _net(loss=loss, negatives=2, gbce_t=0.5)
    rng = np.random.default_rng(0)
    h = rng.normal(size=(3, 8)).astype(np.float32)
    targets = np.array([0, 4, 5], np.int32)
    negs = np.array([[1, 2], [0, 3], [2, 4]], np.int32)
    got = net.position_loss(tf.constant(h), tf.constant(targets), tf.constant(negs)).numpy()
    E = net.item_matrix.numpy()  # (6 items, 8)
    s = h @ E.T  # every item's score
    pos = s[np.arange(3), targets]
    neg = np.take_along_axis(s, negs, axis=1)
    if loss == "ce":
        want = np.log(np.exp(s).sum(1)) - pos
    elif loss == "sampled":
        want = np.log(np.exp(pos) + np.exp(neg).sum(1)) - pos
    else:
        alpha = 2 / 5
        beta = 1.0 if loss == "bce" else alpha * (0.5 * (1 - 1 / alpha) + 1 / alpha)
        want = beta * _softplus(-pos) + _softplus(neg).sum(1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_gbce_is_bce_at_t_zero_and_scales_the_positive_by_alpha_at_t_one():
    h, t, n = tf.constant(np.ones((1, 8), np.float32)), tf.constant([0]), tf.constant([[1, 2]])
    bce = _net(loss="bce", negatives=2).position_loss(h, t, n).numpy()
    g0 = _net(loss="gbce", negatives=2, gbce_t=0.0).position_loss(h, t, n).numpy()
    np.testing.assert_allclose(g0, bce, rtol=1e-6)
    net = _net(loss="gbce", negatives=2, gbce_t=1.0)
    s = (h.numpy() @ net.item_matrix.numpy().T)[0]
    want = 2 / 5 * _softplus(-s[0]) + _softplus(s[1]) + _softplus(s[2])
    np.testing.assert_allclose(net.position_loss(h, t, n).numpy(), [want], rtol=1e-5)


def test_item_windows_by_hand():
    w, users = item_windows([np.array([0, 1, 2, 3, 4]), np.array([5])], L=3, stride=2)
    # windows end at the last item and every 2 before it, until one reaches the first item
    np.testing.assert_array_equal(w, [[3, 4, 5], [1, 2, 3], [0, 0, 6]])
    np.testing.assert_array_equal(users, [0, 0, 1])
    # the earliest window holds the first L items, not a one-item stub
    w, _ = item_windows([np.array([0, 1, 2, 3])], L=3, stride=3)
    np.testing.assert_array_equal(w, [[2, 3, 4], [1, 2, 3]])
    with pytest.raises(ValueError, match="stride"):
        item_windows([np.arange(3)], L=3, stride=4)


def test_cloze_masks_a_share_and_always_at_least_one_item():
    windows = np.array([[0, 0, 1, 2], [3, 4, 5, 6]] * 500, np.int32)
    inputs, targets, weights = cloze(windows, 0.3, mask_token=99, rng=np.random.default_rng(0))
    assert set(np.unique(inputs[weights > 0])) == {99}
    np.testing.assert_array_equal(inputs[weights == 0], windows[weights == 0])
    assert (weights[windows == 0] == 0).all()  # padding is never a target
    assert (weights.sum(1) >= 1).all()
    np.testing.assert_array_equal(targets[weights > 0], windows[weights > 0] - 1)
    share = weights[1::2].mean()  # rows with 4 real items
    # expected: (4 * 0.3 + P(none of 4 drawn) = 0.7**4) / 4 = 0.360 (1,000 draws: sd 0.008)
    assert 0.33 < share < 0.39


def test_a_bad_setting_is_refused_clearly():
    with pytest.raises(ValueError, match="multiple of heads"):
        AttentionNet(6, 4, dim=6, heads=4)
    with pytest.raises(ValueError, match="loss must be one of"):
        AttentionNet(6, 4, loss="hinge")
    from recsys_lib.registry import model_config

    with pytest.raises(ValueError, match="multiple of heads"):
        model_config("sasrec", dim=10, heads=3)


def test_bert4rec_scores_from_a_mask_token_after_the_last_items(ml100k_split):
    from recsys_lib.registry import make_model, profile_overrides

    m = make_model("bert4rec", **profile_overrides("bert4rec", "tiny"))
    m.setup(ml100k_split)
    w = m.user_windows(np.array([0, 1]), "test")
    assert w.shape == (2, m.L)
    assert (w[:, -1] == ml100k_split.num_items + 1).all()
    seq = ml100k_split.sequences("test")[0]
    np.testing.assert_array_equal(w[0, :-1], np.asarray(seq[-(m.L - 1) :]) + 1)


@pytest.mark.parametrize("loss", ["bce", "gbce"])
def test_negatives_are_drawn_at_trained_positions_only_and_never_the_target(loss, ml100k_split):
    from recsys_lib.registry import make_model

    m = make_model(
        f"sasrec-{loss}",
        L=8,
        dim=8,
        blocks=1,
        epochs=1,
        **({"negatives": 3} if loss == "gbce" else {}),
    )
    m.setup(ml100k_split)
    n = m.negatives
    negs = m._negatives(m.chunk_users_, m.targets_, m.weights_, n)
    trained = m.weights_ > 0
    assert negs.shape == (len(m.windows_), 8, n)
    assert (negs[~trained] == 0).all()
    assert not (negs[trained] == m.targets_[trained][:, None]).any()
    if loss == "bce":  # the user's training items are never negatives
        users = np.repeat(m.chunk_users_, 8).reshape(-1, 8)[trained]
        assert not m._seen[users[:, None], negs[trained]].any()
