"""Seeding and small helpers shared by the chapters."""
from __future__ import annotations

import random

import numpy as np

__all__ = ["set_seed", "glue"]


def set_seed(seed: int, deterministic: bool = True, tensorflow: bool = True) -> None:
    """Seed Python and NumPy and, unless ``tensorflow=False``, Keras/TensorFlow.

    With ``deterministic`` TensorFlow ops are made deterministic (bit-identical reruns).
    """
    random.seed(seed)
    np.random.seed(seed)
    if not tensorflow:
        return
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


class _PlainText(str):
    """A string whose ``repr`` is the string itself, so that it is shown without quotes."""

    def __repr__(self) -> str:
        return str.__str__(self)


def glue(name: str, value, display: bool = False):
    """``myst_nb.glue``, but a string is pasted into the prose as plain text.

    myst-nb pastes a value's ``text/plain`` form, which for a Python string is its ``repr``
    (with quotes: ``'52%'``). Numbers and other objects are passed on unchanged.
    """
    from myst_nb import glue as _glue

    if isinstance(value, str):
        value = _PlainText(value)
    return _glue(name, value, display=display)
