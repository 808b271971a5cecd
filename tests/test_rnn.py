"""Chapter 5's sequential models: the Markov baseline by hand, masking, shapes, learning."""

import numpy as np
import pandas as pd
import pytest

from recsys_lib.metrics import evaluate
from recsys_lib.models.baselines import Popularity
from recsys_lib.models.rnn import ArticleLSTM, ArticleLSTMNet, GRU4Rec, GRU4RecNet, Markov
from recsys_lib.splits import leave_last_out
from tests.test_cnn import _chain_split


def test_markov_by_hand():
    # user 0: 0 1 2 | valid 3 | test 4 ; user 1: 0 2 1 | 3 | 4 ; user 2: 1 2 0 | 4 | 3
    seqs = {0: [0, 1, 2, 3, 4], 1: [0, 2, 1, 3, 4], 2: [1, 2, 0, 4, 3]}
    df = pd.DataFrame(
        [(u, i, 1, t) for u, s in seqs.items() for t, i in enumerate(s)],
        columns=["user_id", "item_id", "rating", "timestamp"],
    )
    split = leave_last_out(df, num_items=5)
    m = Markov(window=1, pop_weight=0.0).fit(split)
    # training transitions: 0->1, 1->2, 0->2, 2->1, 1->2, 2->0
    t = m.transitions_.toarray()
    assert t[0].tolist() == [0, 0.5, 0.5, 0, 0]
    assert t[1].tolist() == [0, 0, 1, 0, 0]
    assert t[2].tolist() == pytest.approx([0.5, 0.5, 0, 0, 0])
    # valid: last item of user 0 is 2 -> scores = T[2]
    assert m.score(np.array([0])).ravel().tolist() == pytest.approx([0.5, 0.5, 0, 0, 0])
    # test: the validation item 3 is now the last one; nothing ever followed 3
    assert m.score(np.array([0]), which="test").ravel().tolist() == [0, 0, 0, 0, 0]
    m2 = Markov(window=2, decay=0.5, pop_weight=0.0).fit(split)
    # user 0 (valid): last two items 1, 2 -> 0.5 * T[1] + T[2]
    assert m2.score(np.array([0])).ravel().tolist() == pytest.approx([0.5, 0.5, 0.5, 0, 0])
    # window 0 reads the whole history: 0, 1, 2 -> 0.8**2 T[0] + 0.8 T[1] + T[2]
    m0 = Markov(window=0, decay=0.8, pop_weight=0.0).fit(split)
    assert m0.score(np.array([0])).ravel() == pytest.approx(0.64 * t[0] + 0.8 * t[1] + t[2])
    with pytest.raises(ValueError, match="window"):
        Markov(window=-1)
    with pytest.raises(ValueError, match="which"):
        m.score(np.array([0]), which="train")


@pytest.mark.parametrize(
    "net",
    [
        lambda: ArticleLSTMNet(num_items=7, dim=4, units=5, dropout=0.0),
        lambda: GRU4RecNet(num_items=7, dim=4, units=5, cell="gru", dropout=0.0),
        lambda: GRU4RecNet(num_items=7, dim=4, units=5, cell="lstm", dropout=0.0),
    ],
)
def test_padding_is_masked(net):
    n = net()
    short = np.array([[0, 0, 3, 5]])
    longer = np.array([[0, 0, 0, 0, 0, 0, 3, 5]])  # more padding, same history
    other = np.array([[0, 0, 4, 5]])
    a, b, c = (n.all_logits(w).numpy() for w in (short, longer, other))
    assert a.shape == (1, 7)
    assert np.allclose(a, b, atol=1e-6)
    assert not np.allclose(a, c)


def test_article_lstm_shapes():
    n = ArticleLSTMNet(num_items=9, dim=4, units=6)
    out = n((np.array([[0, 1, 2], [3, 4, 5]]), np.array([[1, 2, 3], [4, 5, 6]])))
    assert tuple(out.shape) == (2, 3)
    assert tuple(n.all_logits(np.array([[0, 1, 2]])).shape) == (1, 9)
    # the last output of the sequence-returning second layer is the article's LSTM(64) output
    import keras

    x = np.array([[0, 1, 2], [3, 4, 5]])
    h1 = n.lstm1(n.item_emb(x), mask=n.item_emb.compute_mask(x))
    plain = keras.layers.LSTM(6)
    plain.build(h1.shape)
    plain.set_weights(n.lstm2.get_weights())
    assert np.allclose(
        plain(h1, mask=n.item_emb.compute_mask(x)).numpy(),
        n.lstm2(h1, mask=n.item_emb.compute_mask(x)).numpy()[:, -1],
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="cell"):
        GRU4Rec(cell="rnn")


@pytest.mark.parametrize(
    "cls,kw",
    [
        (GRU4Rec, dict(L=3, dim=16, units=16, dropout=0.0, epochs=40, lr=1e-2)),
        # the other two cells train the same loop: the full suite only (make test-fast skips slow)
        pytest.param(
            GRU4Rec,
            dict(L=3, dim=16, units=16, dropout=0.0, epochs=40, lr=1e-2, cell="lstm"),
            marks=pytest.mark.slow,
        ),
        pytest.param(
            ArticleLSTM,
            dict(L=3, dim=16, units=16, dropout=0.0, epochs=40, lr=1e-2),
            marks=pytest.mark.slow,
        ),
    ],
)
def test_recurrent_models_learn_the_next_item(cls, kw):
    split = _chain_split()
    m = cls(batch_size=32, patience=40, seed=0, **kw).fit(split)
    test = evaluate(m, split, "test")
    pop = evaluate(Popularity().fit(split), split, "test")
    assert test.means["HR@10"] > 0.9 > pop.means["HR@10"]
    assert m.history_["loss"][-1] < m.history_["loss"][0]
    w_valid, w_test = m.user_windows([0], "valid"), m.user_windows([0], "test")
    assert w_test[0, -1] == split.valid.set_index("user_id").loc[0, "item_id"] + 1
    assert (w_valid[0, 1:] == w_test[0, :-1]).all()


def test_markov_learns_the_chain():
    split = _chain_split()
    m = Markov(window=1).fit(split)
    assert evaluate(m, split, "test").means["HR@10"] == 1.0


def test_sequence_chunks_by_hand():
    from recsys_lib.models.rnn import sequence_chunks

    # items 10..14 -> codes shifted by one in the inputs, not in the targets
    x, y, w = sequence_chunks([np.array([10, 11, 12, 13, 14])], L=3, stride=2)
    assert x.tolist() == [[12, 13, 14], [0, 11, 12]]
    assert y.tolist() == [[12, 13, 14], [0, 11, 12]]
    assert w.tolist() == [[0, 1, 1], [0, 1, 1]]
    with pytest.raises(ValueError, match="stride"):
        sequence_chunks([np.arange(5)], L=3, stride=4)


@pytest.mark.parametrize("L,stride", [(1, 1), (3, 1), (4, 2), (5, 5), (7, 3)])
def test_sequence_chunks_train_every_target_once_with_enough_context(L, stride):
    from recsys_lib.models.rnn import sequence_chunks

    rng = np.random.default_rng(L * 10 + stride)
    seqs = [rng.permutation(50)[:n] for n in (2, 3, 9, 20)]
    x, y, w = sequence_chunks(seqs, L=L, stride=stride)
    assert w.sum() == sum(len(s) - 1 for s in seqs)
    trained = sorted(int(t) for t in y[w > 0])
    assert trained == sorted(int(t) for s in seqs for t in s[1:])
    for seq in seqs:  # each target sees its real prefix
        x, y, w = sequence_chunks([seq], L=L, stride=stride)
        for row, col in zip(*np.nonzero(w)):
            t = int(np.flatnonzero(seq == y[row, col])[0])
            context = int((x[row, : col + 1] > 0).sum())
            assert context >= min(t, L - stride + 1)
            assert (x[row, col + 1 - context : col + 1] == seq[t - context : t] + 1).all()
