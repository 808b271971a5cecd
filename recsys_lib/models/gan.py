"""Chapter 6: generative adversarial networks for recommendation.

* ``VectorGAN``: the smallest correct GAN. A generator maps noise to a vector, a discriminator
  tells real vectors from generated ones; the two are trained in alternation with explicit
  ``tf.GradientTape`` steps. The discriminator step updates only the discriminator (real = 1,
  generated = 0); the generator step updates only the generator, through the discriminator,
  towards D(generated) = 1. The chapter trains it on users' genre-preference vectors.
* ``CFGAN``: Chae et al., CIKM 2018. The generator reads a user's training vector (the
  *condition*) and emits a score for every item; the discriminator judges (vector, condition)
  pairs. Partial masking and zero-reconstruction (the paper's "ZP" variant) stop the generator
  from winning by emitting 1 everywhere. The top-K unseen items of the generated vector are
  the recommendations.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from ..config import TrainConfig, param
from .training import EarlyStoppingRecommender, replica_gradients

__all__ = ["genre_preferences", "mmd_rbf", "VectorGAN", "CFGAN", "zp_masks"]


# ----------------------------------------------------------------------------- data + measure
def genre_preferences(interactions, item_genres) -> np.ndarray:
    """One row per user: the share of their films that carry each genre.

    ``interactions`` has encoded ``user_id`` and ``item_id`` columns; ``item_genres`` is a
    (num_items, num_genres) 0/1 array. Row ``u`` is the mean of the genre rows of ``u``'s
    films, so every entry lies in [0, 1]. Users are the codes ``0..max(user_id)``; a user
    with no interactions raises ``ValueError``.
    """
    g = np.asarray(item_genres, dtype=np.float64)
    if g.ndim != 2:
        raise ValueError("item_genres must be a 2-D (num_items, num_genres) array")
    if len(interactions) == 0:
        raise ValueError("no interactions")
    for col in ("user_id", "item_id"):
        if col not in interactions:
            raise ValueError(f"interactions need a {col!r} column")
    u = interactions.user_id.to_numpy(np.int64)
    i = interactions.item_id.to_numpy(np.int64)
    if i.min() < 0 or i.max() >= len(g):
        raise ValueError(f"item codes must lie in 0..{len(g) - 1}")
    n = int(u.max()) + 1
    counts = np.bincount(u, minlength=n).astype(np.float64)
    if (counts == 0).any():
        raise ValueError(f"user {int(np.flatnonzero(counts == 0)[0])} has no interactions")
    sums = np.zeros((n, g.shape[1]))
    np.add.at(sums, u, g[i])
    return sums / counts[:, None]


def mmd_rbf(x, y, bandwidth: float | None = None) -> float:
    """Squared maximum mean discrepancy between samples ``x`` and ``y`` (rows), RBF kernel.

    Zero when the two samples come from the same distribution (up to sampling noise); the
    unbiased estimate can dip slightly below zero. ``bandwidth`` defaults to the median
    pairwise distance of the pooled sample.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError("x and y must be 2-D with the same number of columns")
    if len(x) < 2 or len(y) < 2:
        raise ValueError("need at least two rows in each sample")
    z = np.vstack([x, y])
    sq = np.sum(z ** 2, 1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * z @ z.T, 0.0)
    if bandwidth is None:
        bandwidth = float(np.sqrt(np.median(d2[np.triu_indices(len(z), 1)])))
    k = np.exp(-d2 / (2 * max(bandwidth, 1e-12) ** 2))
    n, m = len(x), len(y)
    kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1))
                 + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())


def _mlp(sizes, out: int, hidden_act: str, out_act, name: str, input_dim: int) -> keras.Model:
    layers = [keras.Input((input_dim,))]
    layers += [keras.layers.Dense(h, activation=hidden_act) for h in sizes]
    layers += [keras.layers.Dense(out, activation=out_act)]
    return keras.Sequential(layers, name=name)


_bce = keras.losses.BinaryCrossentropy(from_logits=True)


# ----------------------------------------------------------------------------- minimal GAN
class VectorGAN:
    """A GAN for fixed-length vectors with entries in [0, 1].

    ``generator``: noise (``noise_dim``) -> hidden (ReLU) -> ``dim`` (sigmoid).
    ``discriminator``: vector -> hidden (ReLU) -> one logit (P(real) = sigmoid(logit)).
    Each training step is one discriminator update (real labelled 1, generated labelled 0,
    only D's variables change) followed by one generator update (generated labelled 1 as seen
    by D, only G's variables change).

    GAN training oscillates rather than settling, so the class also keeps an exponential
    moving average of the generator's weights (``ema_generator``, decay ``ema``; Yazıcı et al.,
    ICLR 2019), which samples from a smoother, usually better, generator.
    """

    def __init__(self, dim: int, noise_dim: int = 8, hidden: int = 64, lr: float = 2e-4,
                 ema: float = 0.995, seed: int = 0):
        if dim < 1 or noise_dim < 1 or hidden < 1:
            raise ValueError("dim, noise_dim and hidden must be positive")
        if not 0 <= ema < 1:
            raise ValueError("ema must lie in [0, 1)")
        self.dim, self.noise_dim, self.hidden, self.lr, self.seed = dim, noise_dim, hidden, lr, seed
        self.ema = ema
        keras.utils.set_random_seed(seed)
        self.generator = _mlp([hidden, hidden], dim, "relu", "sigmoid", "generator", noise_dim)
        self.ema_generator = _mlp([hidden, hidden], dim, "relu", "sigmoid", "ema_generator", noise_dim)
        self.ema_generator.set_weights(self.generator.get_weights())
        self.discriminator = _mlp([hidden, hidden], 1, "relu", None, "discriminator", dim)
        self.g_opt = keras.optimizers.Adam(lr, beta_1=0.5)
        self.d_opt = keras.optimizers.Adam(lr, beta_1=0.5)
        self._noise = tf.random.Generator.from_seed(seed)

    def noise(self, n: int):
        return self._noise.normal((n, self.noise_dim))

    def sample(self, n: int, averaged: bool = False) -> np.ndarray:
        """``n`` generated vectors, shape ``(n, dim)`` (from the averaged generator if asked)."""
        g = self.ema_generator if averaged else self.generator
        return g(self.noise(n), training=False).numpy()

    @tf.function
    def d_step(self, real):
        """One discriminator update; returns (loss, mean D(real), mean D(generated))."""
        fake = self.generator(self.noise(tf.shape(real)[0]), training=False)
        with tf.GradientTape() as tape:
            logit_real = self.discriminator(real, training=True)
            logit_fake = self.discriminator(fake, training=True)
            loss = (_bce(tf.ones_like(logit_real), logit_real)
                    + _bce(tf.zeros_like(logit_fake), logit_fake))
        variables = self.discriminator.trainable_variables
        self.d_opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, tf.reduce_mean(tf.sigmoid(logit_real)), tf.reduce_mean(tf.sigmoid(logit_fake))

    @tf.function
    def g_step(self, batch_size):
        """One generator update through the (unchanged) discriminator; returns the loss."""
        with tf.GradientTape() as tape:
            fake = self.generator(self.noise(batch_size), training=True)
            logit = self.discriminator(fake, training=False)
            loss = _bce(tf.ones_like(logit), logit)        # the generator wants D to say "real"
        variables = self.generator.trainable_variables
        self.g_opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        for avg, w in zip(self.ema_generator.weights, self.generator.weights):
            avg.assign(self.ema * avg + (1 - self.ema) * w)
        return loss

    def fit(self, data, steps: int = 2000, batch_size: int = 64, log_every: int = 50,
            progress: bool = False) -> dict:
        """Alternate D and G steps on minibatches of ``data`` (rows in [0, 1]).

        Returns a history with the discriminator and generator losses and mean D outputs at
        every step, and every ``log_every`` steps the MMD between ``data`` and as many
        generated rows, from the generator (``mmd``) and its average (``mmd_avg``).
        """
        data = np.asarray(data, np.float32)
        if data.ndim != 2 or data.shape[1] != self.dim:
            raise ValueError(f"data must have shape (n, {self.dim})")
        if len(data) < 2:
            raise ValueError("need at least two rows of data")
        if np.isnan(data).any() or data.min() < 0 or data.max() > 1:
            raise ValueError("data must lie in [0, 1] without NaN")
        rng = np.random.default_rng(self.seed)
        hist = {k: [] for k in ("d_loss", "g_loss", "d_real", "d_fake")}
        hist.update(mmd_step=[], mmd=[], mmd_avg=[])
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=steps, desc="GAN steps", leave=False)
        for step in range(1, steps + 1):
            real = tf.constant(data[rng.integers(0, len(data), size=batch_size)])
            d_loss, d_real, d_fake = self.d_step(real)
            g_loss = self.g_step(tf.constant(batch_size))
            for k, v in zip(("d_loss", "g_loss", "d_real", "d_fake"), (d_loss, g_loss, d_real, d_fake)):
                hist[k].append(float(v))
            if step == 1 or step % log_every == 0:
                hist["mmd_step"].append(step)
                hist["mmd"].append(mmd_rbf(data, self.sample(len(data))))
                hist["mmd_avg"].append(mmd_rbf(data, self.sample(len(data), averaged=True)))
            if bar is not None:
                bar.update()
        if bar is not None:
            bar.close()
        return hist


# ----------------------------------------------------------------------------- CFGAN
def zp_masks(seen: np.ndarray, s_zr: float, s_pm: float, rng: np.random.Generator):
    """The two random masks CFGAN-ZP draws for a batch of users at every epoch.

    ``seen`` is the (batch, num_items) 0/1 training matrix. Each unseen item enters the
    zero-reconstruction mask with probability ``s_zr`` and, independently, the
    partial-masking mask with probability ``s_pm`` (the paper draws a fixed share; a
    Bernoulli draw has the same expectation). Seen items are in neither mask.
    """
    if not (0 <= s_zr <= 1 and 0 <= s_pm <= 1):
        raise ValueError("s_zr and s_pm must lie in [0, 1]")
    unseen = seen == 0
    zr = (rng.random(seen.shape) < s_zr) & unseen
    pm = (rng.random(seen.shape) < s_pm) & unseen
    return zr.astype(np.float32), pm.astype(np.float32)


class CFGAN(EarlyStoppingRecommender):
    """CFGAN with partial masking and zero-reconstruction ("CFGAN_ZP", Chae et al. 2018).

    For user ``u`` with training vector ``r_u`` (the condition ``c_u = r_u``):

    * generator ``G(c_u)`` -> ``r̂_u`` in [0, 1]^n (MLP, sigmoid layers as in the paper);
    * discriminator ``D(x, c_u)`` -> logit of "x is u's real vector" (MLP on [x; c_u]);
    * the discriminator sees ``r_u`` against ``r̂_u ⊙ (e_u + k_u)``: the generated vector
      on the user's items (``e_u = r_u``) plus a random share ``s_pm`` of unseen items
      (``k_u``, partial masking). Without ``k_u`` the generator could output 1 everywhere;
    * the generator also pays ``alpha · Σ_{j ∈ ZR_u} r̂_uj²`` on a random share ``s_zr`` of
      unseen items (zero-reconstruction).

    Each epoch is ``d_steps`` passes of discriminator updates over all users, then
    ``g_steps`` passes of generator updates (non-saturating loss: G maximises log D(fake)).
    The score of every item is ``G(c_u)``; for 'test' the condition stays the training
    vector, as for the other non-sequential models. Early stopping on validation NDCG@10.
    ``history_`` adds the per-epoch means ``d_loss``, ``g_loss`` and ``zr_loss``.
    """

    name = "cfgan"

    @dataclass(frozen=True)
    class Config(TrainConfig):
        hidden: int = param(256, low=1, doc="hidden units of G and D")
        alpha: float = param(1.0, low=0, doc="weight of the zero-reconstruction penalty")
        s: float = param(0.7, low=0, high=1, doc="share of unseen items in both masks")
        s_zr: float | None = param(None, low=0, high=1, none_ok=True, doc="default s")
        s_pm: float | None = param(None, low=0, high=1, none_ok=True, doc="default s")
        lr: float = param(1e-3, low=0, low_open=True)
        l2: float = param(1e-5, low=0)
        batch_size: int = param(64, low=1)
        d_steps: int = param(1, low=1, doc="discriminator passes per epoch")
        g_steps: int = param(1, low=1, doc="generator passes per epoch")
        epochs: int = param(300, low=1)
        eval_every: int = param(5, low=1)
        patience: int = param(5, low=1)
        # CFGAN has no history length; its width is the hidden layer
        space = {"hidden": [64, 128, 256, 512, 1024], "alpha": [0.03, 0.1, 0.3, 1.0, 3.0],
                 "s": [0.1, 0.3, 0.5, 0.7, 0.9], "l2": [0.0, 1e-6, 1e-5, 1e-4, 1e-3],
                 "lr": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]}

    # ``s`` sets both sampling shares (tuned together); either can be set on its own
    @property
    def s_zr(self) -> float:
        return self.s if self.config.s_zr is None else self.config.s_zr

    @property
    def s_pm(self) -> float:
        return self.s if self.config.s_pm is None else self.config.s_pm

    @property
    def examples_per_epoch(self):
        return len(self._active) * (self.d_steps + self.g_steps)

    # -- building
    def _prepare(self, split):
        self._R = split.train_matrix().toarray().astype(np.float32)
        self._R_test = split.input_matrix("test").toarray().astype(np.float32)
        self._active = np.flatnonzero(self._R.sum(1) > 0)
        if len(self._active) == 0:
            raise ValueError("no training interactions")
        self._log = {"d_loss": [], "g_loss": [], "zr_loss": []}

    def _build(self, split):
        n = split.num_items
        self.generator_ = _mlp([self.hidden], n, "sigmoid", "sigmoid", "generator", n)
        self.discriminator_ = _mlp([self.hidden], 1, "sigmoid", None, "discriminator", 2 * n)
        self._g_opt = keras.optimizers.Adam(self.lr)
        self._d_opt = keras.optimizers.Adam(self.lr)

    def networks(self):
        return {"generator": self.generator_, "discriminator": self.discriminator_}

    def _steps(self):
        gv, dv = self.generator_.trainable_variables, self.discriminator_.trainable_variables
        l2 = self.l2

        def penalty(variables):
            return l2 * tf.add_n([tf.reduce_sum(v ** 2) for v in variables if len(v.shape) == 2])

        def bce(labels, logits):
            return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, logits))

        # each step runs on every replica's slice of the batch (``strategy.run``); losses are
        # means over the slice, their gradients scaled by ``replica_gradients`` so that the
        # summed gradients are the gradient of the global mean (with one device, exactly the plain step)
        def d_step(batch):
            real, pm = batch
            fake = self.generator_(real, training=False) * (real + pm)
            with tf.GradientTape() as tape:
                lr_ = self.discriminator_(tf.concat([real, real], 1), training=True)
                lf_ = self.discriminator_(tf.concat([fake, real], 1), training=True)
                loss = bce(tf.ones_like(lr_), lr_) + bce(tf.zeros_like(lf_), lf_)
                total = loss + penalty(dv)
            self._d_opt.apply_gradients(zip(replica_gradients(tape, total, dv), dv))
            return {"d_loss": loss}

        def g_step(batch):
            real, pm, zr = batch
            with tf.GradientTape() as tape:
                out = self.generator_(real, training=True)
                logit = self.discriminator_(tf.concat([out * (real + pm), real], 1), training=False)
                adv = bce(tf.ones_like(logit), logit)
                zr_loss = tf.reduce_mean(tf.reduce_sum(tf.square(out) * zr, 1))
                total = adv + self.alpha * zr_loss + penalty(gv)
            self._g_opt.apply_gradients(zip(replica_gradients(tape, total, gv), gv))
            return {"g_loss": adv, "zr_loss": zr_loss}

        return {"d": d_step, "g": g_step}

    def _optimizers(self):
        return [(self._g_opt, self.generator_.trainable_variables),
                (self._d_opt, self.discriminator_.trainable_variables)]

    def _extra_state(self):
        return {"log": self._log}

    def _set_extra_state(self, state):
        self._log = state["log"]

    def fit(self, split, strategy=None, checkpoint_dir=None, **kwargs):
        super().fit(split, strategy=strategy, checkpoint_dir=checkpoint_dir, **kwargs)
        self.history_.update({k: list(v) for k, v in self._log.items()})
        return self

    def _pass(self, *arrays):
        """One pass over the active users in a fresh random order, as distributed batches."""
        order = self._rng.permutation(self._active)
        return self._batches(tuple(a[order] for a in arrays))

    def _run_epoch(self, epoch):
        zr, pm = zp_masks(self._R, self.s_zr, self.s_pm, self._rng)
        d = [self._fit_batches(self._pass(self._R, pm), "d") for _ in range(self.d_steps)]
        g = [self._fit_batches(self._pass(self._R, pm, zr), "g") for _ in range(self.g_steps)]
        self._log["d_loss"].append(float(np.mean([r["d_loss"] for r in d])))
        self._log["g_loss"].append(float(np.mean([r["g_loss"] for r in g])))
        self._log["zr_loss"].append(float(np.mean([r["zr_loss"] for r in g])))
        return self._log["g_loss"][-1]

    def _refresh(self):
        # validation scores condition on the training rows; test scores on the training plus
        # validation rows (the protocol: every model sees the validation item at test time),
        # computed on first use
        self.scores_ = {"valid": self._generate(self._R)}

    def _generate(self, rows) -> np.ndarray:
        return np.concatenate([self.generator_(rows[s:s + 1024], training=False).numpy()
                               for s in range(0, len(rows), 1024)])

    def generate(self, users) -> np.ndarray:
        """The generated vectors ``G(c_u)`` of ``users``, shape ``(len(users), num_items)``."""
        return self.score(users)

    def score(self, users, which="valid"):
        users = self._check_users(users)
        if self._check_which(which) not in self.scores_:
            self.scores_[which] = self._generate(self._R_test)
        return self.scores_[which][users]

