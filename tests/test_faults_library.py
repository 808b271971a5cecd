"""Faults of the model layer, the cache, the model store and the command lines: each one gives
the right result or a clear error, and nothing half-written is left on disk."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recsys_lib.io import atomic_file, write_json
from recsys_lib.registry import MODELS, make_model
from recsys_lib.testing import block_split, fitted_tiny, tiny

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- codes
@pytest.fixture(scope="module")
def fitted():
    split = block_split()
    return split, {n: fitted_tiny(n, split) for n in MODELS}


@pytest.mark.parametrize(
    "bad, match",
    [
        ([1.7], "not an integer"),
        ([True], "boolean"),
        ([np.nan], "NaN|not an integer|finite"),
        ([-1], "0..59"),
        ([60], "0..59"),
        ([[0, 1]], "1-D"),
    ],
)
def test_every_model_refuses_users_that_are_not_codes(fitted, bad, match):
    split, models = fitted
    for name, model in models.items():
        with pytest.raises(ValueError, match=match):
            model.score(bad)
        assert model.score([1.0]).shape == (1, split.num_items), name  # 1.0 is code 1


def test_which_must_be_valid_or_test(fitted):
    _, models = fitted
    for name in ("markov", "gru4rec", "caser"):
        with pytest.raises(ValueError, match="which must be"):
            models[name].score([0], which="train")


def test_seed_must_be_a_non_negative_integer():
    for bad in (-1, 1.5, True, "0"):
        with pytest.raises(ValueError, match="seed"):
            make_model("bpr", seed=bad)


# ----------------------------------------------------------------------------- writes
def _write_many(args):
    path, k = args
    for i in range(25):
        write_json({"writer": k, "i": i, "pad": "x" * 2000}, Path(path))
    return True


def test_parallel_writers_of_one_record_never_collide(tmp_path):
    path = tmp_path / "record.json"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert all(pool.map(_write_many, [(str(path), k) for k in range(8)]))
    assert json.loads(path.read_text())["i"] == 24
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]  # no temporary left


def test_an_interrupted_write_leaves_the_old_file_and_nothing_else(tmp_path):
    path = tmp_path / "x.json"
    write_json({"v": 1}, path)
    with pytest.raises(RuntimeError):
        with atomic_file(path, "w") as f:
            f.write('{"v": 2')
            raise RuntimeError("killed mid-write")
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


# ----------------------------------------------------------------------------- cache + store
def test_a_record_that_is_not_an_object_is_retrained(tmp_path, monkeypatch):
    from recsys_lib.experiment import cached_experiment, record_path

    monkeypatch.setenv("RECSYS_RESULTS", str(tmp_path))
    split = block_split()
    for junk in ("[1, 2]", "null", '"text"', "{not json", "\x00\xff"):
        path = record_path("ease", 0, "toy")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(junk, errors="surrogateescape") if junk.isprintable() else path.write_bytes(
            junk.encode("latin-1")
        )
        rec = cached_experiment("ease", split, seed=0, dataset="toy")
        assert rec["cached"] is False and json.loads(path.read_text())["model"] == "ease"


def test_another_models_weights_under_this_name_are_not_loaded(tmp_path, monkeypatch):
    from recsys_lib import model_store
    from recsys_lib.keys import fingerprint

    monkeypatch.setenv("RECSYS_MODELS", str(tmp_path))
    split = block_split()
    kw = tiny("gru4rec")
    trained = model_store.fitted_model("caser", split, 0, tiny("caser"))
    target = model_store.store_path("gru4rec", 0, fingerprint("gru4rec", split, 0, kw))
    model_store.save_model(trained, "caser", split, 0, tiny("caser")).rename(target)
    assert model_store.load_model("gru4rec", split, 0, kw) is None  # refused, not a raw error
    assert not target.exists()


# ----------------------------------------------------------------------------- command lines
def _cli(*args, module="recsys_lib", timeout=300):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "args, match",
    [
        (["train", "no-such-model"], "unknown model"),
        (["train", "bpr", "--dataset", "ml-20m"], "unknown dataset"),
        (["train", "bpr", "--hyperparameters", "{bad"], "not valid JSON"),
        (["train", "bpr", "--hyperparameters", "[1]"], "must be a JSON object"),
        (["train", "bpr", "--hyperparameters", '{"dim": 0}'], "dim must be >= 1"),
        (["train", "pop"], "does not train with TensorFlow"),
        (["train", "bpr", "--logical-cpus", "0"], "at least 1"),
    ],
)
def test_distributed_cli_checks_its_arguments_before_any_data_loads(
    args, match, capsys, monkeypatch
):
    from recsys_lib import distributed, experiment

    def no_data(*a, **k):
        raise AssertionError("data was loaded before the arguments were checked")

    monkeypatch.setattr(experiment, "load_split", no_data)
    with pytest.raises(SystemExit) as exit_:
        distributed.main(args[:1] + args[1:])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and match in err and "Traceback" not in err, err


def test_report_rejects_an_unknown_model_before_training_any(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "recsys_lib", "report", "pop", "foo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "RECSYS_RESULTS": str(tmp_path)},
    )
    assert out.returncode == 1 and "unknown model 'foo'" in out.stderr
    assert "training" not in out.stderr and not any(tmp_path.rglob("*.json"))


def test_help_describes_every_argument(capsys):
    from recsys_lib.cli import build_parser

    for cmd in ("evaluate", "tune", "report"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([cmd, "--help"])
        text = capsys.readouterr().out
        for word in ("--seed", "--dataset", "MODEL", "gru4rec"):
            assert word in text, (cmd, word)


def test_cli_settings_read_booleans_numbers_and_strings():
    from recsys_lib.cli import parse_overrides

    assert parse_overrides(["stream=True", "dim=64", "loss=bce", "stride=none", "lr=1e-3"]) == {
        "stream": True,
        "dim": 64,
        "loss": "bce",
        "stride": None,
        "lr": 1e-3,
    }


def test_records_are_readable_by_everyone(tmp_path):
    import os
    import stat

    write_json({"a": 1}, tmp_path / "r.json")
    mode = stat.S_IMODE(os.stat(tmp_path / "r.json").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_evaluate_rejects_a_bad_setting_before_loading_data(capsys, monkeypatch):
    from recsys_lib import experiment
    from recsys_lib.cli import main

    monkeypatch.setattr(experiment, "load_split", lambda *a, **k: pytest.fail("data loaded"))
    assert main(["evaluate", "ease", "--set", "l2=-1"]) == 1
    assert "l2 must be > 0" in capsys.readouterr().err
    assert main(["evaluate", "ease", "--set", "l2"]) == 1
    assert "NAME=VALUE" in capsys.readouterr().err
