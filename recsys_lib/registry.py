"""Model registry for the command line: name -> factory. Chapters add their models here."""
from __future__ import annotations

from typing import Callable

__all__ = ["MODELS", "register", "make_model", "model_class"]

#: name -> callable(seed=..., **hyperparameters) returning an unfitted Recommender
MODELS: dict[str, Callable] = {}


def register(name: str, factory: Callable | None = None):
    """Register ``factory`` under ``name`` (usable as a decorator)."""
    def deco(f):
        if name in MODELS:
            raise ValueError(f"model {name!r} is already registered")
        MODELS[name] = f
        return f
    return deco(factory) if factory is not None else deco


def _pop(seed=0, **hp):
    from .models.baselines import Popularity
    return Popularity(**hp)


def _itemknn(seed=0, **hp):
    from .models.baselines import ItemKNN
    return ItemKNN(**hp)


def _ease(seed=0, **hp):
    from .models.baselines import EASE
    return EASE(**hp)


def _bpr(seed=0, **hp):
    from .models.bpr import BPR
    return BPR(seed=seed, **hp)


def _from(module, cls_name, **fixed):
    """A factory for ``recsys_lib.models.<module>.<cls_name>`` (imported on first use)."""
    def factory(seed=0, **hp):
        import importlib
        mod = importlib.import_module(f".models.{module}", __package__)
        return getattr(mod, cls_name)(seed=seed, **{**fixed, **hp})
    factory.__name__ = f"_{cls_name.lower()}"
    return factory


def model_class(name: str):
    """The Recommender class behind ``name`` (imports it)."""
    return type(make_model(name))


def make_model(name: str, seed: int = 0, **hp):
    """An unfitted model by registry name; unknown names raise ``KeyError`` listing the known ones."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return MODELS[name](seed=seed, **hp)


register("pop", _pop)
register("itemknn", _itemknn)
register("ease", _ease)
register("bpr", _bpr)
register("cnn-item-only", _from("cnn", "ItemOnlyCNN"))
register("cnn-content", _from("cnn", "ContentCNN"))
register("caser", _from("cnn", "Caser"))
register("markov", _from("rnn", "Markov"))
register("lstm", _from("rnn", "ArticleLSTM"))
register("gru4rec", _from("rnn", "GRU4Rec"))
register("gru4rec-lstm", _from("rnn", "GRU4Rec", cell="lstm"))   # the same model, LSTM cell
register("cfgan", _from("gan", "CFGAN"))
