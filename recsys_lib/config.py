"""One explicit, validated config per model.

Every model's hyperparameters and training settings live in one frozen dataclass: the class
is the documentation (each field with its default and allowed range), and the instance is
what the command line, the tuner, the tests, the result cache and the notebooks read and
override::

    from recsys_lib.registry import model_config
    cfg = model_config("bpr", dim=64)           # BPRConfig(dim=64, l2=0.001, ...)
    cfg.replace(epochs=10)                      # a new config; the old one is unchanged

A field is declared with ``param(default, low=..., high=..., choices=...)``. Building a config
checks every value: the type (an ``int`` field refuses ``2.5`` and ``True``), the range and the
choices, with a message that names the model, the field, the value and what is allowed.
Fields declared with ``affects_results=False`` (``verbose``) are left out of the cache key.

``space`` (a class attribute, not a field) is the search space the tuner explores on
validation: ``{field: [values...]}``.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

__all__ = ["Config", "TrainConfig", "param"]


def param(default: Any, *, low: float | None = None, high: float | None = None,
          low_open: bool = False, choices: tuple | None = None, none_ok: bool = False,
          affects_results: bool = True, doc: str = ""):
    """A config field with a default and its allowed values.

    ``low``/``high`` bound numbers (inclusive; ``low_open=True`` excludes ``low``),
    ``choices`` lists the allowed values, ``none_ok`` admits ``None`` (meaning "derived").
    """
    meta = dict(low=low, high=high, low_open=low_open, choices=choices, none_ok=none_ok,
                affects_results=affects_results, doc=doc)
    return field(default=default, metadata=meta)


def _kind(f: dataclasses.Field) -> type:
    ann = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    for name, kind in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if ann.split("|")[0].strip() == name:
            return kind
    raise TypeError(f"config field {f.name} has an unsupported type {f.type!r}")


@dataclass(frozen=True)
class Config:
    """Base of every model config: validation, ``replace`` and the cache-key view."""

    space: ClassVar[dict] = {}

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, self._checked(f, getattr(self, f.name)))
        self.check()

    def check(self) -> None:
        """Checks that involve several fields (override; raise ``ValueError``)."""

    def _fail(self, f, value, allowed: str):
        raise ValueError(f"{type(self).__qualname__}.{f.name} must be {allowed}, got {value!r}")

    def _checked(self, f: dataclasses.Field, value):
        m, kind = f.metadata, _kind(f)
        if value is None:
            if m.get("none_ok"):
                return None
            self._fail(f, value, f"a {kind.__name__}")
        is_bool = isinstance(value, (bool, np.bool_))                          # NumPy's too
        if kind is bool:
            if not is_bool:
                self._fail(f, value, "True or False")
            value = bool(value)
        elif kind is int:                       # NumPy integers are integers; 2.0 is 2
            if is_bool or not isinstance(value, numbers.Real) or not math.isfinite(value) \
                    or not float(value).is_integer():
                self._fail(f, value, "an integer")
            value = int(value)
        elif kind is float:
            if is_bool or not isinstance(value, numbers.Real) or not math.isfinite(value):
                self._fail(f, value, "a finite number")
            value = float(value)
        elif kind is str and not isinstance(value, str):
            self._fail(f, value, "a string")
        if m.get("choices") is not None and value not in m["choices"]:
            self._fail(f, value, "one of " + ", ".join(map(repr, m["choices"])))
        lo, hi = m.get("low"), m.get("high")
        if lo is not None and (value < lo or (m.get("low_open") and value == lo)):
            rng = f"> {lo}" if m.get("low_open") else f">= {lo}"
            self._fail(f, value, rng if hi is None else f"{rng} and <= {hi}")
        if hi is not None and value > hi:
            self._fail(f, value, f"<= {hi}" if lo is None else f"in [{lo}, {hi}]")
        return value

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **changes) -> "Config":
        """A copy with ``changes``; an unknown name is a ``ValueError`` listing the known ones."""
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise ValueError(f"{type(self).__qualname__} has no setting {', '.join(unknown)}; "
                             f"known: {', '.join(self.field_names())}")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def key_dict(self) -> dict:
        """The settings that can change results (the cache key's view)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.metadata.get("affects_results", True)}

    def overrides(self) -> dict:
        """The fields that differ from the defaults."""
        default = type(self)()
        return {k: v for k, v in self.as_dict().items() if getattr(default, k) != v}


@dataclass(frozen=True)
class TrainConfig(Config):
    """Settings of the shared training loop (``models.training.EarlyStoppingRecommender``)."""

    epochs: int = param(30, low=1, doc="maximum number of epochs")
    batch_size: int = param(1024, low=1, doc="global batch size")
    lr: float = param(3e-3, low=0, low_open=True, doc="Adam's learning rate")
    eval_every: int = param(1, low=1, doc="epochs between validation checks")
    patience: int = param(3, low=1, doc="checks without improvement before stopping")
    verbose: int = param(0, low=0, affects_results=False, doc="print a line per check")
