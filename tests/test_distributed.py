"""Scaling out: tf.distribute strategies, per-replica input pipelines, streaming from disk,
checkpoints that survive a kill, and two workers on localhost training one model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recsys_lib.distributed import free_ports, logical_cpus, run_local_cluster, tf_config
from recsys_lib.registry import make_model
from recsys_lib.testing import block_split as _block_split
from recsys_lib.testing import deep_models, tiny

FAST = {n: tiny(n) for n in deep_models()}

ROOT = Path(__file__).resolve().parents[1]
DEEP = sorted(FAST)
ENV = dict(
    os.environ,
    TF_CPP_MIN_LOG_LEVEL="3",
    TF_ENABLE_ONEDNN_OPTS="0",
    PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
)


def _python(code: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter: logical devices must be set before TF starts."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def _popularity_valid_ndcg(split) -> float:
    from recsys_lib.metrics import evaluate

    return evaluate(make_model("pop").fit(split), split, "valid").means["NDCG@10"]


# ----------------------------------------------------------------------------- MirroredStrategy
@pytest.mark.slow
def test_every_deep_model_trains_under_mirrored_strategy_on_two_logical_cpus():
    out = _python(f"""
        import json
        import numpy as np
        from recsys_lib.distributed import logical_cpus
        devices = logical_cpus(2)
        import tensorflow as tf
        from recsys_lib.registry import make_model
        from recsys_lib.models.training import distributed_batches
        from recsys_lib.testing import block_split as _block_split, deep_models, tiny
        FAST = {{n: tiny(n) for n in deep_models()}}
        strategy = tf.distribute.MirroredStrategy(devices)
        split = _block_split()
        report = {{"replicas": strategy.num_replicas_in_sync}}
        # the input pipeline: whole global batches, split evenly over the replicas
        x = np.arange(103)
        seen, shapes = [], []
        for batch in distributed_batches(x, 10, strategy):
            parts = strategy.experimental_local_results(batch)
            shapes.append([int(p.shape[0]) for p in parts])
            seen += [int(v) for p in parts for v in p.numpy()]
        report["batches"] = shapes
        report["seen"] = sorted(seen)
        for bad in ((np.arange(3), 4), (np.arange(10), 5)):      # < one batch; odd global batch
            try:
                distributed_batches(*bad, strategy)
                report.setdefault("errors", []).append(None)
            except ValueError as e:
                report.setdefault("errors", []).append(str(e))
        for name in {DEEP!r}:
            # a global batch of 16 fits every model's epoch on the small block data (the item-only
            # CNN's epoch is one row per item: 40); under a strategy an epoch needs one whole batch
            kw = dict(FAST[name], batch_size=16)
            model = make_model(name, seed=0, **kw).fit(split, strategy=strategy)
            s = model.score(np.arange(split.num_users), "valid")
            report[name] = [list(s.shape), bool(np.isfinite(s).all()), len(model.history_["epoch"])]
        print(json.dumps(report))
    """)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["batches"] == [[5, 5]] * 10  # 103 -> 10 global batches of 10
    assert report["seen"] == list(range(100))  # each kept example exactly once
    assert "fewer examples" in report["errors"][0] and "not divisible" in report["errors"][1]
    split = _block_split()
    for name in DEEP:
        shape, finite, checks = report[name]
        assert shape == [split.num_users, split.num_items] and finite and checks >= 1, name


def test_cluster_helpers():
    ports = free_ports(3)
    assert len(set(ports)) == 3
    cfg = json.loads(tf_config(ports, 1))
    assert cfg["task"] == {"type": "worker", "index": 1}
    assert cfg["cluster"]["worker"] == [f"127.0.0.1:{p}" for p in ports]
    with pytest.raises(ValueError):
        tf_config(ports, 3)
    import tensorflow as tf

    tf.constant(1.0)  # TensorFlow is running now
    with pytest.raises(RuntimeError, match="first thing"):
        logical_cpus(3)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, step",
    [
        ("bpr", "train"),
        ("gru4rec", "train"),
        ("cfgan", "d"),
        ("cfgan", "g"),
        ("cnn-item-only", "train"),
        ("caser", "train"),
    ],
)
def test_one_step_on_two_replicas_equals_one_step_on_one_device(name, step):
    """The claim the loop rests on: with replica-scaled gradients, one step under
    MirroredStrategy over 2 logical CPUs is the single-device step on the same global batch
    (dropout off, since each replica draws its own masks)."""
    out = _python(f"""
        import json
        import numpy as np
        from recsys_lib.distributed import logical_cpus
        devices = logical_cpus(2)
        import tensorflow as tf
        from recsys_lib.registry import make_model
        from recsys_lib.testing import block_split, tiny
        split, B, name, step = block_split(), 32, {name!r}, {step!r}
        kw = tiny(name, batch_size=B, **({{"dropout": 0.0}} if name in ("gru4rec", "caser") else {{}}))

        def one_batch(m):
            if name == "bpr":
                return (m._users[:B], m._pos[:B], (m._pos[:B] + 1) % m.num_items_)
            if name == "gru4rec":
                return (m.windows_[:B], m.targets_[:B], m.weights_[:B])
            if name == "cnn-item-only":
                return (m.features_[:B][..., None], np.linspace(0, 1, B).astype(np.float32),
                        np.linspace(0.5, 2, B).astype(np.float32))
            if name == "caser":
                return (m.users_[:B], m.windows_[:B], m.targets_[:B], np.zeros((B, 1), np.int32))
            R = m._R[:B]
            half = (np.arange(R.size).reshape(R.shape) % 2).astype(np.float32)
            return (R, half) if step == "d" else (R, half, 1 - half)

        runs = []
        for strategy in (None, tf.distribute.MirroredStrategy(devices)):
            m = make_model(name, seed=0, **kw).setup(split, strategy)
            before = m.network_weights()
            losses = m._fit_batches(m._batches(one_batch(m)), step)
            runs.append((before, m.network_weights(), losses))
        (b0, a0, l0), (b1, a1, l1) = runs
        flat = lambda w: [x for k in sorted(w) for x in w[k]]
        print(json.dumps({{
            "same_start": all(np.array_equal(x, y) for x, y in zip(flat(b0), flat(b1))),
            "moved": max(float(np.abs(x - y).max()) for x, y in zip(flat(a0), flat(b0))),
            "gap": max(float(np.abs(x - y).max()) for x, y in zip(flat(a0), flat(a1))),
            "loss_gap": max(abs(l0[k] - l1[k]) for k in l0)}}))
    """)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["same_start"]
    assert r["moved"] > 1e-4  # the step did change the weights
    assert r["gap"] < 1e-6, r  # ... by the same amount on 2 replicas
    assert r["loss_gap"] < 1e-5, r


@pytest.mark.slow
def test_failed_worker_is_reported():
    with pytest.raises(RuntimeError, match="multi-worker training failed"):
        run_local_cluster("no-such-model", workers=2, timeout=300)
