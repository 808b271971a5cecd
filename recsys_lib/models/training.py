"""The training loop the deep chapters share: epochs, early stopping on validation NDCG@10.

Only the validation item is used to decide when to stop (PROTOCOL.md); the test item is
never looked at during training.
"""
from __future__ import annotations

import time

import numpy as np

from ..utils import quiet_tensorflow
from .base import Recommender

quiet_tensorflow()
import keras  # noqa: E402

__all__ = ["EarlyStoppingRecommender", "LossTracking", "sample_negatives_from"]


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

    @property
    def metrics(self):
        tracker = getattr(self, "_train_loss", None)
        return [tracker] if tracker is not None else []


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


class EarlyStoppingRecommender(Recommender):
    """A Keras-backed recommender trained epoch by epoch with early stopping.

    Subclasses implement ``_run_epoch(epoch) -> loss`` (one pass over the training data),
    ``_refresh()`` (cache whatever ``score`` needs from the network) and use ``self.net_``
    for the Keras model. ``history_`` records the loss, validation NDCG@10 and elapsed time
    at every check; the weights of the best check are restored at the end.
    """

    uses_tensorflow = True
    epochs: int = 30
    eval_every: int = 1
    patience: int = 3
    verbose: int = 0

    def _run_epoch(self, epoch: int) -> float:
        raise NotImplementedError

    def _refresh(self) -> None:
        pass

    def _train(self, split) -> None:
        from ..metrics import evaluate

        self.history_ = {"epoch": [], "loss": [], "val_NDCG@10": [], "seconds": []}
        best, best_w, waited, t0 = -1.0, None, 0, time.perf_counter()
        for epoch in range(1, self.epochs + 1):
            loss = self._run_epoch(epoch)
            if epoch % self.eval_every and epoch != self.epochs:
                continue
            self._refresh()
            ndcg = evaluate(self, split, "valid").means["NDCG@10"]
            self.history_["epoch"].append(epoch)
            self.history_["loss"].append(float(loss))
            self.history_["val_NDCG@10"].append(float(ndcg))
            self.history_["seconds"].append(time.perf_counter() - t0)
            if self.verbose:
                print(f"epoch {epoch:3d}  loss {loss:.4f}  val NDCG@10 {ndcg:.4f}  "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
            if ndcg > best:
                best, best_w, waited = ndcg, self.net_.get_weights(), 0
            else:
                waited += 1
                if waited >= self.patience:
                    break
        self.net_.set_weights(best_w)
        self._refresh()
        self.best_epoch_ = self.history_["epoch"][int(np.argmax(self.history_["val_NDCG@10"]))]
        self.train_seconds_ = time.perf_counter() - t0

    @property
    def num_params(self) -> int:
        return int(self.net_.count_params())
