"""The one interface every model in the book answers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..codes import as_codes
from ..config import Config

__all__ = ["Recommender", "NoConfig"]


@dataclass(frozen=True)
class NoConfig(Config):
    """The config of a model with no settings."""


class Recommender:
    """Fit on a ``Split``; score every item for a batch of users.

    A model is built from its config (``Config``, a frozen dataclass declared next to the
    model) and a seed: ``Model(config, seed=0)``, or ``Model(seed=0, dim=64)`` to override
    single fields of the default config. The config's fields read as attributes
    (``model.dim``). Subclasses implement ``fit`` and ``score``; fitted state ends in ``_``.
    """

    name: ClassVar[str] = "base"
    Config: ClassVar[type[Config]] = NoConfig
    #: whether fitting needs Keras/TensorFlow (and so TF seeding)
    uses_tensorflow: ClassVar[bool] = False
    #: whether two seeds can give different models (always so for TensorFlow models)
    seeded: ClassVar[bool] = False

    def __init__(self, config: Config | None = None, seed: int = 0, **overrides):
        if config is None:
            config = self.Config()
        elif not isinstance(config, self.Config):
            raise TypeError(f"{type(self).__name__} takes a {self.Config.__name__}, "
                            f"got {type(config).__name__}")
        self.config = config.replace(**overrides) if overrides else config
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)

    def __getattr__(self, name):
        # called only when normal lookup fails: the config's fields read as attributes
        config = self.__dict__.get("config")
        if config is not None and name in config.field_names():
            return getattr(config, name)
        prop = getattr(type(self), name, None)
        if isinstance(prop, property):      # a property that raised: let its own error through
            return prop.fget(self)
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def fit(self, split, **kwargs) -> "Recommender":
        raise NotImplementedError

    def score(self, users, which: str = "valid") -> np.ndarray:
        """Scores of shape ``(len(users), num_items)``; higher is better.

        ``which`` tells a model whether the validation item is part of the input ('test') or
        not ('valid'); models that do not use it ignore it.
        """
        raise NotImplementedError

    @property
    def num_params(self) -> int:
        """Number of learned or stored parameters."""
        return 0

    def _check_users(self, users) -> np.ndarray:
        n = self.__dict__.get("num_users_")
        if n is None:
            raise RuntimeError(f"{type(self).__name__} must be fitted before score()")
        return as_codes(users, n, "user")

    @staticmethod
    def _check_which(which) -> str:
        if which not in ("valid", "test"):
            raise ValueError(f"which must be 'valid' or 'test', got {which!r}")
        return which

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.overrides().items())
        return f"{type(self).__name__}({args}{', ' if args else ''}seed={self.seed})"
