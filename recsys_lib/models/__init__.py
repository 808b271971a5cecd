"""Models: the baselines here, one module per deep model family in later chapters."""
from .base import Recommender
from .baselines import EASE, ItemKNN, Popularity

__all__ = ["Recommender", "Popularity", "ItemKNN", "EASE", "BPR"]


def __getattr__(name):  # BPR imports Keras/TensorFlow, so only on demand
    if name == "BPR":
        from .bpr import BPR
        return BPR
    raise AttributeError(name)
