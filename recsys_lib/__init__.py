"""recsys_lib: the helper library behind *Deep Learning for Recommender Systems*.

Importing it downloads nothing, writes nothing and does not import TensorFlow; the modules
that need TensorFlow import it when they are used. It does ask TensorFlow, once and here, to
keep its C++ log lines to itself (``TF_CPP_MIN_LOG_LEVEL=3``, ``TF_ENABLE_ONEDNN_OPTS=0``,
Keras on the TensorFlow backend); settings already in the environment are respected.
"""
import os as _os

# ONEDNN_MAX_CPU_ISA: TensorFlow multiplies matrices (Dense, Conv, LSTM and GRU gates) with
# oneDNN's sgemm even when TF_ENABLE_ONEDNN_OPTS=0, and sgemm picks its kernel from the
# processor's instruction set, so trained weights differ between an AVX2 and an AVX-512
# computer. Capping it at AVX2, which every x86-64 computer of the last decade has, makes
# them run the same kernel (book/reproducibility.md has the measurements).
for _k, _v in (("TF_CPP_MIN_LOG_LEVEL", "3"), ("TF_ENABLE_ONEDNN_OPTS", "0"),
               ("ONEDNN_MAX_CPU_ISA", "AVX2"), ("KERAS_BACKEND", "tensorflow")):
    _os.environ.setdefault(_k, _v)

__version__ = "0.1.0"
