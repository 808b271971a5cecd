"""Seeding and small helpers shared by the chapters."""
from __future__ import annotations

import json
import os
import random
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = ["set_seed", "glue", "atomic_file", "write_json"]


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


@contextmanager
def atomic_file(path, mode: str = "wb"):
    """Open a uniquely named temporary file beside ``path``; on success it replaces ``path``.

    Two processes writing the same path never collide (each has its own temporary name), a
    reader never sees a half-written file, and an interrupted write leaves nothing behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(obj, path, indent: int | None = 1) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (see ``atomic_file``)."""
    with atomic_file(path, "w") as f:
        f.write(json.dumps(obj, indent=indent) + "\n")
    return Path(path)
