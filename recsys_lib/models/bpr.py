"""BPR matrix factorisation (Rendle et al., UAI 2009) in Keras 3."""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from ..config import TrainConfig, param
from .training import EarlyStoppingRecommender, TrainStep, sample_negatives

__all__ = ["BPR", "BPRNet"]


class BPRNet(TrainStep, keras.Model):
    """``score(u, i) = p_u · q_i + b_i``; trained on (user, positive, negative) triples.

    Inputs of ``call``: a tuple ``(users, items)`` of shape ``(batch,)`` each; output ``(batch,)``.
    """

    def __init__(self, num_users: int, num_items: int, dim: int = 64, l2: float = 1e-4, **kw):
        super().__init__(**kw)
        init = keras.initializers.RandomNormal(stddev=0.1)
        self.l2 = l2
        self.user_emb = keras.layers.Embedding(num_users, dim, embeddings_initializer=init)
        self.item_emb = keras.layers.Embedding(num_items, dim, embeddings_initializer=init)
        self.item_bias = keras.layers.Embedding(num_items, 1, embeddings_initializer="zeros")

    def call(self, inputs):
        users, items = inputs
        p, q = self.user_emb(users), self.item_emb(items)
        return tf.reduce_sum(p * q, axis=-1) + tf.squeeze(self.item_bias(items), -1)

    def train_step(self, data):
        users, pos, neg = data[0] if len(data) == 1 else data
        with tf.GradientTape() as tape:
            x_ui = self((users, pos), training=True)
            x_uj = self((users, neg), training=True)
            bpr = -tf.reduce_mean(tf.math.log_sigmoid(x_ui - x_uj))
            reg = self.l2 * tf.reduce_mean(
                tf.reduce_sum(self.user_emb(users) ** 2, -1)
                + tf.reduce_sum(self.item_emb(pos) ** 2, -1)
                + tf.reduce_sum(self.item_emb(neg) ** 2, -1))
            loss = bpr + reg
        return self.apply_loss(tape, loss)


class BPR(EarlyStoppingRecommender):
    """BPR-MF with uniform negative sampling and early stopping on validation NDCG@10.

    Each epoch draws a fresh negative for every training interaction. Every
    ``eval_every`` epochs the validation NDCG@10 is measured; training stops after
    ``patience`` checks without improvement and the best weights are restored.
    """

    name = "bpr"
    test_input = "refit"          # a user is a learned vector: refit on train + valid for test

    @dataclass(frozen=True)
    class Config(TrainConfig):
        dim: int = param(32, low=1, doc="embedding size")
        l2: float = param(0.0, low=0, doc="L2 penalty on the embeddings of a triple")
        epochs: int = param(60, low=1)
        eval_every: int = param(2, low=1)
        patience: int = param(4, low=1)
        space = {"dim": [16, 32, 64, 128, 256, 512], "l2": [0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
                 "lr": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]}

    def _prepare(self, split):
        self._seen = split.train_matrix().toarray().astype(bool)
        self._users = split.train.user_id.to_numpy(np.int64)
        self._pos = split.train.item_id.to_numpy(np.int64)

    def _build(self, split):
        self.net_ = BPRNet(split.num_users, split.num_items, self.dim, self.l2)
        self.net_.compile(optimizer=keras.optimizers.Adam(self.lr))
        zeros = np.zeros(1, dtype="int64")
        self.net_((zeros, zeros))

    def _run_epoch(self, epoch):
        order = self._rng.permutation(len(self._users))
        u, i = self._users[order], self._pos[order]
        j = sample_negatives(u, self._seen, self._rng)
        return self._fit_epoch((u, i, j))

    @property
    def examples_per_epoch(self):
        return len(self._users)

    def _refresh(self):
        self.p_ = self.net_.user_emb.embeddings.numpy()
        self.q_ = self.net_.item_emb.embeddings.numpy()
        self.b_ = self.net_.item_bias.embeddings.numpy()[:, 0]

    def score(self, users, which="valid"):
        if (twin := self._scorer(which)) is not None:
            return twin.score(users)
        users = self._check_users(users)
        return self.p_[users] @ self.q_.T + self.b_[None, :]

    @property
    def num_params(self):
        return int(self.p_.size + self.q_.size + self.b_.size)
