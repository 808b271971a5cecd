"""A tiny neural recommender (in the spirit of NCF, He et al. 2017) for chapter 2.

It shows deep learning's two roles: predicting one user's preference for one item
(``predict_proba``), and generating a personalised top-K list (``score`` + ranking).
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from ..config import Config, param
from .base import Recommender

__all__ = ["build_tiny_ncf", "TinyNCF"]


def build_tiny_ncf(num_users: int, num_items: int, dim: int = 16, hidden: int = 32) -> keras.Model:
    """Inputs ``user`` and ``item`` of shape (batch,); output P(interaction) of shape (batch, 1)."""
    user = keras.Input(shape=(), dtype="int32", name="user")
    item = keras.Input(shape=(), dtype="int32", name="item")
    u = keras.layers.Embedding(num_users, dim, name="user_embedding")(user)
    i = keras.layers.Embedding(num_items, dim, name="item_embedding")(item)
    h = keras.layers.Concatenate()([u, i])
    h = keras.layers.Dense(hidden, activation="relu")(h)
    out = keras.layers.Dense(1, activation="sigmoid", name="p_interact")(h)
    return keras.Model([user, item], out, name="tiny_ncf")


class TinyNCF(Recommender):
    """Embeddings -> MLP -> sigmoid, trained with binary cross-entropy on each training
    interaction (label 1) and ``negatives`` uniformly sampled unseen items (label 0) per epoch."""

    name = "tiny-ncf"
    uses_tensorflow = True

    @dataclass(frozen=True)
    class Config(Config):
        dim: int = param(16, low=1)
        hidden: int = param(32, low=1)
        epochs: int = param(5, low=1)
        negatives: int = param(4, low=1)
        batch_size: int = param(1024, low=1)
        lr: float = param(0.003, low=0, low_open=True)

    def fit(self, split, **kwargs):
        from .training import sample_negatives

        keras.utils.set_random_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self.num_users_, self.num_items_ = split.num_users, split.num_items
        self.model_ = build_tiny_ncf(split.num_users, split.num_items, self.dim, self.hidden)
        self.model_.compile(optimizer=keras.optimizers.Adam(self.lr), loss="binary_crossentropy")
        seen = split.train_matrix().toarray().astype(bool)
        u_pos = split.train.user_id.to_numpy(np.int32)
        i_pos = split.train.item_id.to_numpy(np.int32)
        self.history_ = []
        for _ in range(self.epochs):
            u_neg = np.repeat(u_pos, self.negatives)
            i_neg = sample_negatives(u_neg, seen, rng).astype(np.int32)
            u = np.concatenate([u_pos, u_neg])
            i = np.concatenate([i_pos, i_neg])
            y = np.concatenate([np.ones(len(u_pos)), np.zeros(len(u_neg))]).astype("float32")
            order = rng.permutation(len(u))
            h = self.model_.fit({"user": u[order], "item": i[order]}, y[order],
                                batch_size=self.batch_size, epochs=1, verbose=0, shuffle=False)
            self.history_.append(float(h.history["loss"][-1]))
        return self

    def predict_proba(self, users, items) -> np.ndarray:
        """Role 1: P(user interacts with item) for aligned arrays of users and items."""
        users, items = np.asarray(users, np.int32), np.asarray(items, np.int32)
        return self.model_.predict({"user": users, "item": items}, verbose=0,
                                   batch_size=8192)[:, 0]

    def score(self, users, which="valid"):
        """Role 2 (with ranking): P(interaction) for every item, shape (len(users), num_items)."""
        users = self._check_users(users)
        u = np.repeat(users, self.num_items_)
        i = np.tile(np.arange(self.num_items_), len(users))
        return self.predict_proba(u, i).reshape(len(users), self.num_items_)

    @property
    def num_params(self):
        return int(self.model_.count_params())
