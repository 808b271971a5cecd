"""Seeding and small helpers shared by the chapters."""
from __future__ import annotations

import random

import numpy as np

__all__ = ["set_seed", "glue", "glue_fact"]


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


def glue_fact(name: str, model: str, quantity: str, records: list[dict]) -> str:
    """Glue ``recsys_lib.report.fact(records, quantity)`` under ``name``, marked as the fact
    (``model``, ``quantity``) in the output's metadata (``recsys_fact``), and return it.

    A model's figure in the prose goes through here, so that every chapter states it with the
    same value: the book's tests collect these marks from the executed notebooks and fail on a
    (model, quantity) glued with two values.
    """
    import IPython.core.formatters
    from IPython.display import display
    from myst_nb.ext.glue import GLUE_PREFIX

    from .report import fact

    text = fact(records, quantity)
    bundle, metadata = IPython.core.formatters.format_display_data(_PlainText(text))
    metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
    metadata["recsys_fact"] = {"model": model, "quantity": quantity, "seeds": len(records)}
    display({GLUE_PREFIX + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)
    return text
