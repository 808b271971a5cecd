"""The training loop the deep chapters share: epochs, early stopping on validation NDCG@10,
a ``tf.distribute`` strategy, and checkpoints that let an interrupted run resume.

Only the validation item is used to decide when to stop (PROTOCOL.md); the test item is
never looked at during training.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from ..utils import quiet_tensorflow
from .base import Recommender

quiet_tensorflow()
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

__all__ = ["EarlyStoppingRecommender", "LossTracking", "sample_negatives_from",
           "replica_gradients", "distributed_batches", "last_items", "CandidateTable",
           "SequenceRecommender"]


class LossTracking:
    """Mix-in for a ``keras.Model`` with a custom ``train_step``: keeps the epoch's mean loss.

    Keras 3 fills the ``"loss"`` entry of the history from ``compile(loss=...)``, so a
    custom step that returns its own ``"loss"`` shows 0 there. Return
    ``self.track_loss(loss)`` instead and read ``history["train_loss"]``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._train_loss = keras.metrics.Mean(name="train_loss")

    def track_loss(self, loss):
        self._train_loss.update_state(loss)
        return {"train_loss": self._train_loss.result()}

    def apply_loss(self, tape, loss, variables=None):
        """One optimizer step on ``loss`` (a mean over this replica's batch)."""
        variables = self.trainable_variables if variables is None else variables
        self.optimizer.apply_gradients(zip(replica_gradients(tape, loss, variables), variables))
        return self.track_loss(loss)

    @property
    def metrics(self):
        tracker = getattr(self, "_train_loss", None)
        return [tracker] if tracker is not None else []


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
    if batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"batch_size {batch_size} is not divisible by the "
                         f"{strategy.num_replicas_in_sync} replicas")
    keep = (n // batch_size) * batch_size
    if keep == 0:
        raise ValueError(f"fewer examples ({n}) than one global batch ({batch_size})")
    arrays = tf.nest.map_structure(lambda a: a[:keep], arrays)

    def per_pipeline(ctx: tf.distribute.InputContext):
        ds = tf.data.Dataset.from_tensor_slices(arrays)
        ds = ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        return ds.batch(ctx.get_per_replica_batch_size(batch_size), drop_remainder=True)

    return strategy.distribute_datasets_from_function(per_pipeline)


def sample_negatives_from(users: np.ndarray, seen, candidates: np.ndarray,
                          rng: np.random.Generator, size: int | None = None) -> np.ndarray:
    """Uniformly drawn items from ``candidates`` that ``users[row]`` has not interacted with.

    ``seen`` is a (num_users, num_items) boolean array. With ``size`` the result has
    shape ``(len(users), size)``, else ``(len(users),)``.
    """
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


class EarlyStoppingRecommender(Recommender):
    """A Keras-backed recommender trained epoch by epoch with early stopping.

    ``fit(split, strategy=None, checkpoint_dir=None)`` seeds, calls ``_prepare(split)`` (the
    training data as arrays) and, inside ``strategy.scope()``, ``_build(split)`` (the network
    in ``self.net_`` and its optimizers); then it trains. Subclasses implement ``_run_epoch(epoch)
    -> loss`` (one pass over the training data; ``self._rng`` is seeded from the seed and the
    epoch, so an epoch draws the same negatives and order whether or not the run was
    resumed) and ``_refresh()`` (cache whatever ``score`` needs from the network).

    ``history_`` records the loss, validation NDCG@10 and elapsed time at every check; the
    weights of the best check are restored at the end. With ``checkpoint_dir`` the whole state
    (weights, optimizer slots, random-generator states, history) is written there after every
    epoch, and a later ``fit`` with the same directory resumes from it.
    """

    uses_tensorflow = True
    epochs: int = 30
    eval_every: int = 1
    patience: int = 3
    verbose: int = 0
    seed: int = 0

    # -- to implement
    def _prepare(self, split) -> None:
        pass

    def _build(self, split) -> None:
        raise NotImplementedError

    def _run_epoch(self, epoch: int) -> float:
        raise NotImplementedError

    def _refresh(self) -> None:
        pass

    def _optimizers(self):
        """``(optimizer, variables)`` pairs; by default the compiled optimizer of ``net_``."""
        return [(self.net_.optimizer, self.net_.trainable_variables)]

    def _state_variables(self):
        """Every variable of the networks a checkpoint must hold (not the optimizers')."""
        return self.net_.variables

    def _extra_state(self) -> dict:
        """JSON-able training state beyond the network (e.g. per-epoch logs) to checkpoint."""
        return {}

    def _set_extra_state(self, state: dict) -> None:
        pass

    # -- fitting
    def fit(self, split, strategy=None, checkpoint_dir=None, **kwargs):
        """Train on ``split``; under ``strategy`` (a ``tf.distribute.Strategy``) if given.

        With ``checkpoint_dir`` the run checkpoints every epoch and resumes from an existing
        checkpoint there; a checkpoint of a different model or setting is refused.
        """
        self.strategy_ = strategy or tf.distribute.get_strategy()
        keras.utils.set_random_seed(self.seed)
        self._rng = np.random.default_rng(self.seed)
        self.num_users_, self.num_items_ = split.num_users, split.num_items
        self._prepare(split)
        with self.strategy_.scope():
            self._build(split)
            for opt, variables in self._optimizers():
                opt.build(variables)
        self._train(split, checkpoint_dir)
        return self

    def _batches(self, arrays):
        """``arrays`` (in epoch order) as a batched, distributed ``tf.data`` pipeline."""
        return distributed_batches(arrays, self.batch_size, self.strategy_)

    def _fit_epoch(self, arrays) -> float:
        """One pass of ``net_.train_step`` over ``arrays``: inputs or ``(inputs, labels...)``."""
        return self._fit_batches(self._batches(arrays))

    def _fit_batches(self, batches) -> float:
        """One pass of ``net_.train_step`` over a (distributed) ``tf.data`` pipeline.

        This is the loop ``keras.Model.fit`` runs, written out: every step is
        ``strategy.run(train_step)`` inside one ``tf.function``, so each replica trains on its
        slice of the batch and the optimizer all-reduces the gradients. Returns the epoch's
        mean training loss (the loss tracker, aggregated over replicas).
        """
        net, strategy = self.net_, self.strategy_
        if getattr(self, "_step", None) is None:
            self._step = tf.function(lambda batch: strategy.run(net.train_step, args=(batch,)))
        for m in net.metrics:
            m.reset_state()
        with strategy.scope():
            for batch in batches:
                self._step(batch)
        results = {m.name: m.result() for m in net.metrics}
        return float(results.get("train_loss", results.get("loss")))

    def _train(self, split, checkpoint_dir=None) -> None:
        from ..metrics import evaluate

        self.history_ = {"epoch": [], "loss": [], "val_NDCG@10": [], "seconds": []}
        state = {"epoch": 0, "best": -1.0, "waited": 0, "elapsed": 0.0, "stopped": False}
        best_w = None
        ckpt = _Checkpoint(checkpoint_dir, self) if checkpoint_dir is not None else None
        if ckpt is not None and ckpt.exists():
            state, best_w = ckpt.restore()
        t0 = time.perf_counter() - state["elapsed"]
        epoch = state["epoch"]
        while not state["stopped"] and epoch < self.epochs:
            epoch += 1
            self._rng = np.random.default_rng([self.seed, epoch])
            loss = self._run_epoch(epoch)
            checked = not (epoch % self.eval_every and epoch != self.epochs)
            if checked:
                self._refresh()
                ndcg = evaluate(self, split, "valid").means["NDCG@10"]
                for k, v in (("epoch", epoch), ("loss", float(loss)), ("val_NDCG@10", float(ndcg)),
                             ("seconds", time.perf_counter() - t0)):
                    self.history_[k].append(v)
                if self.verbose:
                    print(f"epoch {epoch:3d}  loss {loss:.4f}  val NDCG@10 {ndcg:.4f}  "
                          f"({time.perf_counter() - t0:.0f} s)", flush=True)
                if ndcg > state["best"]:
                    state["best"], best_w, state["waited"] = float(ndcg), self.net_.get_weights(), 0
                else:
                    state["waited"] += 1
                    state["stopped"] = state["waited"] >= self.patience
            state["epoch"], state["elapsed"] = epoch, time.perf_counter() - t0
            if ckpt is not None:
                ckpt.save(state, best_w)
        self.net_.set_weights(best_w)
        self._refresh()
        self.best_epoch_ = self.history_["epoch"][int(np.argmax(self.history_["val_NDCG@10"]))]
        self.train_seconds_ = time.perf_counter() - t0
        self.epochs_run_ = epoch

    @property
    def num_params(self) -> int:
        return int(self.net_.count_params())


class _Checkpoint:
    """The whole training state of an ``EarlyStoppingRecommender`` in one ``.npz`` file.

    Saved after every epoch: every variable of the network (weights, and the states of its
    random-number generators, e.g. dropout's), every optimizer variable (step count, Adam's
    moments), the best weights so far, the history and the early-stopping counters. The file
    is written under a temporary name and renamed into place, so a run killed while saving
    leaves the previous checkpoint intact. Under multi-worker training only the chief
    (task 0) writes; every worker reads the same file to resume.
    """

    def __init__(self, directory, model: EarlyStoppingRecommender):
        self.path = Path(directory) / "training-state.npz"
        self.model = model
        from ..experiment import model_settings

        self.identity = {"class": type(model).__name__, "settings": model_settings(model),
                         "num_users": int(model.num_users_), "num_items": int(model.num_items_)}

    def exists(self) -> bool:
        return self.path.exists()

    def _variables(self):
        out = list(self.model._state_variables())
        for opt, _ in self.model._optimizers():
            out += list(opt.variables)
        return out

    def save(self, state: dict, best_w) -> None:
        if _is_worker_not_chief():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"identity": self.identity, "state": state, "history": self.model.history_,
                "extra": self.model._extra_state(), "n_best": 0 if best_w is None else len(best_w)}
        arrays = {f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(self._variables())}
        arrays.update({f"b{i}": w for i, w in enumerate(best_w or [])})
        tmp = self.path.with_name(self.path.name + f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
        tmp.replace(self.path)

    def restore(self):
        try:
            with np.load(self.path, allow_pickle=False) as f:
                meta = json.loads(str(f["meta"]))
                arrays = {k: f[k] for k in f.files if k != "meta"}
        except Exception as e:
            raise ValueError(f"checkpoint {self.path.name} is unreadable ({e}); "
                             "delete it to start over") from None
        if meta["identity"] != self.identity:
            raise ValueError(f"checkpoint {self.path.name} belongs to another model or setting: "
                             f"{meta['identity']} vs {self.identity}")
        variables = self._variables()
        if sum(k.startswith("v") for k in arrays) != len(variables):
            raise ValueError(f"checkpoint {self.path.name} does not match the network's variables")
        for i, v in enumerate(variables):
            v.assign(arrays[f"v{i}"])
        self.model.history_ = meta["history"]
        self.model._set_extra_state(meta["extra"])
        best_w = [arrays[f"b{i}"] for i in range(meta["n_best"])] or None
        return meta["state"], best_w


def _is_worker_not_chief() -> bool:
    """True in a multi-worker cluster (``TF_CONFIG``) for every task but worker 0."""
    cfg = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = cfg.get("task", {})
    return task.get("type") == "worker" and int(task.get("index", 0)) != 0


class SequenceRecommender(EarlyStoppingRecommender):
    """Shared plumbing of the next-item models: the users' histories before validation and
    before test, and scoring from each user's last ``L`` items.

    Subclasses set ``L`` and implement ``_all_logits(users, windows)`` (scores of every item).
    """

    L: int = 20

    def _prepare_histories(self, split) -> None:
        self._seqs = {w: split.sequences(w) for w in ("valid", "test")}

    def user_windows(self, users, which="valid") -> np.ndarray:
        """The model's input for each user: their last ``L`` items before ``which``."""
        if which not in ("valid", "test"):
            raise ValueError(f"which must be 'valid' or 'test', got {which!r}")
        seqs = self._seqs[which]
        return np.stack([last_items(seqs[u], self.L) for u in users]).astype(np.int32)

    def _all_logits(self, users, windows):
        raise NotImplementedError

    def score(self, users, which="valid"):
        users = self._check_users(users)
        if not len(users):
            return np.zeros((0, self.num_items_))
        w = self.user_windows(users, which)
        out = [np.asarray(self._all_logits(users[s:s + 1024].astype(np.int32), w[s:s + 1024]))
               for s in range(0, len(users), 1024)]
        return np.concatenate(out)
