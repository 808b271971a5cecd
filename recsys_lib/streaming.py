"""Training examples on disk, read back as a ``tf.data`` stream.

When the training examples of a model do not fit in memory, they are written once to
TFRecord shards, in blocks, and every epoch reads them back from disk: shuffled through a
bounded buffer, sharded per input pipeline (one per worker under multi-worker training) and
batched per replica. Only one block of examples and the shuffle buffer are ever in memory.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterable

import numpy as np
import tensorflow as tf

from .models.training import whole_global_batches

__all__ = ["write_shards", "read_shards", "count_examples"]

_KINDS = {np.dtype(np.int32): "int", np.dtype(np.int64): "int", np.dtype(np.float32): "float"}


def _feature(a: np.ndarray) -> tf.train.Feature:
    if _KINDS[a.dtype] == "int":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=a.ravel()))
    return tf.train.Feature(float_list=tf.train.FloatList(value=a.ravel()))


def write_shards(blocks: Iterable[dict], directory, num_shards: int = 4,
                 prefix: str = "examples") -> dict:
    """Write blocks of examples (dicts of equally long arrays) round-robin to TFRecord shards.

    Returns the ``spec`` that ``read_shards`` needs: per key the shape of one example and its
    dtype, plus the file list and the number of examples. Files are written under a
    temporary name and renamed when complete, so an interrupted write leaves no shard that
    looks whole.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if num_shards < 1:
        raise ValueError("num_shards must be at least 1")
    files = [directory / f"{prefix}-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]
    tmps = [f.with_name(f".{f.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp") for f in files]
    writers = [tf.io.TFRecordWriter(str(t)) for t in tmps]
    spec, n = None, 0
    try:
        for block in blocks:
            arrays = {k: np.asarray(v) for k, v in block.items()}
            sizes = {len(a) for a in arrays.values()}
            if len(sizes) != 1:
                raise ValueError("all arrays of a block must have the same length")
            for k, a in arrays.items():
                if a.dtype not in _KINDS:
                    raise ValueError(f"{k}: dtype {a.dtype} is not int32, int64 or float32")
            this = {k: (list(a.shape[1:]), str(a.dtype)) for k, a in arrays.items()}
            if spec is None:
                spec = this
            elif this != spec:
                raise ValueError(f"block layout changed: {this} vs {spec}")
            for r in range(sizes.pop()):
                ex = tf.train.Example(features=tf.train.Features(
                    feature={k: _feature(a[r]) for k, a in arrays.items()}))
                writers[n % num_shards].write(ex.SerializeToString())
                n += 1
    except BaseException:
        for w in writers:
            w.close()
        for t in tmps:
            t.unlink(missing_ok=True)
        raise
    for w in writers:
        w.close()
    if spec is None or n == 0:
        for t in tmps:
            t.unlink(missing_ok=True)
        raise ValueError("no examples to write")
    for t, f in zip(tmps, files):
        t.replace(f)
    return {"features": spec, "files": [f.name for f in files], "count": n,
            "directory": str(directory)}


def count_examples(spec: dict) -> int:
    return int(spec["count"])


def read_shards(spec: dict, batch_size: int, strategy=None, shuffle_buffer: int = 10_000,
                seed: int | None = None, keys=None):
    """Stream the examples of ``write_shards`` from disk as batches of tuples (``keys`` order).

    The files are interleaved, shuffled through a ``shuffle_buffer`` (seeded, so an epoch's
    order is reproducible), and, under a strategy with several replicas, cut to whole global
    batches, sharded per input pipeline and batched per replica, as
    ``recsys_lib.models.training.distributed_batches`` does for in-memory arrays.
    """
    strategy = strategy or tf.distribute.get_strategy()
    keys = list(spec["features"]) if keys is None else list(keys)
    desc = {}
    for k in keys:
        shape, dtype = spec["features"][k]
        kind = tf.int64 if "int" in dtype else tf.float32
        desc[k] = tf.io.FixedLenFeature(shape, kind)
    casts = {k: tf.as_dtype(spec["features"][k][1]) for k in keys}
    files = [str(Path(spec["directory"]) / f) for f in spec["files"]]
    n = count_examples(spec)

    def parse(record):
        ex = tf.io.parse_single_example(record, desc)
        return tuple(tf.cast(ex[k], casts[k]) for k in keys)

    def examples():
        ds = tf.data.Dataset.from_tensor_slices(files).interleave(
            tf.data.TFRecordDataset, cycle_length=len(files))
        ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if shuffle_buffer:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=False)
        return ds

    if strategy.num_replicas_in_sync == 1:
        return examples().batch(batch_size).prefetch(tf.data.AUTOTUNE)
    keep = whole_global_batches(n, batch_size, strategy)

    def per_pipeline(ctx: tf.distribute.InputContext):
        ds = examples().take(keep).shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        return ds.batch(ctx.get_per_replica_batch_size(batch_size),
                        drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    return strategy.distribute_datasets_from_function(per_pipeline)
