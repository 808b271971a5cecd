"""Chapter 5: recurrent recommenders, and the simple sequential baseline they must beat.

* ``ArticleLSTM``: the source article's recipe. A user's history, padded and *masked*, goes
  through two stacked LSTM layers; the final state is dot-producted with a candidate item's
  embedding and a sigmoid gives P(the user interacts with it next). Trained with binary
  cross-entropy on the true next item and sampled negatives.
* ``GRU4Rec``: Hidasi et al. (ICLR 2016; CIKM 2018). A GRU reads the history; its state is
  scored against every item with a softmax over the whole catalogue (cross-entropy), trained on
  every prefix of every training history. ``cell="lstm"`` swaps the GRU for an LSTM of the
  same size, for the chapter's comparison.
* ``Markov``: item-to-item transitions. The score of item ``j`` is how often ``j`` followed the
  user's most recent items in all training histories, weighted by recency. It sees the order,
  so it is the fair baseline for a sequential model (Ludewig & Jannach, 2018).
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from ..config import Config, TrainConfig, param
from .base import Recommender
from .training import CandidateTable, SequenceRecommender, TrainStep, last_items, sample_negatives

__all__ = ["Markov", "ArticleLSTMNet", "ArticleLSTM", "sequence_chunks", "GRU4RecNet", "GRU4Rec"]


# ----------------------------------------------------------------------------- baseline
class Markov(Recommender):
    """First-order item-to-item transitions, smoothed over the user's last ``window`` items
    (``window = 0``: the whole history).

    ``T[i, j]`` counts how often item ``j`` came directly after item ``i`` in the training
    histories (each row normalised to sum to one). A user whose last items are
    ``i_1 .. i_w`` (most recent last) gets ``score = sum_k decay**(w - k) * T[i_k]``, plus
    ``pop_weight`` times normalised popularity to break ties among items never seen after
    them. For 'test' the history includes the validation item (PROTOCOL.md).
    """

    name = "markov"

    @dataclass(frozen=True)
    class Config(Config):
        window: int = param(0, low=0, doc="recent items whose transitions are summed (0: all)")
        decay: float = param(0.8, low=0, low_open=True, high=1.0, doc="weight per step back")
        pop_weight: float = param(1e-3, low=0, doc="weight of normalised popularity")
        space = {"window": [1, 2, 3, 5, 10, 20, 50, 100, 200, 0],     # 0: the whole history
                 "decay": [0.3, 0.5, 0.7, 0.8, 0.9, 1.0]}

    def fit(self, split, **kwargs):
        self.num_users_, self.num_items_ = split.num_users, split.num_items
        self._seqs = {w: split.sequences(w) for w in ("valid", "test")}
        src, dst = [], []
        for s in self._seqs["valid"]:
            src.append(s[:-1])
            dst.append(s[1:])
        src, dst = np.concatenate(src), np.concatenate(dst)
        n = split.num_items
        t = sp.csr_matrix((np.ones(len(src), np.float64), (src, dst)), shape=(n, n))
        rows = np.asarray(t.sum(axis=1)).ravel()
        self.transitions_ = (sp.diags(1.0 / np.maximum(rows, 1.0)) @ t).tocsr()
        pop = np.bincount(split.train.item_id.to_numpy(), minlength=n).astype(np.float64)
        self.popularity_ = pop / max(pop.max(), 1.0)
        return self

    def score(self, users, which="valid"):
        users = self._check_users(users)
        self._check_which(which)
        out = np.tile(self.pop_weight * self.popularity_, (len(users), 1))
        for r, u in enumerate(users):
            recent = self._seqs[which][u][-self.window:] if self.window else self._seqs[which][u]
            w = self.decay ** np.arange(len(recent))[::-1]
            if len(recent):
                out[r] += np.asarray(self.transitions_[recent].T @ w).ravel()
        return out

    @property
    def num_params(self):
        return int(self.transitions_.nnz + self.num_items_)


# ----------------------------------------------------------------------------- article's LSTM
class ArticleLSTMNet(TrainStep, CandidateTable, keras.Model):
    """Embedding (mask_zero) -> LSTM -> LSTM -> Dense into the item space; dot with candidates.

    Both LSTM layers return their whole output sequence, so one window trains a prediction at
    every position. The article's second layer, ``LSTM(64)``, returns only its final state;
    that is exactly the last element of this layer's sequence, which is what scoring uses.
    """

    def __init__(self, num_items, dim=64, units=64, dropout=0.2, **kw):
        kw.setdefault("name", "article_lstm")
        super().__init__(**kw)
        self.item_emb = keras.layers.Embedding(num_items + 1, dim, mask_zero=True,
                                               name="item_embedding")
        self.lstm1 = keras.layers.LSTM(units, return_sequences=True, dropout=dropout,
                                       name="lstm_1")
        self.lstm2 = keras.layers.LSTM(units, return_sequences=True, dropout=dropout,
                                       name="lstm_2")
        self.project = keras.layers.Dense(dim, name="to_item_space")
        self._add_candidates(num_items, dim, "candidate")

    def states(self, windows, training=False):
        """The user's state after each position, in item space: (batch, L, dim)."""
        x = self.item_emb(windows)
        mask = self.item_emb.compute_mask(windows)
        h = self.lstm1(x, mask=mask, training=training)
        h = self.lstm2(h, mask=mask, training=training)
        return self.project(h)

    def call(self, inputs, training=False):
        """``(windows, items)`` -> logits of P(next item) for each row's candidates."""
        windows, items = inputs
        return self.candidate_logits(self.states(windows, training=training)[:, -1], items)

    def all_logits(self, windows):
        return self.logits(self.states(windows)[:, -1])

    def train_step(self, data):
        windows, targets, weights, negs = data          # negs: (B, L, k)
        keep = weights > 0
        with tf.GradientTape() as tape:
            s = tf.boolean_mask(self.states(windows, training=True), keep)        # (M, dim)
            items = tf.concat([tf.boolean_mask(targets, keep)[:, None],
                               tf.boolean_mask(negs, keep)], axis=1)               # (M, 1 + k)
            logits = self.candidate_logits(s, items)
            labels = tf.concat([tf.ones_like(logits[:, :1]), tf.zeros_like(logits[:, 1:])], 1)
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, logits))
        return self.apply_loss(tape, loss)


class _ChunkedSequenceRecommender(SequenceRecommender):
    """Training windows cut from every history (``sequence_chunks``); scoring from the last
    ``L`` items before validation or test."""

    def _prepare(self, split):
        self._prepare_histories(split)
        (self.windows_, self.targets_, self.weights_,
         self.chunk_users_) = sequence_chunks(self._seqs["valid"], self.L, self.stride,
                                              return_users=True)

    @property
    def stride(self) -> int:
        """Targets trained per window (default ``L // 2``)."""
        return max(1, self.L // 2) if self.config.stride is None else self.config.stride

    @property
    def trained_targets(self) -> int:
        """Number of (prefix, next item) examples per epoch."""
        return int(self.weights_.sum())

    @property
    def examples_per_epoch(self):
        return len(self.windows_)

    def _all_logits(self, users, windows):
        return self.net_.all_logits(windows).numpy()


class ArticleLSTM(_ChunkedSequenceRecommender):
    """The article's two stacked LSTM(64) layers and a sigmoid, on implicit feedback.

    At every trained position of a window (see ``sequence_chunks``) the true next item is a
    positive (label 1) and ``negatives`` items the user never interacted with are negatives
    (label 0), with binary cross-entropy as in the article.
    """

    name = "lstm"

    @dataclass(frozen=True)
    class Config(TrainConfig):
        L: int = param(10, low=1, doc="window length")
        dim: int = param(64, low=1, doc="item embedding size")
        units: int = param(64, low=1, doc="LSTM units per layer")
        dropout: float = param(0.2, low=0, high=0.99)
        negatives: int = param(4, low=1, doc="sampled negatives per trained position")
        stride: int | None = param(None, low=1, none_ok=True, doc="default L // 2")
        epochs: int = param(40, low=1)
        lr: float = param(3e-3, low=0, low_open=True, doc="Adam's learning rate")
        batch_size: int = param(128, low=1)
        # widened twice after searches ended on an open edge (L = 5; then units = 256 and
        # dropout = 0.6)
        space = {"L": [2, 3, 5, 10, 20, 50, 100], "units": [16, 32, 64, 128, 256, 512],
                 "dim": [16, 32, 64, 128, 256], "dropout": [0.0, 0.1, 0.2, 0.4, 0.6, 0.8],
                 "negatives": [1, 2, 4, 8, 16], "lr": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]}

        def check(self):
            if self.stride is not None and self.stride > self.L:
                raise ValueError(f"stride must be in 1..L={self.L}, got {self.stride}")

    def _prepare(self, split):
        super()._prepare(split)
        self._seen = split.train_matrix().toarray().astype(bool)

    def _build(self, split):
        self.net_ = ArticleLSTMNet(split.num_items, self.dim, self.units, self.dropout)
        self.net_.compile(optimizer=keras.optimizers.Adam(self.lr))
        self.net_((self.windows_[:1], self.targets_[:1, -1:]))

    def _run_epoch(self, epoch):
        order = self._rng.permutation(len(self.windows_))
        n, L = len(order), self.L
        negs = sample_negatives(self.chunk_users_[order], self._seen, self._rng,
                                size=L * self.negatives).reshape(n, L, self.negatives)
        return self._fit_epoch((self.windows_[order], self.targets_[order], self.weights_[order],
                                negs.astype(np.int32)))


# ----------------------------------------------------------------------------- GRU4Rec
def sequence_chunks(sequences, L: int, stride: int | None = None, return_users: bool = False):
    """Histories cut into overlapping windows for sequence-to-sequence training.

    For a history ``s`` the model reads ``s[:t]`` and must predict ``s[t]`` for every
    ``t >= 1``. Windows of ``L`` inputs end at ``n-1, n-1-stride, ...`` (right-aligned, left
    padded with 0; codes shifted by one). Each target is trained in exactly one window, the one
    where it falls in the last ``stride`` positions, so it is predicted from at least
    ``L - stride + 1`` earlier items (or its whole prefix, if shorter). With ``stride=1`` this
    is exactly "every prefix, last L items"; larger strides share the recurrent computation.
    Returns ``(inputs (n, L), targets (n, L), weights (n, L))``; weights are 1 where a target
    is trained. With ``return_users`` a fourth array gives the user (row of ``sequences``) of
    each window.
    """
    stride = L // 2 if stride is None else stride
    if not 1 <= stride <= L:
        raise ValueError(f"stride must be in 1..L, got {stride}")
    xs, ys, ws, us = [], [], [], []
    for u, s in enumerate(sequences):
        s = np.asarray(s, dtype=np.int64)
        n = len(s)
        for e in range(n - 1, 0, -stride):            # window predicts targets e-L+1 .. e
            lo = max(0, e - L)
            x = np.zeros(L, np.int32)
            y = np.zeros(L, np.int32)
            w = np.zeros(L, np.float32)
            k = e - lo                                 # real inputs in this window
            x[L - k:] = s[lo:e] + 1
            y[L - k:] = s[lo + 1:e + 1]
            first = max(lo + 1, e - stride + 1)        # first target this window trains
            w[L - (e - first + 1):] = 1.0
            xs.append(x), ys.append(y), ws.append(w), us.append(u)
    if not xs:
        raise ValueError("no user has a training history of at least two items")
    out = (np.stack(xs), np.stack(ys), np.stack(ws))
    return (*out, np.asarray(us, np.int64)) if return_users else out


class GRU4RecNet(TrainStep, CandidateTable, keras.Model):
    """Embedding -> dropout -> GRU (or LSTM) over the window -> softmax over all items.

    The recurrent layer returns its state at every position, so one window trains every
    position in it; the output layer is a second item matrix ``W`` with a bias:
    logits = ``h_t W^T + b``. For scoring, the state after the last item is used.
    """

    def __init__(self, num_items, dim=64, units=100, cell="gru", dropout=0.25, **kw):
        kw.setdefault("name", "gru4rec" if cell == "gru" else "lstm4rec")
        super().__init__(**kw)
        if cell not in ("gru", "lstm"):
            raise ValueError("cell must be 'gru' or 'lstm'")
        self.item_emb = keras.layers.Embedding(num_items + 1, dim, mask_zero=True,
                                               name="item_embedding")
        self.drop = keras.layers.Dropout(dropout)
        rnn = keras.layers.GRU if cell == "gru" else keras.layers.LSTM
        self.rnn = rnn(units, return_sequences=True, name=cell)
        self._add_candidates(num_items, units, "output_item")

    def states(self, windows, training=False):
        """The recurrent state after each position, shape (batch, L, units)."""
        x = self.drop(self.item_emb(windows), training=training)
        return self.rnn(x, mask=self.item_emb.compute_mask(windows), training=training)

    def call(self, windows, training=False):
        return self.all_logits(windows, training)

    def all_logits(self, windows, training=False):
        """Scores of every item after the last position of each window, (batch, num_items)."""
        return self.logits(self.states(windows, training=training)[:, -1])

    def train_step(self, data):
        windows, targets, weights = data
        keep = weights > 0                      # score the catalogue only where a target trains
        with tf.GradientTape() as tape:
            h = tf.boolean_mask(self.states(windows, training=True), keep)      # (M, units)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.boolean_mask(targets, keep), logits=self.logits(h))
            loss = tf.reduce_mean(ce)
        return self.apply_loss(tape, loss)


class GRU4Rec(_ChunkedSequenceRecommender):
    """GRU4Rec-style next-item model, trained on every prefix of each training history.

    Choices (stated because third-party versions differ, Hidasi & Czapp 2023):
    cross-entropy over the full catalogue (no negative sampling: 1,682 items are cheap to
    score); a learned item embedding as input (the original also allows one-hot); dropout on
    the input embedding; Adam; a loss at every position of a window, as the original computes
    one at every step of a session. Instead of the original's session-parallel mini-batches
    that carry the state through a whole session, histories are cut into overlapping windows
    (``sequence_chunks``): each target is predicted from at least ``L - stride + 1`` previous
    items, and at scoring time from the last ``L``. Early stopping on validation NDCG@10.

    With ``stream=True`` the training windows are not kept in memory: they are written once,
    user block by user block, to TFRecord shards in a temporary directory and streamed from
    disk every epoch (``recsys_lib.streaming``), shuffled through a buffer of
    ``shuffle_buffer`` windows.
    """

    name = "gru4rec"

    @dataclass(frozen=True)
    class Config(TrainConfig):
        L: int = param(20, low=1, doc="window length")
        dim: int = param(256, low=1, doc="item embedding size")
        units: int = param(50, low=1, doc="recurrent state size")
        cell: str = param("gru", choices=("gru", "lstm"))
        dropout: float = param(0.1, low=0, high=0.99, doc="dropout on the input embedding")
        stride: int | None = param(None, low=1, none_ok=True, doc="default L // 2")
        epochs: int = param(40, low=1)
        batch_size: int = param(128, low=1)
        stream: bool = param(False, doc="stream the windows from TFRecord shards on disk")
        shuffle_buffer: int = param(10_000, low=1, doc="shuffle buffer when streaming")
        # an older grid's optimum sat on dim 256 and dropout 0.75, its largest values; three
        # searches of 16 trials then ended on units 25, on L 5 and on units 400 with dropout
        # 0.9, each the edge of its space then: this space holds all of them inside it, and
        # dropout ends on its natural limit (0.99)
        space = {"L": [2, 3, 5, 10, 20, 50, 100], "units": [6, 12, 25, 50, 100, 200, 400, 800],
                 "dim": [16, 32, 64, 128, 256, 512],
                 "dropout": [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99],
                 "lr": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]}

        def check(self):
            if self.stride is not None and self.stride > self.L:
                raise ValueError(f"stride must be in 1..L={self.L}, got {self.stride}")

    def _prepare(self, split):
        if not self.stream:
            return super()._prepare(split)
        import tempfile

        from ..streaming import write_shards

        self._prepare_histories(split)
        self._stream_dir = tempfile.TemporaryDirectory(prefix="gru4rec-windows-")
        seqs = self._seqs["valid"]

        def blocks(size=500):
            for lo in range(0, len(seqs), size):
                part = [s for s in seqs[lo:lo + size] if len(s) > 1]
                if part:
                    x, y, w = sequence_chunks(part, self.L, self.stride)
                    yield {"windows": x, "targets": y, "weights": w}

        self.stream_spec_ = write_shards(blocks(), self._stream_dir.name, num_shards=4)
        self.windows_ = np.stack([last_items(s, self.L) for s in seqs[:1]])

    @property
    def trained_targets(self) -> int:
        if self.stream:
            raise AttributeError("trained_targets is not counted when streaming")
        return super().trained_targets

    @property
    def examples_per_epoch(self):
        return int(self.stream_spec_["count"]) if self.stream else len(self.windows_)

    def _build(self, split):
        self.net_ = GRU4RecNet(split.num_items, self.dim, self.units, self.cell, self.dropout)
        self.net_.compile(optimizer=keras.optimizers.Adam(self.lr))
        self.net_(self.windows_[:1])

    def _run_epoch(self, epoch):
        if self.stream:
            from ..streaming import read_shards

            ds = read_shards(self.stream_spec_, self.batch_size, self.strategy_,
                             self.shuffle_buffer, seed=int(self._rng.integers(2**31)),
                             keys=("windows", "targets", "weights"))
            return self._fit_batches(ds)["loss"]
        order = self._rng.permutation(len(self.windows_))
        return self._fit_epoch((self.windows_[order], self.targets_[order], self.weights_[order]))
