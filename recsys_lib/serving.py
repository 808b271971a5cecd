"""Serving a fitted model, timed the same way for every model (chapter 9).

``top10_function(model, which)`` returns ``(prepare, top10, how)``:

* ``prepare(users)`` turns user codes into the model's serving input: the arrays a request
  would carry (a history window, a user code, an interaction row);
* ``top10(*inputs)`` goes from that input to each user's 10 highest-scoring item codes, best
  first, shape ``(n, 10)`` (the user's own films are not dropped, on either path);
* ``how`` says which path it is.

A Keras-backed model's ``top10`` is **one** ``tf.function``: the network's forward pass from the
fitted weights, then ``tf.math.top_k``, compiled as a serving system would run it. The user side
is computed per request: CFGAN runs its generator on the user's condition vector, the sequence
models read the window, BPR and the content CNN multiply the user's vector with the item matrix
(the refit twin's, for test). What is per item and does not depend on the user is taken as
``fit`` left it, as a serving system would keep it: the content CNN's item vectors (its
convolution over titles and genres runs once, in ``fit``) and the article CNN's single ranking.
A model that scores with NumPy or SciPy (the baselines) has no graph to compile; its ``top10``
is its own ``score`` followed by the same selection, which is already native code.

``eager_top10(model, which)`` is the library's ordinary path (``model.score``, then the
selection), the one chapter 9 sets against the compiled one. What ``score`` does differs: the
sequence networks run eagerly, BPR and the content CNN multiply stored NumPy arrays, and CFGAN
and the article CNN look up scores computed in ``fit``.

``time_top10(prepare, top10, users, all_users, batch)`` times it: each of ``users`` alone
(milliseconds per user, after a warm-up that traces the graph) and ``all_users`` in batches
(users per second).

This module reads fitted models; it is not part of any cache key.
"""
from __future__ import annotations

import time

import numpy as np

from .metrics import top_k

__all__ = ["top10_function", "eager_top10", "time_top10"]

K = 10


def eager_top10(model, which: str = "test"):
    """``(prepare, top10, how)`` of the library's own path: ``score`` then the selection."""
    return (lambda users: (np.asarray(users),),
            lambda users: top_k(model.score(users, which), K), "score() as written")


def top10_function(model, which: str = "test"):
    """``(prepare, top10, how)`` for ``model`` (see the module docstring)."""
    import tensorflow as tf

    from .models.training import EarlyStoppingRecommender, SequenceRecommender

    if not isinstance(model, EarlyStoppingRecommender):
        prepare, top10, _ = eager_top10(model, which)
        return prepare, top10, "NumPy/SciPy score() (no graph to compile)"
    scorer = model._scorer(which) or model        # the refit twin scores test for "refit" models
    which_in = "valid" if scorer is not model else which   # the twin's input is its 'valid'

    def compiled(forward):
        fn = tf.function(lambda *x: tf.math.top_k(forward(*x), K).indices, reduce_retracing=True)
        return lambda *x: fn(*x).numpy()

    if isinstance(scorer, SequenceRecommender):
        net = scorer.net_
        forward = ((lambda u, w: net.all_logits(w)) if hasattr(net, "all_logits")
                   else (lambda u, w: net((u, w), training=False)))
        return (lambda users: (np.asarray(users, np.int32), scorer.user_windows(users, which_in)),
                compiled(forward), "compiled tf.function: the window through the network")
    if hasattr(scorer, "generator_"):                                     # CFGAN
        rows = scorer._R_test if which_in == "test" else scorer._R
        gen = scorer.generator_
        return (lambda users: (rows[np.asarray(users)],),
                compiled(lambda r: gen(r, training=False)),
                "compiled tf.function: the generator on the condition vector")
    if hasattr(scorer, "item_scores_"):                                   # the article CNN
        s = tf.constant(scorer.item_scores_, tf.float32)
        return (lambda users: (np.asarray(users, np.int32),),
                compiled(lambda u: tf.tile(s[None], [tf.shape(u)[0], 1])),
                "compiled tf.function: one ranking for every user")
    items = scorer.q_ if hasattr(scorer, "q_") else scorer.v_           # BPR, content CNN
    P, Q, b = (tf.constant(a, tf.float32) for a in (scorer.p_, items, scorer.b_))
    return (lambda users: (np.asarray(users, np.int32),),
            compiled(lambda u: tf.matmul(tf.gather(P, u), Q, transpose_b=True) + b[None]),
            "compiled tf.function: user vector times item matrix")


def time_top10(prepare, top10, users, all_users, batch: int = 256) -> dict:
    """``{"p50 ms/user", "p95 ms/user", "batch users/s"}``: ``users`` one at a time (after
    five warm-up calls), then ``all_users`` in batches of ``batch``."""
    users, all_users = np.asarray(users), np.asarray(all_users)
    for u in users[:5]:
        top10(*prepare(np.array([u])))
    top10(*prepare(all_users[:batch]))
    ms = []
    for u in users:
        t0 = time.perf_counter()
        top10(*prepare(np.array([u])))
        ms.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    for s in range(0, len(all_users), batch):
        top10(*prepare(all_users[s:s + batch]))
    return {"p50 ms/user": float(np.percentile(ms, 50)), "p95 ms/user": float(np.percentile(ms, 95)),
            "batch users/s": len(all_users) / (time.perf_counter() - t0)}
