"""The one interface every model in the book answers."""
from __future__ import annotations

import numpy as np

__all__ = ["Recommender"]


class Recommender:
    """Fit on a ``Split``; score every item for a batch of users.

    Subclasses set ``name`` and ``hyperparameters`` (the documented grid tuned on
    validation) and implement ``fit`` and ``score``.
    """

    name: str = "base"
    #: the small grid of hyperparameters tuned on the validation split
    hyperparameters: dict = {}
    #: whether fitting needs Keras/TensorFlow (and so TF seeding)
    uses_tensorflow: bool = False

    def fit(self, split, **kwargs) -> "Recommender":
        raise NotImplementedError

    def score(self, users, which: str = "valid") -> np.ndarray:
        """Scores of shape ``(len(users), num_items)``; higher is better.

        ``which`` tells sequence models whether the validation item is part of the
        history ('test') or not ('valid'); models that do not use order ignore it.
        """
        raise NotImplementedError

    @property
    def num_params(self) -> int:
        """Number of learned or stored parameters."""
        return 0

    def _check_users(self, users) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        n = getattr(self, "num_users_", None)
        if n is None:
            raise RuntimeError(f"{type(self).__name__} must be fitted before score()")
        if users.ndim != 1 or (users.size and (users.min() < 0 or users.max() >= n)):
            raise ValueError(f"users must be a 1-D array of codes in 0..{n - 1}")
        return users

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.hyperparameters)
        return f"{type(self).__name__}({args})"
