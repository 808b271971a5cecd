"""Seeding and small helpers shared by the chapters."""
from __future__ import annotations

import os
import random

import numpy as np

__all__ = ["quiet_tensorflow", "set_seed"]


def quiet_tensorflow() -> None:
    """Ask TensorFlow not to print C++ log lines (call before TensorFlow is imported).

    Existing settings in the environment are respected.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def set_seed(seed: int, deterministic: bool = True, tensorflow: bool = True) -> None:
    """Seed Python and NumPy and, unless ``tensorflow=False``, Keras/TensorFlow.

    With ``deterministic`` TensorFlow ops are made deterministic (bit-identical reruns).
    """
    random.seed(seed)
    np.random.seed(seed)
    if not tensorflow:
        return
    quiet_tensorflow()
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
