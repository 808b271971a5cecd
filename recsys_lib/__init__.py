"""recsys_lib: the helper library behind *Deep Learning for Recommender Systems*.

Importing it downloads nothing, writes nothing and does not import TensorFlow; the modules
that need TensorFlow import it when they are used. It does ask TensorFlow, once and here, to
keep its C++ log lines to itself (``TF_CPP_MIN_LOG_LEVEL=3``, ``TF_ENABLE_ONEDNN_OPTS=0``,
Keras on the TensorFlow backend); settings already in the environment are respected.
"""
import os as _os

for _k, _v in (("TF_CPP_MIN_LOG_LEVEL", "3"), ("TF_ENABLE_ONEDNN_OPTS", "0"),
               ("KERAS_BACKEND", "tensorflow")):
    _os.environ.setdefault(_k, _v)

__version__ = "0.1.0"
