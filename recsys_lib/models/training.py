"""The training loop the deep chapters share: epochs, early stopping on validation NDCG@10,
a ``tf.distribute`` strategy, and checkpoints that let an interrupted run resume.

The loop is TensorFlow's "custom training with tf.distribute" written once for every model
(Keras 3's own ``fit`` does not run under ``MultiWorkerMirroredStrategy``, keras-team/keras
#20585): each step is ``strategy.run(train_step)`` inside a ``tf.function`` that is built
afresh by every ``fit``; the step's losses are averaged over the replicas and then over the
epoch's steps.

Only the validation item is used to decide when to stop (PROTOCOL.md); the test item is
never looked at during training.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

import numpy as np

from ..config import TrainConfig
from ..datakey import data_key
from ..io import atomic_file
from .base import Recommender

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

__all__ = ["EarlyStoppingRecommender", "TrainStep", "sample_negatives", "replica_gradients",
           "distributed_batches", "whole_global_batches", "last_items", "CandidateTable",
           "SequenceRecommender", "checkpoint_file", "checkpoint_epoch"]


class TrainStep:
    """Mix-in for a ``keras.Model`` with a custom ``train_step``.

    ``train_step`` computes a loss under a ``GradientTape`` and returns
    ``self.apply_loss(tape, loss)``: one optimizer step, and ``{"loss": loss}``, which the
    shared loop averages over replicas and steps.
    """

    def apply_loss(self, tape, loss, variables=None):
        """One optimizer step on ``loss`` (a mean over this replica's batch)."""
        variables = self.trainable_variables if variables is None else variables
        self.optimizer.apply_gradients(zip(replica_gradients(tape, loss, variables), variables))
        return {"loss": loss}


def replica_gradients(tape, loss, variables):
    """Gradients of one replica's share of the global mean loss.

    Under ``tf.distribute`` each replica computes ``loss`` (a mean) on its slice of the
    global batch, and Keras' optimizer *sums* the replicas' gradients. Dividing each
    replica's gradients by the number of replicas makes that sum the gradient of the global
    mean, so one step under a strategy is the same step as on one device. Without a strategy
    these are the plain gradients.
    """
    grads = tape.gradient(loss, variables)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas > 1:
        grads = [None if g is None else
                 tf.IndexedSlices(g.values / replicas, g.indices, g.dense_shape)
                 if isinstance(g, tf.IndexedSlices) else g / replicas for g in grads]
    return grads


def distributed_batches(arrays, batch_size: int, strategy=None):
    """A ``tf.data`` pipeline over ``arrays`` (already in epoch order), ready for ``fit``.

    Without a strategy (or with one replica) it is simply ``from_tensor_slices().batch()``.
    With ``R`` replicas, ``batch_size`` stays the *global* batch, so the optimisation is the
    one of single-device training: the epoch is cut to a whole number of global batches (the
    few dropped examples are different ones every epoch, as the order is reshuffled), each
    input pipeline reads its own shard (``input_context.input_pipeline_id``; one per worker)
    and batches it per replica (``get_per_replica_batch_size``). Every replica then runs the
    same number of steps, which collective all-reduce needs.
    """
    strategy = strategy or tf.distribute.get_strategy()
    flat = tf.nest.flatten(arrays)
    n = len(flat[0])
    if any(len(a) != n for a in flat):
        raise ValueError("all arrays must have the same length")
    if strategy.num_replicas_in_sync == 1:
        return tf.data.Dataset.from_tensor_slices(arrays).batch(batch_size)
    keep = whole_global_batches(n, batch_size, strategy)
    arrays = tf.nest.map_structure(lambda a: a[:keep], arrays)

    def per_pipeline(ctx: tf.distribute.InputContext):
        ds = tf.data.Dataset.from_tensor_slices(arrays)
        ds = ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        return ds.batch(ctx.get_per_replica_batch_size(batch_size), drop_remainder=True)

    return strategy.distribute_datasets_from_function(per_pipeline)


def whole_global_batches(n: int, batch_size: int, strategy) -> int:
    """How many of ``n`` examples an epoch under ``strategy`` uses: whole global batches only,
    so that every replica runs the same number of steps (which all-reduce needs)."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(f"batch_size {batch_size} is not divisible by the {replicas} replicas")
    keep = (n // batch_size) * batch_size
    if keep == 0:
        raise ValueError(f"fewer examples ({n}) than one global batch ({batch_size})")
    return keep


def sample_negatives(users: np.ndarray, seen, rng: np.random.Generator,
                     candidates: np.ndarray | None = None, size: int | None = None) -> np.ndarray:
    """Uniformly drawn items from ``candidates`` (default: every item) that ``users[row]`` has
    not interacted with: the one negative sampler of the book.

    ``seen`` is a (num_users, num_items) boolean array. With ``size`` the result has
    shape ``(len(users), size)``, else ``(len(users),)``. Rejected draws (seen items) are
    drawn again until none is left.
    """
    if candidates is None:
        candidates = np.arange(seen.shape[1])
    candidates = np.asarray(candidates, dtype=np.int64)
    if candidates.size == 0:
        raise ValueError("no candidate items to sample negatives from")
    shape = (len(users),) if size is None else (len(users), size)
    uu = users if size is None else np.repeat(users, size).reshape(shape)
    neg = candidates[rng.integers(0, len(candidates), size=shape)]
    bad = seen[uu, neg]
    tries = 0
    while bad.any():
        neg[bad] = candidates[rng.integers(0, len(candidates), size=int(bad.sum()))]
        bad = seen[uu, neg]
        tries += 1
        if tries > 1000:
            raise ValueError("a user has interacted with every candidate item")
    return neg


class CandidateTable:
    """Mix-in for a ``keras.Model``: an output vector and a bias for every item.

    ``logits(h)`` scores the whole catalogue, ``candidate_logits(h, items)`` only the given
    items per row (for sampled losses). Call ``_add_candidates`` in ``__init__``.
    """

    def _add_candidates(self, num_items: int, dim: int, name: str, initializer="uniform"):
        self.out_emb = keras.layers.Embedding(num_items, dim, embeddings_initializer=initializer,
                                              name=f"{name}_embedding")
        self.out_bias = keras.layers.Embedding(num_items, 1, embeddings_initializer="zeros",
                                               name=f"{name}_bias")
        self.out_emb.build((None,))    # used as weight matrices, never called on ids
        self.out_bias.build((None,))

    def logits(self, h):
        """Scores of every item for states ``h`` (batch, dim) -> (batch, num_items)."""
        return tf.matmul(h, self.out_emb.embeddings, transpose_b=True) + self.out_bias.embeddings[:, 0]

    def candidate_logits(self, h, items):
        """Scores of candidate ``items`` (batch, n) for states ``h`` (batch, dim)."""
        w = tf.gather(self.out_emb.embeddings, items)
        b = tf.gather(self.out_bias.embeddings[:, 0], items)
        return tf.einsum("bd,bnd->bn", h, w) + b


def last_items(seq: np.ndarray, L: int) -> np.ndarray:
    """The last ``L`` items of a history as ``item + 1`` codes, left-padded with 0."""
    out = np.zeros(L, dtype=np.int32)
    tail = np.asarray(seq[-L:], dtype=np.int64) + 1 if L else np.zeros(0)
    if len(tail):
        out[L - len(tail):] = tail
    return out


def checkpoint_file(directory) -> Path:
    """The file that holds a run's checkpoint in ``directory``."""
    return Path(directory) / "training-state.npz"


def checkpoint_epoch(directory) -> int:
    """The last completed epoch recorded in ``directory``'s checkpoint (0 if none or unreadable)."""
    try:
        with np.load(checkpoint_file(directory), allow_pickle=False) as f:
            return int(json.loads(str(f["meta"]))["state"]["epoch"])
    except Exception:
        return 0


class EarlyStoppingRecommender(Recommender):
    """A Keras-backed recommender trained epoch by epoch with early stopping.

    ``fit(split, strategy=None, checkpoint_dir=None)`` is ``setup`` then ``_train``:

    * ``setup(split, strategy)`` seeds, calls ``_prepare(split)`` (the training data as arrays)
      and, inside ``strategy.scope()``, ``_build(split)`` (the networks and their optimizers),
      then compiles fresh steps from ``_steps()``;
    * ``_train`` runs ``_run_epoch(epoch) -> loss`` until ``epochs`` or early stopping, checks
      validation NDCG@10 every ``eval_every`` epochs, and restores the best weights.

    Subclasses implement ``_prepare``, ``_build``, ``_run_epoch`` (``self._rng`` is seeded from
    the seed and the epoch, so an epoch draws the same negatives and order whether or not the
    run was resumed) and ``_refresh`` (cache whatever ``score`` needs from the networks).
    ``networks()`` names the Keras models whose weights make the fitted model; ``restore``
    rebuilds a fitted model from them without training (the model store uses it).

    With ``checkpoint_dir`` the whole state (weights, optimizer slots, random-generator states,
    history) is written there after every epoch, and a later ``fit`` with the same directory
    resumes from it. A checkpoint is bound to the model, its config (except ``epochs``: raising
    it extends a finished run), the seed and the data's content.
    """

    Config = TrainConfig
    uses_tensorflow = True
    seeded = True
    #: how the validation item reaches the model at test time (the protocol: every model sees
    #: training plus validation when predicting test). ``"input"``: it is part of the model's
    #: input (a history, or an interaction row). ``"refit"``: a user is a learned vector, so
    #: after early stopping a twin with the same config and seed is refit on training plus
    #: validation for the chosen number of epochs (``best_epoch_``), with no evaluation, and
    #: that twin scores test.
    test_input: ClassVar[str] = "input"

    # -- to implement
    def _prepare(self, split) -> None:
        pass

    def _build(self, split) -> None:
        raise NotImplementedError

    def _run_epoch(self, epoch: int) -> float:
        raise NotImplementedError

    def _refresh(self) -> None:
        pass

    def networks(self) -> dict:
        """The Keras models that hold the fitted weights, by name."""
        return {"net": self.net_}

    def _steps(self) -> dict:
        """Per-replica step functions by name; each takes a batch and returns scalar losses."""
        return {"train": self.net_.train_step}

    def _optimizers(self):
        """``(optimizer, variables)`` pairs; by default the compiled optimizer of ``net_``."""
        return [(self.net_.optimizer, self.net_.trainable_variables)]

    def _extra_state(self) -> dict:
        """JSON-able training state beyond the networks (e.g. per-epoch logs) to checkpoint."""
        return {}

    def _set_extra_state(self, state: dict) -> None:
        pass

    @property
    def examples_per_epoch(self) -> int:
        """Training examples one epoch passes through the network."""
        raise NotImplementedError

    # -- fitting
    def setup(self, split, strategy=None) -> "EarlyStoppingRecommender":
        """Everything ``fit`` does before the first epoch: data, networks, optimizers, steps."""
        self.strategy_ = strategy or tf.distribute.get_strategy()
        keras.utils.set_random_seed(self.seed)
        self._rng = np.random.default_rng(self.seed)
        self.num_users_, self.num_items_ = split.num_users, split.num_items
        self._prepare(split)
        with self.strategy_.scope():
            self._build(split)
            for opt, variables in self._optimizers():
                opt.build(variables)
        self._compiled = {k: self._compile(fn) for k, fn in self._steps().items()}
        return self

    def _compile(self, fn):
        strategy = self.strategy_

        def step(batch):
            out = strategy.run(fn, args=(batch,))
            return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                    for k, v in out.items()}

        return tf.function(step)

    def fit(self, split, strategy=None, checkpoint_dir=None, refit: bool = True, **kwargs):
        """Train on ``split``; under ``strategy`` (a ``tf.distribute.Strategy``) if given.

        With ``checkpoint_dir`` the run checkpoints every epoch and resumes from an existing
        checkpoint there; a checkpoint of another model, setting, seed or data is refused.
        ``refit=False`` skips the twin of a ``"refit"`` model (the tuner scores validation only;
        ``score(..., "test")`` then refuses).
        """
        self.setup(split, strategy)
        self._train(split, checkpoint_dir)
        if self.test_input == "refit" and refit:
            self._refit(split, strategy)
        return self

    # -- the twin refit on training plus validation, which scores test
    def _twin(self) -> "EarlyStoppingRecommender":
        """An unfitted copy: the same class, settings (``epochs`` = the chosen epoch) and seed,
        and the same constructor arguments (public attributes not ending in ``_``)."""
        twin = object.__new__(type(self))
        twin.__dict__.update({k: v for k, v in self.__dict__.items()
                              if not k.startswith("_") and not k.endswith("_")})
        twin.config = self.config.replace(epochs=int(self.best_epoch_))
        return twin

    def _refit(self, split, strategy=None) -> None:
        t0 = time.perf_counter()
        full = split.with_validation_in_train()
        twin = self._twin().setup(full, strategy)
        twin._train(full, evaluate=False)
        self.test_model_ = twin
        self.refit_seconds_ = time.perf_counter() - t0

    def _scorer(self, which: str) -> "EarlyStoppingRecommender | None":
        """The refit twin when it scores ``which`` ('test' of a ``"refit"`` model), else None.

        The twin's own input is training plus validation, which it scores as its 'valid'."""
        if self._check_which(which) == "test" and self.test_input == "refit":
            twin = self.__dict__.get("test_model_")
            if twin is None:
                raise RuntimeError(f"{type(self).__name__} scores test with its refit twin; "
                                   "fit() or restore() it first")
            return twin
        return None

    def _batches(self, arrays):
        """``arrays`` (in epoch order) as a batched, distributed ``tf.data`` pipeline."""
        return distributed_batches(arrays, self.batch_size, self.strategy_)

    def _fit_epoch(self, arrays, step: str = "train") -> float:
        """One pass of the step over ``arrays``; returns the mean loss."""
        return self._fit_batches(self._batches(arrays), step)["loss"]

    def _fit_batches(self, batches, step: str = "train") -> dict:
        """One pass of the compiled ``step`` over a (distributed) ``tf.data`` pipeline; the
        mean over the steps of each loss the step returns."""
        fn, outs = self._compiled[step], []
        with self.strategy_.scope():
            for batch in batches:
                outs.append(fn(batch))
        if not outs:
            raise ValueError("an epoch had no batches: fewer examples than one batch?")
        return {k: float(tf.stack([o[k] for o in outs]).numpy().astype(np.float64).mean())
                for k in outs[0]}

    def _train(self, split, checkpoint_dir=None, evaluate: bool = True) -> None:
        """The epoch loop. With ``evaluate=False`` (the refit twin) it runs exactly ``epochs``
        epochs, never looks at validation, and keeps the last weights."""
        if not evaluate:
            t0, self.history_ = time.perf_counter(), {"epoch": [], "loss": [], "seconds": []}
            for epoch in range(1, self.epochs + 1):
                self._rng = np.random.default_rng([self.seed, epoch])
                loss = self._run_epoch(epoch)
                for k, v in (("epoch", epoch), ("loss", float(loss)),
                             ("seconds", time.perf_counter() - t0)):
                    self.history_[k].append(v)
            self._refresh()
            self.best_epoch_ = self.epochs_run_ = self.epochs
            self.train_seconds_ = time.perf_counter() - t0
            return
        from ..metrics import evaluate

        self.history_ = {"epoch": [], "loss": [], "val_NDCG@10": [], "seconds": []}
        state = {"epoch": 0, "best": -1.0, "waited": 0, "elapsed": 0.0, "stopped": False}
        best_w = None
        ckpt = _Checkpoint(checkpoint_dir, self, split) if checkpoint_dir is not None else None
        if ckpt is not None and ckpt.exists():
            state, best_w = ckpt.restore()
        t0 = time.perf_counter() - state["elapsed"]
        epoch = state["epoch"]
        while not state["stopped"] and epoch < self.epochs:
            epoch += 1
            self._rng = np.random.default_rng([self.seed, epoch])
            loss = self._run_epoch(epoch)
            if not (epoch % self.eval_every and epoch != self.epochs):
                self._refresh()
                ndcg = evaluate(self, split, "valid").means["NDCG@10"]
                for k, v in (("epoch", epoch), ("loss", float(loss)), ("val_NDCG@10", float(ndcg)),
                             ("seconds", time.perf_counter() - t0)):
                    self.history_[k].append(v)
                if self.verbose:
                    print(f"epoch {epoch:3d}  loss {loss:.4f}  val NDCG@10 {ndcg:.4f}  "
                          f"({time.perf_counter() - t0:.0f} s)", flush=True)
                if ndcg > state["best"]:
                    state["best"], best_w, state["waited"] = float(ndcg), self.network_weights(), 0
                else:
                    state["waited"] += 1
                    state["stopped"] = state["waited"] >= self.patience
            state["epoch"], state["elapsed"] = epoch, time.perf_counter() - t0
            if ckpt is not None:
                ckpt.save(state, best_w)
        self.set_network_weights(best_w)
        self._refresh()
        self.best_epoch_ = self.history_["epoch"][int(np.argmax(self.history_["val_NDCG@10"]))]
        self.train_seconds_ = time.perf_counter() - t0
        self.epochs_run_ = epoch

    # -- weights
    def network_weights(self) -> dict:
        """``{network name: list of weight arrays}`` (Keras' ``get_weights`` order)."""
        return {k: net.get_weights() for k, net in self.networks().items()}

    def set_network_weights(self, weights: dict) -> None:
        nets = self.networks()
        if set(weights) != set(nets):
            raise ValueError(f"weights for networks {sorted(weights)}, the model has {sorted(nets)}")
        for k, net in nets.items():
            mine = net.get_weights()
            theirs = weights[k]
            if len(mine) != len(theirs) or any(a.shape != b.shape for a, b in zip(mine, theirs)):
                raise ValueError(f"the stored weights of network {k!r} do not fit this model "
                                 f"({len(theirs)} arrays for {len(mine)}): another model or setting?")
            net.set_weights(theirs)

    def stored_weights(self) -> dict:
        """What the model store keeps: ``network_weights()``, plus the refit twin's networks
        under ``"refit/<name>"`` for a ``"refit"`` model."""
        out = self.network_weights()
        twin = self.__dict__.get("test_model_")
        if twin is not None:
            out.update({f"refit/{k}": w for k, w in twin.network_weights().items()})
        return out

    def restore(self, split, weights: dict, history: dict, best_epoch: int,
                train_seconds: float) -> "EarlyStoppingRecommender":
        """A fitted model from stored weights (``stored_weights()``): ``setup`` on ``split``,
        load, refresh; for a ``"refit"`` model the same for its twin. No training."""
        own = {k: w for k, w in weights.items() if not k.startswith("refit/")}
        refit = {k[len("refit/"):]: w for k, w in weights.items() if k.startswith("refit/")}
        if (self.test_input == "refit") != bool(refit):
            raise ValueError(f"stored weights {'lack' if not refit else 'have'} the networks of a "
                             "twin refit for test; they are not this model's")
        self.setup(split)
        self.set_network_weights(own)
        self._refresh()
        self.history_, self.best_epoch_, self.train_seconds_ = history, best_epoch, train_seconds
        self.epochs_run_ = history["epoch"][-1] if history.get("epoch") else 0
        if refit:
            twin = self._twin().setup(split.with_validation_in_train())
            twin.set_network_weights(refit)
            twin._refresh()
            twin.best_epoch_ = twin.epochs_run_ = twin.epochs
            self.test_model_ = twin
        return self

    @property
    def num_params(self) -> int:
        return int(sum(net.count_params() for net in self.networks().values()))


class _Checkpoint:
    """The whole training state of an ``EarlyStoppingRecommender`` in one ``.npz`` file.

    Saved after every epoch: every variable of the networks (weights, and the states of their
    random-number generators, e.g. dropout's), every optimizer variable (step count, Adam's
    moments), the best weights so far, the history and the early-stopping counters. The file
    is written under a unique temporary name and renamed into place, so a run killed while
    saving leaves the previous checkpoint intact. Under multi-worker training only the chief
    (task 0) writes; every worker reads the same file to resume.
    """

    def __init__(self, directory, model: EarlyStoppingRecommender, split):
        self.path = checkpoint_file(directory)
        self.model = model
        settings = model.config.key_dict()
        settings.pop("epochs")                 # a longer run extends this one
        self.identity = {"class": type(model).__name__, "settings": settings,
                         "seed": model.seed, "data": data_key(split),
                         "replicas": int(model.strategy_.num_replicas_in_sync)}

    def exists(self) -> bool:
        return self.path.exists()

    def _variables(self):
        out = [v for net in self.model.networks().values() for v in net.variables]
        for opt, _ in self.model._optimizers():
            out += list(opt.variables)
        return out

    def save(self, state: dict, best_w) -> None:
        if _is_worker_not_chief():
            return
        names = list(self.model.networks())
        meta = {"identity": self.identity, "state": state, "history": self.model.history_,
                "extra": self.model._extra_state(), "networks": names,
                "n_best": {k: len(best_w[k]) for k in names} if best_w else None}
        arrays = {f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(self._variables())}
        for k in names if best_w else ():
            arrays.update({f"b_{k}_{i}": w for i, w in enumerate(best_w[k])})
        with atomic_file(self.path) as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)

    def restore(self):
        try:
            with np.load(self.path, allow_pickle=False) as f:
                meta = json.loads(str(f["meta"]))
                arrays = {k: f[k] for k in f.files if k != "meta"}
        except Exception as e:
            raise ValueError(f"checkpoint {self.path} is unreadable ({e}); "
                             "delete it to start over") from None
        if meta.get("identity") != self.identity:
            diff = sorted(k for k in self.identity
                          if (meta.get("identity") or {}).get(k) != self.identity[k])
            raise ValueError(f"checkpoint {self.path} belongs to another model or setting "
                             f"(differs in: {', '.join(diff)}); delete it or use another directory")
        state, m = meta["state"], self.model
        if state["epoch"] > m.epochs:
            raise ValueError(f"checkpoint {self.path} has trained {state['epoch']} epochs, more "
                             f"than epochs={m.epochs}; use another directory")
        if state["epoch"] < m.epochs and not state["stopped"] and state["epoch"] % m.eval_every:
            raise ValueError(f"checkpoint {self.path} ended at epoch {state['epoch']}, which is not "
                             f"a multiple of eval_every={m.eval_every}: its final check would make "
                             "a longer run differ from a fresh one; use another directory")
        variables = self._variables()
        shapes = [tuple(v.shape) for v in variables]
        stored = [tuple(arrays[f"v{i}"].shape) for i in range(len(variables)) if f"v{i}" in arrays]
        if sum(k.startswith("v") for k in arrays) != len(variables) or stored != shapes:
            raise ValueError(f"checkpoint {self.path} does not match the network's variables")
        for i, v in enumerate(variables):
            v.assign(arrays[f"v{i}"])
        self.model.history_ = meta["history"]
        self.model._set_extra_state(meta["extra"])
        best_w = None
        if meta["n_best"]:
            best_w = {k: [arrays[f"b_{k}_{i}"] for i in range(n)] for k, n in meta["n_best"].items()}
        return state, best_w


def _is_worker_not_chief() -> bool:
    """True in a multi-worker cluster (``TF_CONFIG``) for every task but worker 0."""
    cfg = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = cfg.get("task", {})
    return task.get("type") == "worker" and int(task.get("index", 0)) != 0


class SequenceRecommender(EarlyStoppingRecommender):
    """Shared plumbing of the next-item models: the users' histories before validation and
    before test, and scoring from each user's last ``L`` items.

    Subclasses have an ``L`` setting and implement ``_all_logits(users, windows)`` (scores of
    every item).
    """

    def _prepare_histories(self, split) -> None:
        self._seqs = {w: split.sequences(w) for w in ("valid", "test")}

    def user_windows(self, users, which="valid") -> np.ndarray:
        """The model's input for each user: their last ``L`` items before ``which``."""
        seqs = self._seqs[self._check_which(which)]
        return np.stack([last_items(seqs[u], self.L) for u in users]).astype(np.int32)

    def _all_logits(self, users, windows):
        raise NotImplementedError

    def score(self, users, which="valid"):
        users = self._check_users(users)
        self._check_which(which)
        if not len(users):
            return np.zeros((0, self.num_items_))
        w = self.user_windows(users, which)
        out = [np.asarray(self._all_logits(users[s:s + 1024].astype(np.int32), w[s:s + 1024]))
               for s in range(0, len(users), 1024)]
        return np.concatenate(out)
