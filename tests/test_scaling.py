"""Scaling out, part 2: real ML-100K runs under a strategy and on two workers, checkpoints
that survive a kill, streaming from disk, and approximate retrieval (part 1, the strategies
and their step-for-step equivalence, is test_distributed.py; two files so that the two
pytest workers share them)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from recsys_lib.distributed import checkpoint_epoch, run_local_cluster
from recsys_lib.registry import make_model
from recsys_lib.streaming import read_shards, write_shards
from recsys_lib.testing import block_split as _block_split
from tests.test_distributed import ENV, FAST, ROOT, _popularity_valid_ndcg  # shared helpers


def test_gru4rec_learns_under_mirrored_strategy_on_ml100k(ml100k_split, tmp_path):
    """Acceptance: a deep model under MirroredStrategy over 2 logical CPUs beats Popularity
    on validation NDCG@10."""
    out = tmp_path / "mirrored.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "recsys_lib.distributed",
            "train",
            "gru4rec",
            "--logical-cpus",
            "2",
            "--hyperparameters",
            json.dumps({"epochs": 2, "batch_size": 256}),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=ENV,
        check=True,
        capture_output=True,
        timeout=900,
    )
    rec = json.loads(out.read_text())
    assert rec["replicas"] == 2
    assert rec["valid_NDCG@10"] > _popularity_valid_ndcg(ml100k_split) + 0.01


def test_gru4rec_learns_with_two_workers_on_localhost(ml100k_split):
    """Acceptance: two worker processes on 127.0.0.1 under MultiWorkerMirroredStrategy train
    one model together (identical final weights) that beats Popularity."""
    rec = run_local_cluster(
        "gru4rec", workers=2, overrides={"epochs": 2, "batch_size": 256}, timeout=900
    )
    assert rec["exit_codes"] == [0, 0] and rec["workers"] == 2 and rec["replicas"] == 2
    assert len(set(rec["worker_weights_sha256"])) == 1  # one model, not two
    assert rec["worker_valid_NDCG@10"][0] == rec["worker_valid_NDCG@10"][1]
    assert rec["valid_NDCG@10"] > _popularity_valid_ndcg(ml100k_split) + 0.01


# ----------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize(
    "name",
    [
        "gru4rec",
        pytest.param("cfgan", marks=pytest.mark.slow),
        pytest.param("caser", marks=pytest.mark.slow),
    ],
)
def test_interrupted_fit_resumes_exactly(name, tmp_path):
    """Stop after epoch 2, fit again with the same directory: same history, same weights."""
    split = _block_split()
    kw = dict(FAST[name], epochs=4, eval_every=1, patience=10)
    full = make_model(name, seed=0, **kw).fit(split)

    class Stop(Exception):
        pass

    broken = make_model(name, seed=0, **kw)
    run_epoch = broken._run_epoch

    def stop_at_three(epoch):
        if epoch == 3:
            raise Stop
        return run_epoch(epoch)

    broken._run_epoch = stop_at_three
    with pytest.raises(Stop):
        broken.fit(split, checkpoint_dir=tmp_path)
    resumed = make_model(name, seed=0, **kw).fit(split, checkpoint_dir=tmp_path)
    assert resumed.history_ == {
        **resumed.history_,
        **{k: full.history_[k] for k in ("epoch", "loss", "val_NDCG@10")},
    }
    for k, ws in full.network_weights().items():
        for a, b in zip(ws, resumed.network_weights()[k]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_killed_training_process_resumes_to_the_same_metrics(tmp_path):
    """Kill -9 a training process after its second checkpoint, start it again: the final
    metrics and weights equal those of a run that was never interrupted."""
    hp = json.dumps({"epochs": 6, "eval_every": 1, "patience": 10})
    cmd = [sys.executable, "-m", "recsys_lib.distributed", "train", "bpr", "--hyperparameters", hp]
    subprocess.run(
        cmd + ["--out", str(tmp_path / "full.json")],
        cwd=ROOT,
        env=ENV,
        check=True,
        capture_output=True,
        timeout=600,
    )
    ckpt_dir = tmp_path / "ckpt"
    run = cmd + ["--checkpoint-dir", str(ckpt_dir), "--out", str(tmp_path / "resumed.json")]
    proc = subprocess.Popen(
        run, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 600
    while checkpoint_epoch(ckpt_dir) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = checkpoint_epoch(ckpt_dir)
    assert proc.returncode == -signal.SIGKILL and 2 <= killed_at < 6
    assert not (tmp_path / "resumed.json").exists()
    subprocess.run(run, cwd=ROOT, env=ENV, check=True, capture_output=True, timeout=600)
    full = json.loads((tmp_path / "full.json").read_text())
    resumed = json.loads((tmp_path / "resumed.json").read_text())
    assert checkpoint_epoch(ckpt_dir) == 6
    for key in ("valid_NDCG@10", "valid_HR@10", "best_epoch", "weights_sha256"):
        assert resumed[key] == full[key], key
    assert resumed["history"]["val_NDCG@10"] == full["history"]["val_NDCG@10"]


@pytest.mark.slow  # a learning/extension check that trains; make test runs it, make test-fast (3 min) does not
def test_checkpoint_of_another_setting_or_corrupt_is_refused(tmp_path):
    split = _block_split()
    make_model("gru4rec", seed=0, **FAST["gru4rec"]).fit(split, checkpoint_dir=tmp_path)
    other = make_model("gru4rec", seed=0, **dict(FAST["gru4rec"], units=16))
    with pytest.raises(ValueError, match="another model or setting"):
        other.fit(split, checkpoint_dir=tmp_path)
    (tmp_path / "training-state.npz").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="delete it"):
        make_model("gru4rec", seed=0, **FAST["gru4rec"]).fit(split, checkpoint_dir=tmp_path)


# ----------------------------------------------------------------------------- streaming
def test_shards_round_trip(tmp_path):
    x = np.arange(50, dtype=np.int32).reshape(25, 2)
    y = np.linspace(0, 1, 25).astype(np.float32)
    spec = write_shards(
        ({"x": x[i : i + 10], "y": y[i : i + 10]} for i in range(0, 25, 10)), tmp_path, num_shards=3
    )
    assert spec["count"] == 25 and len(spec["files"]) == 3
    rows = [
        (tuple(a), float(b))
        for xb, yb in read_shards(spec, 4, seed=1)
        for a, b in zip(xb.numpy().tolist(), yb.numpy())
    ]
    assert sorted(rows) == sorted((tuple(a), float(b)) for a, b in zip(x.tolist(), y))
    first = [b[0].numpy().tolist() for b in read_shards(spec, 4, seed=1)]
    again = [b[0].numpy().tolist() for b in read_shards(spec, 4, seed=1)]
    assert first == again  # a seeded epoch order repeats


def test_shards_bad_input_leaves_nothing(tmp_path):
    def broken():
        yield {"x": np.zeros((3, 2), np.int32)}
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_shards(broken(), tmp_path / "a")
    assert not list((tmp_path / "a").glob("*.tfrecord"))  # no shard that looks whole
    with pytest.raises(ValueError, match="no examples"):
        write_shards(iter([]), tmp_path / "b")
    with pytest.raises(ValueError, match="same length"):
        write_shards([{"x": np.zeros(3, np.int32), "y": np.zeros(2, np.int32)}], tmp_path / "c")
    with pytest.raises(ValueError, match="dtype"):
        write_shards([{"x": np.zeros(3, np.float64)}], tmp_path / "d")


@pytest.mark.slow  # a learning/extension check that trains; make test runs it, make test-fast (3 min) does not
def test_streamed_gru4rec_trains_like_the_in_memory_one():
    split = _block_split()
    streamed = make_model("gru4rec", seed=0, stream=True, **FAST["gru4rec"]).fit(split)
    memory = make_model("gru4rec", seed=0, **FAST["gru4rec"]).fit(split)
    assert streamed.stream_spec_["count"] == len(memory.windows_)
    s = streamed.score(np.arange(split.num_users), "test")
    assert s.shape == (split.num_users, split.num_items) and np.isfinite(s).all()


# ----------------------------------------------------------------------------- experiments
def test_strategy_runs_are_separate_results(ml100k_split):
    import tensorflow as tf

    from recsys_lib.experiment import cached_experiment, fingerprint, run_experiment

    default = tf.distribute.get_strategy()
    with pytest.raises(ValueError, match="needs a tag"):
        cached_experiment("gru4rec", ml100k_split, strategy=default)
    with pytest.raises(ValueError, match="takes no strategy"):
        run_experiment("pop", ml100k_split, strategy=default)
    assert fingerprint("gru4rec", ml100k_split, 0, None, "MirroredStrategy x2") != fingerprint(
        "gru4rec", ml100k_split, 0, None
    )


# ----------------------------------------------------------------------------- ANN retrieval
def test_exact_top_k_by_hand():
    from recsys_lib.ann import exact_top_k

    items = np.array([[1, 0], [0, 1], [2, 0], [-1, 0]], np.float32)
    assert exact_top_k(np.array([[1, 0]], np.float32), items, k=2).tolist() == [[2, 0]]
    assert exact_top_k(np.array([[0, 1]], np.float32), items, k=1).tolist() == [[1]]


def test_ivf_is_exact_when_probing_every_cell_and_improves_with_probes():
    from recsys_lib.ann import IVFIndex, exact_top_k, recall_at_k

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, 16))
    items = (centres[rng.integers(0, 8, 2000)] + 0.3 * rng.normal(size=(2000, 16))).astype(
        np.float32
    )
    queries = rng.normal(size=(50, 16)).astype(np.float32)
    exact = exact_top_k(queries, items, k=10)
    index = IVFIndex(n_cells=16, seed=0).fit(items)
    ids, scanned = index.search(queries, k=10, nprobe=16)
    assert scanned == 1.0 and recall_at_k(ids, exact) == 1.0
    recalls = [recall_at_k(index.search(queries, 10, p)[0], exact) for p in (1, 4, 16)]
    assert recalls[0] <= recalls[1] <= recalls[2] and recalls[0] < 1.0
    assert index.search(queries, 10, 1)[1] < 0.25


def test_ann_bad_input():
    from recsys_lib.ann import IVFIndex, exact_top_k

    with pytest.raises(ValueError):
        IVFIndex(n_cells=10).fit(np.zeros((5, 3)))
    with pytest.raises(ValueError):
        exact_top_k(np.zeros((1, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError):
        exact_top_k(np.zeros((1, 2)), np.full((3, 2), np.nan))
    with pytest.raises(RuntimeError):
        IVFIndex().search(np.zeros((1, 2)))
    index = IVFIndex(n_cells=2).fit(np.eye(4, dtype=np.float32))
    with pytest.raises(ValueError):
        index.search(np.zeros((1, 4)), nprobe=3)
