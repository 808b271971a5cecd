"""Self-attention next-item models: SASRec (Kang & McAuley 2018) and BERT4Rec (Sun et al. 2019).

Both are the same Transformer encoder over a user's last ``L`` items (``AttentionNet``):

* item embeddings (scaled by ``sqrt(dim)``, as in the SASRec code) plus learned positional
  embeddings, then dropout;
* ``blocks`` blocks of multi-head self-attention (Keras' ``MultiHeadAttention``) and a
  position-wise feed-forward network, each inside a residual connection with dropout;
* the output layer is tied to the item embeddings: the score of item ``i`` after position
  ``t`` is ``h_t . e_i``.

**Where the normalisation goes.** Each block normalises its input (``x + f(LN(x))``, "pre-LN")
and a final ``LayerNormalization`` follows the last block. The official SASRec code also
normalises before attention and feed-forward; pre-LN trains stably without a learning-rate
warm-up, while post-LN (``LN(x + f(x))``, the original Transformer and BERT) needs one at
larger depths (Xiong et al. 2020). We add the residual to the un-normalised input, the
standard pre-LN form (the SASRec code adds it to the normalised one).

**SASRec** is causal: position ``t`` attends to positions ``<= t`` only, so one window trains a
prediction at every position (``predict at every position``). Its loss is a setting:

* ``"bce"``: the paper's binary cross-entropy with ``negatives`` sampled negatives (1 in the
  paper) per position;
* ``"sampled"``: softmax cross-entropy over the positive and ``negatives`` sampled negatives;
* ``"ce"``: softmax cross-entropy over the whole catalogue (Klenitskiy & Vasilev 2023);
* ``"gbce"``: gSASRec's generalised BCE (Petrov & Macdonald 2023): the positive's term is
  raised to the power ``beta = alpha (t (1 - 1/alpha) + 1/alpha)``, with
  ``alpha = negatives / (num_items - 1)`` and calibration ``t``.

Negatives are drawn fresh every epoch at the trained positions: for BCE and sampled softmax
uniformly from the items the user has not interacted with in training (``sample_negatives``,
the book's one sampler), as in the SASRec code; for gBCE uniformly from every item but the
target, as gSASRec draws them (its ``alpha`` is the sampling rate of that pool).

Cutting each whole history into windows (rather than the papers' one window of each user's
last ``L`` items) keeps all of the history, and weighs users by how much they rated.

**BERT4Rec** is bidirectional (no causal mask) and is trained by the cloze task. It shares the
encoder above, so it differs from the paper's in three details: the SASRec scaling of the
embeddings, pre-LN blocks, and no output transform (dense, GELU, layer norm) or bias before
the tied output layer. Its feed-forward layers are 4x wide with GELU, as in the paper. each epoch a
share ``mask_prob`` of each window's items is replaced by a mask token and predicted with
softmax cross-entropy over the catalogue; a window in which no item was drawn has its last
item masked (the task it is scored on). It scores a user by appending the mask token to their
last ``L - 1`` items and reading the prediction at that position.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..config import TrainConfig, param
from .rnn import _ChunkedSequenceRecommender
from .training import TrainStep, last_items, sample_negatives

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

__all__ = ["AttentionNet", "SASRec", "SASRecBCE", "SASRecSampled", "SASRecGBCE", "BERT4Rec",
           "attention_mask", "cloze", "item_windows",
           "LOSSES"]

LOSSES = ("bce", "sampled", "ce", "gbce")


def attention_mask(windows, causal: bool = True):
    """Which key each query may attend to, shape (batch, L, L), for left-padded ``windows``.

    A key is allowed if it is a real item (code > 0) and, when ``causal``, not after the query.
    """
    real = tf.not_equal(windows, 0)                               # (B, L): keys
    B, L = tf.shape(windows)[0], tf.shape(windows)[1]
    mask = tf.broadcast_to(real[:, None, :], tf.stack([B, L, L]))
    if causal:
        lower = tf.cast(tf.linalg.band_part(tf.ones((L, L)), -1, 0), tf.bool)  # key <= query
        mask = tf.logical_and(mask, lower[None])
    return mask


class AttentionNet(TrainStep, keras.Model):
    """The encoder shared by SASRec (``causal=True``) and BERT4Rec (``causal=False``).

    Item codes are ``item + 1`` (0 pads the left of a window); BERT4Rec's mask token is
    ``num_items + 1``.
    """

    def __init__(self, num_items, L, dim=64, blocks=2, heads=1, dropout=0.2, causal=True,
                 positional=True, ff_mult=1, activation="relu", loss="ce", negatives=1,
                 gbce_t=0.75, **kw):
        kw.setdefault("name", "sasrec" if causal else "bert4rec")
        super().__init__(**kw)
        if dim % heads:
            raise ValueError(f"dim={dim} must be a multiple of heads={heads}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        self.num_items, self.L, self.dim = int(num_items), int(L), int(dim)
        self.causal, self.positional, self.loss_name = bool(causal), bool(positional), loss
        self.negatives, self.gbce_t = int(negatives), float(gbce_t)
        vocab = num_items + 1 + (0 if causal else 1)               # pad, items, [mask]
        self.item_emb = keras.layers.Embedding(vocab, dim, name="item_embedding")
        self.pos_emb = keras.layers.Embedding(L, dim, name="position_embedding") if positional else None
        self.drop = keras.layers.Dropout(dropout)
        self.blocks = []
        for b in range(blocks):
            self.blocks.append(dict(
                ln1=keras.layers.LayerNormalization(epsilon=1e-6, name=f"block{b}_ln_attention"),
                attn=keras.layers.MultiHeadAttention(heads, dim // heads, dropout=dropout,
                                                     name=f"block{b}_attention"),
                ln2=keras.layers.LayerNormalization(epsilon=1e-6, name=f"block{b}_ln_ffn"),
                ff1=keras.layers.Dense(dim * ff_mult, activation=activation, name=f"block{b}_ffn1"),
                ff2=keras.layers.Dense(dim, name=f"block{b}_ffn2"),
                drop=keras.layers.Dropout(dropout)))
        self.final_ln = keras.layers.LayerNormalization(epsilon=1e-6, name="final_ln")

    # -- the encoder
    def encode(self, windows, training=False, return_attention=False):
        """Hidden state at every position, (batch, L, dim); with ``return_attention`` also
        each block's attention weights, (batch, heads, L, L)."""
        windows = tf.convert_to_tensor(windows, tf.int32)
        real = tf.cast(tf.not_equal(windows, 0), tf.float32)[..., None]
        x = self.item_emb(windows) * math.sqrt(self.dim)
        if self.pos_emb is not None:
            x = x + self.pos_emb(tf.range(tf.shape(windows)[1]))[None]
        x = self.drop(x, training=training) * real
        mask = attention_mask(windows, self.causal)
        weights = []
        for blk in self.blocks:
            h = blk["ln1"](x)
            a, w = blk["attn"](h, h, attention_mask=mask, training=training,
                               return_attention_scores=True)
            x = x + blk["drop"](a, training=training)
            h = blk["ln2"](x)
            h = blk["ff2"](blk["drop"](blk["ff1"](h), training=training))
            x = (x + blk["drop"](h, training=training)) * real
            weights.append(w)
        h = self.final_ln(x)
        return (h, weights) if return_attention else h

    @property
    def item_matrix(self):
        """The output item vectors, tied to the input embeddings: rows 1..num_items."""
        return self.item_emb.embeddings[1:self.num_items + 1]

    def call(self, windows, training=False):
        return self.all_logits(windows, training)

    def all_logits(self, windows, training=False):
        """Scores of every item after the last position of each window, (batch, num_items)."""
        return tf.matmul(self.encode(windows, training)[:, -1], self.item_matrix, transpose_b=True)

    # -- training
    def position_loss(self, h, targets, negs):
        """Loss per trained position: states ``h`` (M, dim), ``targets`` (M,), negatives (M, N)."""
        if self.loss_name == "ce":
            logits = tf.matmul(h, self.item_matrix, transpose_b=True)
            return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
        cand = tf.concat([targets[:, None], negs], axis=1)                  # (M, 1 + N)
        logits = tf.einsum("md,mnd->mn", h, tf.gather(self.item_matrix, cand))
        pos, neg = logits[:, 0], logits[:, 1:]
        if self.loss_name == "sampled":
            return tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.zeros_like(targets), logits=logits)
        beta = 1.0
        if self.loss_name == "gbce":
            alpha = self.negatives / (self.num_items - 1)
            beta = alpha * (self.gbce_t * (1 - 1 / alpha) + 1 / alpha)
        # -log sigmoid(s) = softplus(-s); -log(1 - sigmoid(s)) = softplus(s)
        return beta * tf.nn.softplus(-pos) + tf.reduce_sum(tf.nn.softplus(neg), axis=1)

    def train_step(self, data):
        windows, targets, weights, negs = data
        keep = weights > 0
        with tf.GradientTape() as tape:
            h = tf.boolean_mask(self.encode(windows, training=True), keep)        # (M, dim)
            loss = tf.reduce_mean(self.position_loss(
                h, tf.boolean_mask(targets, keep), tf.boolean_mask(negs, keep)))
        return self.apply_loss(tape, loss)


def item_windows(sequences, L: int, stride: int):
    """Histories cut into windows of ``L`` items (``item + 1`` codes, left-padded with 0),
    ending at the last item and every ``stride`` items before it, the earliest window holding
    the first ``L`` items (as BERT4Rec's code anchors one at the start), with the user of each."""
    if not 1 <= stride <= L:
        raise ValueError(f"stride must be in 1..L, got {stride}")
    out, users = [], []
    for u, s in enumerate(sequences):
        s = np.asarray(s, dtype=np.int64) + 1
        for e in range(len(s), 0, -stride):
            lo = max(0, e - L)
            if lo == 0:                     # the earliest window: the first L items, not a stub
                e = min(len(s), L)
            w = np.zeros(L, np.int32)
            w[L - (e - lo):] = s[lo:e]
            out.append(w), users.append(u)
            if lo == 0:
                break
    if not out:
        raise ValueError("no user has a training history")
    return np.stack(out), np.asarray(users, np.int64)


def cloze(windows: np.ndarray, mask_prob: float, mask_token: int, rng: np.random.Generator):
    """BERT4Rec's training task for one epoch: ``(inputs, targets, weights)``.

    Each real item is masked with probability ``mask_prob``; a window with no masked item has
    its last item masked. ``targets`` are the hidden items (0-based), ``weights`` 1 where masked.
    """
    real = windows > 0
    masked = (rng.random(windows.shape) < mask_prob) & real
    none = ~masked.any(axis=1)
    masked[none, -1] = real[none, -1]
    inputs = np.where(masked, mask_token, windows).astype(np.int32)
    targets = np.maximum(windows.astype(np.int32) - 1, 0)
    return inputs, targets, masked.astype(np.float32)


class SASRec(_ChunkedSequenceRecommender):
    """SASRec: causal self-attention over the last ``L`` items, a prediction at every position.

    Training windows are ``sequence_chunks`` of the histories before validation, as for
    GRU4Rec, but by default they do not overlap (``stride = L``): each item is a target once,
    predicted from the items before it in its window. The paper trains every position of each
    user's last ``L`` items only; cutting the whole history into windows uses the same
    computation per window and loses no history.
    Early stopping on validation NDCG@10; the validation item enters the history at test time.
    """

    name = "sasrec"

    @dataclass(frozen=True)
    class Config(TrainConfig):
        L: int = param(5, low=2, doc="window length (items read)")
        dim: int = param(128, low=1, doc="embedding and hidden size")
        blocks: int = param(1, low=1, doc="self-attention blocks")
        heads: int = param(1, low=1, doc="attention heads (dim must be a multiple)")
        dropout: float = param(0.2, low=0, high=0.99)
        positional: bool = param(True, doc="learned positional embeddings")
        loss: str = param("ce", choices=LOSSES, doc="bce, sampled softmax, full softmax or gBCE")
        negatives: int = param(1, low=1, doc="sampled negatives per position (not for 'ce')")
        gbce_t: float = param(0.75, low=0, high=1, doc="gBCE calibration t")
        stride: int | None = param(None, low=1, none_ok=True,
                                   doc="default L: windows do not overlap")
        epochs: int = param(200, low=1)
        batch_size: int = param(128, low=1)
        lr: float = param(0.001, low=0, low_open=True)
        patience: int = param(5, low=1)
        # negatives is searched only by the sampled losses (the registry fixes it elsewhere).
        # The space is bounded above by cost: one seed should train within ``seed_seconds``
        # (the chapter's target); an optimum at the dear end of a setting in ``dearer`` is
        # an open edge unless one step further would pass that (``tuning.open_edges``).
        space = {"L": [2, 3, 5, 10, 20, 50, 100, 200], "dim": [8, 16, 32, 64, 128],
                 "blocks": [1, 2, 3], "dropout": [0.0, 0.1, 0.2, 0.4, 0.6, 0.8],
                 "lr": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
                 "negatives": [1, 4, 16, 64, 256]}
        seed_seconds = 120
        dearer = ("L", "dim", "blocks", "negatives")

        def check(self):
            if self.dim % self.heads:
                raise ValueError(f"dim={self.dim} must be a multiple of heads={self.heads}")
            if self.stride is not None and self.stride > self.L:
                raise ValueError(f"stride must be in 1..L={self.L}, got {self.stride}")

    causal = True

    @property
    def stride(self) -> int:
        """Items between window ends (default ``L``: every position of a window is trained
        once, as in the paper, which trains every position of each user's last window)."""
        return self.L if self.config.stride is None else self.config.stride

    def _prepare(self, split):
        super()._prepare(split)
        self._seen = split.train_matrix().toarray().astype(bool)

    def _net(self, num_items):
        return AttentionNet(num_items, self.L, self.dim, self.blocks, self.heads, self.dropout,
                            causal=self.causal, positional=self.positional, loss=self.loss,
                            negatives=self.negatives, gbce_t=self.gbce_t)

    def _build(self, split):
        self.net_ = self._net(split.num_items)
        self.net_.compile(optimizer=keras.optimizers.Adam(self.lr))
        self.net_(self.windows_[:1])

    def _negatives(self, users, targets, weights, n):
        """``(len(users), L, n)`` negatives, drawn only at trained positions (zeros elsewhere;
        one dummy column for 'ce'). For 'bce' and 'sampled' they are items the user has not
        interacted with in training, as in the SASRec code; for 'gbce' any item but the
        target, as gSASRec draws them, since its ``alpha`` assumes that pool."""
        if self.loss == "ce":
            return np.zeros((len(users), self.L, 1), np.int32)
        out = np.zeros((len(users) * self.L, n), np.int32)
        at = np.flatnonzero(weights.ravel() > 0)
        if self.loss == "gbce":
            draw = self._rng.integers(0, self.num_items_ - 1, size=(len(at), n))
            draw += draw >= targets.ravel()[at][:, None]          # skip the target itself
        else:
            draw = sample_negatives(users[at // self.L], self._seen, self._rng, size=n)
        out[at] = draw
        return out.reshape(len(users), self.L, n)

    def _run_epoch(self, epoch):
        order = self._rng.permutation(len(self.windows_))
        negs = self._negatives(self.chunk_users_[order], self.targets_[order],
                               self.weights_[order], self.negatives)
        return self._fit_epoch((self.windows_[order], self.targets_[order],
                                self.weights_[order], negs))

    def attention(self, users, which="valid"):
        """Each block's attention weights for ``users``' scoring windows, and the windows."""
        w = self.user_windows(np.asarray(users), which)
        _, att = self.net_.encode(w, return_attention=True)
        return [a.numpy() for a in att], w


class SASRecBCE(SASRec):
    """SASRec with the paper's loss: binary cross-entropy, one sampled negative per position.

    Each loss is its own class only so that each has its own defaults: its search's optimum
    (the tuner's key blanks defaults, so setting them keeps the search current)."""

    name = "sasrec-bce"

    @dataclass(frozen=True)
    class Config(SASRec.Config):
        L: int = param(5, low=2, doc="window length (items read)")
        dim: int = param(128, low=1, doc="embedding and hidden size")
        blocks: int = param(1, low=1, doc="self-attention blocks")
        dropout: float = param(0.2, low=0, high=0.99)
        lr: float = param(0.001, low=0, low_open=True)
        loss: str = param("bce", choices=LOSSES, doc="bce, sampled softmax, full softmax or gBCE")


class SASRecSampled(SASRec):
    """SASRec with softmax cross-entropy over the positive and ``negatives`` sampled ones."""

    name = "sasrec-sampled"

    @dataclass(frozen=True)
    class Config(SASRec.Config):
        L: int = param(20, low=2, doc="window length (items read)")
        dim: int = param(64, low=1, doc="embedding and hidden size")
        blocks: int = param(2, low=1, doc="self-attention blocks")
        dropout: float = param(0.4, low=0, high=0.99)
        lr: float = param(1e-3, low=0, low_open=True)
        loss: str = param("sampled", choices=LOSSES,
                          doc="bce, sampled softmax, full softmax or gBCE")
        negatives: int = param(64, low=1, doc="sampled negatives per position")


class SASRecGBCE(SASRec):
    """gSASRec: SASRec with generalised BCE over ``negatives`` sampled negatives."""

    name = "sasrec-gbce"

    @dataclass(frozen=True)
    class Config(SASRec.Config):
        L: int = param(10, low=2, doc="window length (items read)")
        dim: int = param(64, low=1, doc="embedding and hidden size")
        blocks: int = param(1, low=1, doc="self-attention blocks")
        dropout: float = param(0.1, low=0, high=0.99)
        lr: float = param(0.0003, low=0, low_open=True)
        loss: str = param("gbce", choices=LOSSES, doc="bce, sampled softmax, full softmax or gBCE")
        negatives: int = param(1, low=1, doc="sampled negatives per position")


class BERT4Rec(SASRec):
    """BERT4Rec: a bidirectional encoder trained by the cloze task (module docstring)."""

    name = "bert4rec"
    causal = False

    @dataclass(frozen=True)
    class Config(SASRec.Config):
        L: int = param(10, low=2, doc="window length (items read)")
        dim: int = param(64, low=1, doc="embedding and hidden size")
        blocks: int = param(1, low=1, doc="self-attention blocks")
        dropout: float = param(0.2, low=0, high=0.99)
        lr: float = param(0.001, low=0, low_open=True)
        mask_prob: float = param(0.4, low=0, low_open=True, high=1, doc="share of items masked")
        loss: str = param("ce", choices=("ce",), doc="softmax over the catalogue (the cloze task)")
        space = {"L": [2, 3, 5, 10, 20, 50, 100, 200], "dim": [8, 16, 32, 64, 128],
                 "blocks": [1, 2, 3], "dropout": [0.0, 0.1, 0.2, 0.4, 0.6, 0.8],
                 "mask_prob": [0.1, 0.2, 0.4, 0.6, 0.8],
                 "lr": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]}

    def _prepare(self, split):
        self._prepare_histories(split)
        self.items_, self.chunk_users_ = item_windows(self._seqs["valid"], self.L, self.stride)
        self.windows_ = self.items_

    @property
    def trained_targets(self) -> int:
        raise AttributeError("BERT4Rec trains a random share of positions each epoch")

    def _net(self, num_items):
        return AttentionNet(num_items, self.L, self.dim, self.blocks, self.heads, self.dropout,
                            causal=False, positional=self.positional, ff_mult=4,
                            activation="gelu", loss="ce")

    def _run_epoch(self, epoch):
        order = self._rng.permutation(len(self.items_))
        inputs, targets, weights = cloze(self.items_[order], self.mask_prob,
                                         self.num_items_ + 1, self._rng)
        negs = np.zeros((len(order), self.L, 1), np.int32)
        return self._fit_epoch((inputs, targets, weights, negs))

    def user_windows(self, users, which="valid"):
        """The last ``L - 1`` items before ``which``, then the mask token."""
        seqs = self._seqs[self._check_which(which)]
        w = np.stack([last_items(seqs[u], self.L - 1) for u in users]).astype(np.int32)
        return np.concatenate([w, np.full((len(w), 1), self.num_items_ + 1, np.int32)], axis=1)
