"""recsys_lib: the helper library behind *Deep Learning for Recommender Systems*.

Importing it downloads nothing, writes nothing and does not import TensorFlow;
the modules that need TensorFlow import it when they are used.
"""
__version__ = "0.1.0"
