"""Chapter 4: convolutional recommenders.

Three models, in the order the chapter builds them:

* ``ItemOnlyCNN``: the source article's recipe exactly as written. A 100-long item feature
  vector goes through Conv1D -> MaxPooling1D -> Dense -> sigmoid. The user is not an input,
  so every user gets the same scores.
* ``ContentCNN``: the recipe made personal, in the spirit of ConvMF (Kim et al., RecSys 2016).
  A 1-D convolution reads the title's words; with the genres it gives an item vector, plus a
  learned per-item offset. A user embedding is dotted with it. Because the content part needs
  no interactions, it can score items that were never seen in training (cold start).
* ``Caser``: Tang & Wang (WSDM 2018). Horizontal and vertical convolutions over the embedding
  matrix of the user's last ``L`` items, plus a user embedding, predict the next item.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from ..config import TrainConfig, param
from ..schema import GENRES
from ..text import tokenize_title
from .training import (CandidateTable, EarlyStoppingRecommender, SequenceRecommender, TrainStep,
                       last_items, sample_negatives)

__all__ = ["tokenize_title", "title_token_ids", "article_feature_vectors", "build_article_cnn",
           "ArticleCNNNet",
           "ItemOnlyCNN", "ContentCNNNet", "ContentCNN", "CaserNet", "Caser",
           "last_items", "next_item_windows", "items_of"]

PAD, OOV = 0, 1


# ----------------------------------------------------------------------------- item content
def items_of(split, items: pd.DataFrame | None = None) -> pd.DataFrame:
    """Item metadata aligned with the split's item codes (row ``k`` = item code ``k``)."""
    items = items if items is not None else getattr(split, "items", None)
    if items is None:
        raise ValueError("this model needs item metadata (title and genre flags): the split has "
                         "none; use protocol_split() or pass items=")
    missing = [c for c in ["title", *GENRES] if c not in items.columns]
    if missing:
        raise ValueError(f"item metadata lacks columns {missing}")
    if len(items) != split.num_items:
        raise ValueError(f"item metadata has {len(items)} rows, the split {split.num_items} items")
    return items.reset_index(drop=True)


def title_token_ids(titles, max_len: int = 8, min_count: int = 2) -> tuple[np.ndarray, list[str]]:
    """Titles -> an int32 array (n, max_len) of word ids, left-aligned and 0-padded.

    Word ids start at 2; 0 is padding and 1 stands for words seen fewer than ``min_count``
    times. Returns the array and the vocabulary (``vocab[i]`` is the word with id ``i``).
    """
    toks = [tokenize_title(t) for t in titles]
    counts = Counter(w for ws in toks for w in ws)
    vocab = ["<pad>", "<oov>"] + sorted(w for w, c in counts.items() if c >= min_count)
    index = {w: i for i, w in enumerate(vocab)}
    out = np.zeros((len(toks), max_len), dtype=np.int32)
    for r, ws in enumerate(toks):
        ids = [index.get(w, OOV) for w in ws][:max_len]
        out[r, :len(ids)] = ids
    return out, vocab


def article_feature_vectors(items: pd.DataFrame, length: int = 100) -> tuple[np.ndarray, list[str]]:
    """The article's input: one flat vector of ``length`` features per item.

    The 19 genre flags, then flags for the ``length - 19`` most frequent title words.
    Their order is arbitrary: nothing makes neighbouring positions related, which is what
    a convolution assumes. Returns (n, length) float32 and the feature names.
    """
    if length <= len(GENRES):
        raise ValueError(f"length must exceed the {len(GENRES)} genre flags")
    toks = [set(tokenize_title(t)) for t in items["title"]]
    counts = Counter(w for ws in toks for w in ws)
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    words = words[:length - len(GENRES)]
    x = np.zeros((len(items), length), dtype=np.float32)
    x[:, :len(GENRES)] = items[GENRES].to_numpy(dtype=np.float32)
    for r, ws in enumerate(toks):
        for j, w in enumerate(words):
            if w in ws:
                x[r, len(GENRES) + j] = 1.0
    return x, [f"genre:{g}" for g in GENRES] + [f"word:{w}" for w in words]


class ArticleCNNNet(TrainStep, keras.Sequential):
    """The article's layers as a ``keras.Sequential``, trained by weighted binary
    cross-entropy (Keras' own ``compute_loss`` of the compiled loss, with sample weights)."""

    def train_step(self, data):
        x, y, w = data
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            # Keras scales a compiled loss by 1 / replicas inside a replica; undo that, since
            # ``apply_loss`` scales the gradients itself (with one device: times 1, unchanged)
            loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True), sample_weight=w,
                                     training=True) * replicas
        return self.apply_loss(tape, loss)


def build_article_cnn(length: int = 100) -> keras.Model:
    """The article's CNN, layer for layer: its input is one item's feature vector only."""
    return ArticleCNNNet([
        keras.Input(shape=(length, 1), name="item_features"),
        keras.layers.Conv1D(filters=64, kernel_size=3, activation="relu"),
        keras.layers.MaxPooling1D(pool_size=2),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ], name="article_cnn")


def _implicit_examples(split, negatives, candidates, rng):
    """Every training interaction (label 1) plus ``negatives`` unseen items each (label 0)."""
    seen = split.train_matrix().toarray().astype(bool)
    u_pos = split.train.user_id.to_numpy(np.int64)
    i_pos = split.train.item_id.to_numpy(np.int64)
    u_neg = np.repeat(u_pos, negatives)
    i_neg = sample_negatives(u_neg, seen, rng, candidates)
    u = np.concatenate([u_pos, u_neg])
    i = np.concatenate([i_pos, i_neg])
    y = np.concatenate([np.ones(len(u_pos)), np.zeros(len(u_neg))]).astype(np.float32)
    order = rng.permutation(len(u))
    return u[order], i[order], y[order]


def _train_items(split) -> np.ndarray:
    """Items with at least one training interaction: the catalogue the model may learn from."""
    return np.unique(split.train.item_id.to_numpy(np.int64))


class ItemOnlyCNN(EarlyStoppingRecommender):
    """The article's model as written, trained on implicit feedback.

    Each training interaction is a positive example of its item's feature vector and
    ``negatives`` unseen items drawn per interaction are negatives, with binary
    cross-entropy, as in the article. The score of an item does not depend on the user.

    Because the input is the item alone, the ~500,000 examples of an epoch are only
    ``num_items`` distinct inputs. Summing the cross-entropy per item gives exactly the same
    loss: ``pos_i * -log p_i + neg_i * -log(1 - p_i)``, i.e. a soft label
    ``pos_i / (pos_i + neg_i)`` with weight ``pos_i + neg_i``. So each epoch trains on one
    row per item, which is hundreds of times faster and changes nothing in the objective.
    """

    name = "cnn-item-only"
    test_input = "refit"          # a user is a learned vector: refit on train + valid for test

    @dataclass(frozen=True)
    class Config(TrainConfig):
        length: int = param(100, low=20, doc="features per item (19 genres + title words)")
        negatives: int = param(4, low=1, doc="sampled negatives per interaction")
        epochs: int = param(80, low=1)
        batch_size: int = param(32, low=1)
        lr: float = param(3e-3, low=0, low_open=True, doc="Adam's learning rate")
        eval_every: int = param(5, low=1)
        patience: int = param(4, low=1)
        # the article fixes the layers (64 filters of width 3, Dense 32): what is left to
        # tune is how it is trained
        space = {"negatives": [1, 2, 4, 8, 16], "lr": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
                 "batch_size": [2, 8, 32, 128, 512]}

    def __init__(self, config=None, seed: int = 0, items: pd.DataFrame | None = None, **kw):
        super().__init__(config, seed=seed, **kw)
        self.items = items

    def _prepare(self, split):
        self.features_, self.feature_names_ = self.item_features(items_of(split, self.items))
        self._split, self._cands = split, _train_items(split)
        self._rows = int((np.bincount(self._split.train.item_id, minlength=split.num_items) > 0).sum())

    @property
    def examples_per_epoch(self):
        return self._rows

    def _build(self, split):
        self.net_ = build_article_cnn(self.length)
        self.net_.compile(optimizer=keras.optimizers.Adam(self.lr), loss="binary_crossentropy")

    def item_features(self, items: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        """The model's input per item (override to try other features)."""
        return article_feature_vectors(items, self.length)

    def _run_epoch(self, epoch):
        _, i, y = _implicit_examples(self._split, self.negatives, self._cands, self._rng)
        n = self.num_items_
        pos = np.bincount(i[y == 1], minlength=n).astype(np.float32)
        tot = np.bincount(i, minlength=n).astype(np.float32)
        rows = np.flatnonzero(tot)[self._rng.permutation(int((tot > 0).sum()))]
        label, weight = pos[rows] / tot[rows], tot[rows] / tot[rows].mean()
        return self._fit_epoch((self.features_[rows][..., None], label, weight))

    def _refresh(self):
        x = self.features_[..., None]
        p = np.concatenate([self.net_(x[s:s + 4096], training=False).numpy()[:, 0]
                            for s in range(0, len(x), 4096)])
        self.item_scores_ = p.astype(np.float64)

    def score(self, users, which="valid"):
        if (twin := self._scorer(which)) is not None:
            return twin.score(users)
        users = self._check_users(users)
        return np.tile(self.item_scores_, (len(users), 1))


# ----------------------------------------------------------------------------- content CNN
class ContentCNNNet(TrainStep, keras.Model):
    """``logit(u, i) = p_u · (c_i + e_i) + w · f_i + b_i``.

    ``c_i`` is the content vector: title word embeddings -> Conv1D -> max-pool over the words
    (padding ignored) -> concatenated with the genre flags -> Dense -> Dense. ``e_i`` and ``b_i``
    are a per-item offset and bias, initialised at zero (ConvMF's epsilon); an item with no
    training data keeps them at zero and is scored from its content alone. ``f_i`` is the
    pooled content feature and ``w`` a learned weight: a content-based popularity prior.
    """

    def __init__(self, num_users, tokens, genres, dim=64, word_dim=32, filters=64, kernel=3,
                 l2=1e-5, item_offsets=True, dropout=0.0, loss="bce", **kw):
        super().__init__(**kw)
        if loss not in ("bce", "bpr"):
            raise ValueError(f"loss must be 'bce' or 'bpr', got {loss!r}")
        self.loss_name = loss
        self.tokens = tf.constant(tokens, dtype=tf.int32)
        self.genres = tf.constant(genres, dtype=tf.float32)
        num_items, vocab = len(tokens), int(tokens.max()) + 1
        reg = keras.regularizers.L2(l2) if l2 else None
        self.item_offsets = item_offsets
        self.user_emb = keras.layers.Embedding(
            num_users, dim, embeddings_initializer=keras.initializers.RandomNormal(stddev=0.05),
            embeddings_regularizer=reg, name="user_embedding")
        self.word_emb = keras.layers.Embedding(max(vocab, 2), word_dim, name="word_embedding")
        self.conv = keras.layers.Conv1D(filters, kernel, padding="same", activation="relu",
                                        name="title_conv")
        self.drop = keras.layers.Dropout(dropout, name="content_dropout")
        self.hidden = keras.layers.Dense(dim, activation="relu", name="content_hidden")
        self.project = keras.layers.Dense(dim, name="content_vector")
        self.prior = keras.layers.Dense(1, name="content_prior")
        self.offset = keras.layers.Embedding(num_items, dim, embeddings_initializer="zeros",
                                             embeddings_regularizer=reg, name="item_offset")
        self.bias = keras.layers.Embedding(num_items, 1, embeddings_initializer="zeros",
                                           name="item_bias")

    def item_features(self, items):
        """Pooled title features concatenated with genres, shape (batch, filters + 19)."""
        tok = tf.gather(self.tokens, items)
        mask = tf.cast(tok > 0, tf.float32)[..., None]
        h = self.conv(self.word_emb(tok)) * mask     # relu >= 0, so zeroed pads never win the max
        pooled = tf.reduce_max(h, axis=1)
        return tf.concat([pooled, tf.gather(self.genres, items)], axis=-1)

    def item_vectors(self, items, training=False):
        """(vector, bias) of each item: content plus the learned offset and bias."""
        f = self.item_features(items)
        v = self.project(self.hidden(self.drop(f, training=training)))
        b = self.prior(f)[:, 0]
        if self.item_offsets:
            v = v + self.offset(items)
            b = b + self.bias(items)[:, 0]
        return v, b

    def call(self, inputs, training=False):
        users, items = inputs["user"], inputs["item"]
        # encode the whole catalogue once per batch and look the batch's items up: with
        # large batches this is cheaper than encoding every (repeated) item of the batch
        v_all, b_all = self.item_vectors(tf.range(tf.shape(self.tokens)[0]), training=training)
        v, b = tf.gather(v_all, items), tf.gather(b_all, items)
        return tf.reduce_sum(self.user_emb(users) * v, axis=-1) + b

    def train_step(self, data):
        """Binary cross-entropy on (user, item, 0/1 label), or with ``loss="bpr"`` BPR on
        (user, rated item, sampled item) triples, ``-log sigmoid(x_ui - x_uj)``; plus the
        L2 penalties."""
        inputs, labels = data
        with tf.GradientTape() as tape:
            if self.loss_name == "bpr":
                users = inputs["user"]
                x_ui = self({"user": users, "item": inputs["item"]}, training=True)
                x_uj = self({"user": users, "item": inputs["neg"]}, training=True)
                loss = -tf.reduce_mean(tf.math.log_sigmoid(x_ui - x_uj))
            else:
                logits = self(inputs, training=True)
                loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, logits))
            if self.losses:
                loss = loss + tf.add_n(self.losses)
        return self.apply_loss(tape, loss)


class ContentCNN(EarlyStoppingRecommender):
    """The article's CNN made personal: a content CNN item tower and a user embedding.

    Trained with binary cross-entropy on every training interaction plus ``negatives``
    sampled unseen items, like the article's loss (or, with ``loss="bpr"``, BPR on each
    interaction paired with ``negatives`` sampled items); early stopping on validation NDCG@10.
    Negatives are drawn only from items that occur in training, so an item never seen in
    training gets no gradient at all: it is genuinely cold.
    """

    name = "cnn-content"
    test_input = "refit"          # a user is a learned vector: refit on train + valid for test

    @dataclass(frozen=True)
    class Config(TrainConfig):
        dim: int = param(256, low=1, doc="user and item vector size")
        word_dim: int = param(32, low=1, doc="title word embedding size")
        filters: int = param(64, low=1, doc="convolution filters over the title")
        kernel: int = param(3, low=1, doc="words per filter")
        max_len: int = param(8, low=1, doc="title words read")
        l2: float = param(1e-5, low=0)
        negatives: int = param(2, low=1)
        item_offsets: bool = param(True, doc="learn a per-item offset and bias")
        dropout: float = param(0.1, low=0, high=0.99, doc="dropout on the pooled content features")
        loss: str = param("bce", choices=("bce", "bpr"), doc="the article's BCE, or BPR")
        epochs: int = param(20, low=1)
        batch_size: int = param(4096, low=1)
        lr: float = param(0.003, low=0, low_open=True)
        # an order-blind model has no history length; its width is dim and the filter count
        space = {"dim": [16, 32, 64, 128, 256, 512, 1024], "filters": [16, 32, 64, 128, 256],
                 "dropout": [0.0, 0.1, 0.25, 0.5, 0.75], "l2": [0.0, 1e-6, 1e-5, 1e-4, 1e-3],
                 "negatives": [1, 2, 4, 8], "lr": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]}

    def __init__(self, config=None, seed: int = 0, items: pd.DataFrame | None = None, **kw):
        super().__init__(config, seed=seed, **kw)
        self.items = items

    @property
    def examples_per_epoch(self):
        rows = len(self._split.train)
        return rows * self.negatives if self.loss == "bpr" else rows * (1 + self.negatives)

    def _prepare(self, split):
        meta = items_of(split, self.items)
        self.tokens_, self.vocab_ = title_token_ids(meta["title"], self.max_len)
        self._genres = meta[GENRES].to_numpy(np.float32)
        self._split, self._cands = split, _train_items(split)

    def _build(self, split):
        self.net_ = ContentCNNNet(split.num_users, self.tokens_, self._genres, self.dim,
                                  self.word_dim, self.filters, self.kernel, self.l2,
                                  self.item_offsets, self.dropout, self.loss)
        self.net_.compile(optimizer=keras.optimizers.Adam(self.lr))
        self.net_({"user": np.zeros(1, np.int32), "item": np.zeros(1, np.int32)})

    def _run_epoch(self, epoch):
        if self.loss == "bpr":
            seen = self._split.train_matrix().toarray().astype(bool)
            u = np.repeat(self._split.train.user_id.to_numpy(np.int64), self.negatives)
            i = np.repeat(self._split.train.item_id.to_numpy(np.int64), self.negatives)
            j = sample_negatives(u, seen, self._rng, self._cands)
            order = self._rng.permutation(len(u))
            x = {"user": u[order].astype(np.int32), "item": i[order].astype(np.int32),
                 "neg": j[order].astype(np.int32)}
            return self._fit_epoch((x, np.ones(len(u), np.float32)))
        u, i, y = _implicit_examples(self._split, self.negatives, self._cands, self._rng)
        return self._fit_epoch(({"user": u.astype(np.int32), "item": i.astype(np.int32)},
                                y.astype(np.float32)))

    def _refresh(self):
        v, b = self.net_.item_vectors(tf.range(self.num_items_))
        self.v_, self.b_ = v.numpy(), b.numpy()
        self.p_ = self.net_.user_emb.embeddings.numpy()

    def score(self, users, which="valid"):
        if (twin := self._scorer(which)) is not None:
            return twin.score(users)
        users = self._check_users(users)
        return self.p_[users] @ self.v_.T + self.b_[None, :]


# ----------------------------------------------------------------------------- Caser
def next_item_windows(sequences, L: int, min_history: int = 1):
    """Training examples from every prefix of every history.

    For history ``s`` and each position ``t >= min_history`` the input is the ``L`` items
    before ``t`` (left-padded; codes shifted by one, 0 = padding) and the target is ``s[t]``.
    Returns ``(users, windows (n, L), targets)``.
    """
    users, wins, targets = [], [], []
    for u, s in enumerate(sequences):
        s = np.asarray(s, dtype=np.int64)
        for t in range(min_history, len(s)):
            users.append(u)
            wins.append(last_items(s[:t], L))
            targets.append(s[t])
    if not users:
        raise ValueError("no user has a training history of at least two items")
    return (np.asarray(users, np.int32), np.stack(wins).astype(np.int32),
            np.asarray(targets, np.int32))


class VerticalConv(keras.layers.Layer):
    """``n_v`` vertical filters of shape (L, 1) over an (L, d) embedding matrix.

    Filter ``k`` slides along the d columns; at column ``j`` it computes
    ``sum_l w[l, k] * E[l, j] + b_k``: a learned weighting of the L recent items, one column
    at a time. So the output is ``einsum('bld,lk->bdk')``: the same numbers as a Conv2D
    with kernel (L, 1), computed about twice as fast on a CPU. No activation, as in the paper.
    """

    def __init__(self, filters, **kw):
        super().__init__(**kw)
        self.filters = filters

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[1], self.filters), name="kernel",
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(self.filters,), name="bias", initializer="zeros")

    def call(self, e):
        return tf.einsum("bld,lk->bdk", e, self.kernel) + self.bias

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2], self.filters)


class CaserNet(CandidateTable, keras.Model):
    """Caser's network. Input ``(users (B,), windows (B, L))``, output logits over all items.

    * embedding matrix ``E`` of the last ``L`` items: (L, d);
    * vertical convolution: ``n_v`` filters of shape (L, 1), each a weighted sum of the rows
      of ``E`` (a learned weighting of the recent items) -> ``n_v * d`` values;
    * horizontal convolutions: for every height ``h = 1..L``, ``n_h`` filters of shape (h, d)
      slide down ``E`` and read ``h`` consecutive items at once (union-level patterns);
      max-pooling over positions keeps each filter's strongest match -> ``n_h * L`` values;
    * dropout, a dense layer to ``d`` values ``z``; then ``[z, P_u]`` (2d) is dotted with
      every item's output vector, plus an item bias.
    """

    def __init__(self, num_users, num_items, L=5, dim=50, n_v=4, n_h=16, dropout=0.5,
                 pooling="max", **kw):
        super().__init__(**kw)
        if pooling not in ("max", "mean"):
            raise ValueError("pooling must be 'max' or 'mean'")
        self.L, self.dim, self.num_items, self.pooling = L, dim, num_items, pooling
        init = keras.initializers.RandomNormal(stddev=1.0 / dim)
        self.item_emb = keras.layers.Embedding(num_items + 1, dim, embeddings_initializer=init,
                                               name="item_embedding")
        self.user_emb = keras.layers.Embedding(num_users, dim, embeddings_initializer=init,
                                               name="user_embedding")
        self.vertical = VerticalConv(n_v, name="vertical_conv") if n_v else None
        # a (h x d) filter spans whole rows of E, so it is a 1-D convolution over time
        # with d input channels: the same numbers as Conv2D, computed faster
        self.horizontal = [keras.layers.Conv1D(n_h, h, activation="relu",
                                               name=f"horizontal_conv_h{h}")
                           for h in range(1, L + 1)] if n_h else []
        self.drop = keras.layers.Dropout(dropout)
        self.fc = keras.layers.Dense(dim, activation="relu", name="fc")
        self._add_candidates(num_items, 2 * dim, "output_item", init)

    def features(self, users, windows, training=False):
        """The (B, 2d) vector ``[z, P_u]`` that is dotted with the items' output vectors."""
        mask = tf.cast(windows > 0, tf.float32)[..., None]
        e = self.item_emb(windows) * mask                        # (B, L, d); padding -> 0
        parts = []
        if self.vertical is not None:
            v = self.vertical(e)                                 # (B, d, n_v)
            parts.append(tf.reshape(v, (-1, v.shape[1] * v.shape[2])))
        for conv in self.horizontal:
            h = conv(e)                                          # (B, L-h+1, n_h)
            pool = tf.reduce_max if self.pooling == "max" else tf.reduce_mean
            parts.append(pool(h, axis=1))                        # pool over positions
        x = tf.concat(parts, axis=-1)
        z = self.fc(self.drop(x, training=training))
        return tf.concat([z, self.user_emb(users)], axis=-1)

    def call(self, inputs, training=False):
        users, windows = inputs
        return self.logits(self.features(users, windows, training=training))


class _CaserTrainer(TrainStep, CaserNet):
    """CaserNet with the two losses: 'ce' (softmax over all items) or 'bce' (the paper's
    binary cross-entropy on the target and ``negatives`` sampled items)."""

    def __init__(self, *a, loss="ce", l2=0.0, **kw):
        kw.setdefault("name", "caser")
        super().__init__(*a, **kw)
        self.loss_kind, self.l2 = loss, l2

    def train_step(self, data):
        users, windows, targets, negs = data
        with tf.GradientTape() as tape:
            if self.loss_kind == "ce":
                logits = self((users, windows), training=True)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                    labels=targets, logits=logits))
            else:   # only the target's and the negatives' logits are needed
                x = self.features(users, windows, training=True)
                items = tf.concat([targets[:, None], negs], axis=1)      # (B, 1 + n)
                logits = self.candidate_logits(x, items)
                loss = tf.reduce_mean(tf.nn.softplus(-logits[:, 0])) + tf.reduce_mean(
                    tf.reduce_sum(tf.nn.softplus(logits[:, 1:]), axis=-1))
            if self.l2:
                loss = loss + self.l2 * tf.add_n([tf.reduce_sum(w ** 2)
                                                  for w in self.trainable_weights])
        return self.apply_loss(tape, loss)


class Caser(SequenceRecommender):
    """Caser (Tang & Wang, WSDM 2018) trained on every prefix of each training history.

    ``loss='ce'`` uses a softmax over the whole catalogue (cheap at 1,682 items);
    ``loss='bce'`` is the paper's binary cross-entropy with ``negatives`` sampled items.
    Scoring uses the user's last ``L`` items: the training history for validation, and the
    training history plus the validation item for test (PROTOCOL.md).
    """

    name = "caser"

    @dataclass(frozen=True)
    class Config(TrainConfig):
        L: int = param(15, low=1, doc="recent items read")
        dim: int = param(100, low=1, doc="embedding size d")
        n_v: int = param(4, low=0, doc="vertical filters")
        n_h: int = param(16, low=0, doc="horizontal filters per height")
        dropout: float = param(0.0, low=0, high=0.99)
        pooling: str = param("max", choices=("max", "mean"))
        loss: str = param("ce", choices=("ce", "bce"), doc="full softmax or the paper's BCE")
        negatives: int = param(3, low=1, doc="sampled negatives for loss='bce'")
        l2: float = param(0.0, low=0)
        lr: float = param(0.001, low=0, low_open=True, doc="Adam's learning rate")
        space = {"L": [2, 3, 5, 9, 15, 25], "dim": [16, 25, 50, 100, 200],
                 "n_h": [4, 8, 16, 32, 64], "n_v": [1, 2, 4, 8, 16],
                 "dropout": [0.0, 0.1, 0.25, 0.5, 0.75], "lr": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]}

        def check(self):
            if self.n_v < 1 and self.n_h < 1:
                raise ValueError("Caser needs at least one kind of filter (n_v or n_h >= 1)")

    @property
    def examples_per_epoch(self):
        return len(self.targets_)

    def _prepare(self, split):
        self._prepare_histories(split)
        self.users_, self.windows_, self.targets_ = next_item_windows(self._seqs["valid"], self.L)
        self._seen = split.train_matrix().toarray().astype(bool)

    def _build(self, split):
        self.net_ = _CaserTrainer(split.num_users, split.num_items, self.L, self.dim, self.n_v,
                                  self.n_h, self.dropout, self.pooling, loss=self.loss,
                                  l2=self.l2)
        self.net_.compile(optimizer=keras.optimizers.Adam(self.lr))
        self.net_((self.users_[:1], self.windows_[:1]))

    def _run_epoch(self, epoch):
        n = len(self.targets_)
        order = self._rng.permutation(n)
        u, w, t = self.users_[order], self.windows_[order], self.targets_[order]
        if self.loss == "bce":
            negs = sample_negatives(u, self._seen, self._rng, size=self.negatives).astype(np.int32)
        else:
            negs = np.zeros((n, 1), np.int32)
        return self._fit_epoch((u, w, t, negs))

    def _all_logits(self, users, windows):
        return self.net_((users, windows), training=False).numpy()
