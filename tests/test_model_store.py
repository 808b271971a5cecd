"""Stored models come back identical, only when their fingerprint matches, and never half-written."""

import numpy as np
import pytest

from recsys_lib.model_store import (
    PUBLISH_CAP_MB,
    fitted_model,
    load_model,
    publish,
    published_dir,
    save_model,
    store_dir,
    usage,
)
from recsys_lib.testing import block_split as _block_split
from recsys_lib.testing import deep_models, tiny

FAST = {n: tiny(n) for n in deep_models()}


@pytest.fixture(autouse=True)
def own_store(tmp_path, monkeypatch):
    """These tests write, corrupt and delete stored files: a store of their own, not the one the
    suite's workers share."""
    monkeypatch.setenv("RECSYS_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("RECSYS_PUBLISHED_MODELS", str(tmp_path / "published"))


@pytest.mark.parametrize(
    "name",
    ["bpr", "sasrec"]
    + [pytest.param(n, marks=pytest.mark.slow) for n in ("gru4rec", "caser", "cfgan", "bert4rec")],
)
def test_a_restored_model_scores_exactly_like_the_trained_one(name):
    split = _block_split()
    hp = FAST[name]
    trained = fitted_model(name, split, seed=0, overrides=hp)
    assert trained.restored_from_store_ is False
    restored = load_model(name, split, seed=0, overrides=hp)
    assert restored is not None and restored.restored_from_store_
    users = np.arange(split.num_users)
    for which in ("valid", "test"):
        np.testing.assert_array_equal(restored.score(users, which), trained.score(users, which))
    assert restored.history_ == {k: list(v) for k, v in trained.history_.items()}
    assert restored.best_epoch_ == trained.best_epoch_
    assert fitted_model(name, split, seed=0, overrides=hp).restored_from_store_


def test_other_settings_seeds_or_data_are_not_served_from_the_store():
    split = _block_split()
    fitted_model("bpr", split, seed=0, overrides=FAST["bpr"])
    assert load_model("bpr", split, seed=1, overrides=FAST["bpr"]) is None
    assert load_model("bpr", split, seed=0, overrides={**FAST["bpr"], "dim": 4}) is None
    assert load_model("bpr", _block_split(seed=1), seed=0, overrides=FAST["bpr"]) is None


def test_a_corrupt_file_is_ignored_and_removed():
    split = _block_split()
    model = fitted_model("bpr", split, seed=3, overrides=FAST["bpr"])
    path = save_model(model, "bpr", split, seed=3, overrides=FAST["bpr"])
    path.write_bytes(path.read_bytes()[:100])  # truncated
    assert load_model("bpr", split, seed=3, overrides=FAST["bpr"]) is None
    assert not path.exists()
    assert not list(store_dir().glob("*.tmp"))


def test_models_without_weights_are_trained_not_stored():
    split = _block_split()
    model = fitted_model("ease", split)
    assert model.score(np.array([0])).shape == (1, split.num_items)
    assert save_model(model, "ease", split) is None
    assert load_model("ease", split) is None


@pytest.mark.slow  # trains three small models; make test runs it, make test-fast (3 min) does not
def test_a_chapter_run_restores_a_stored_model_with_its_record_and_trains_only_without_it(
    tmp_path, monkeypatch
):
    """``trained_model``: with the record and the model stored, nothing trains and the record is
    the stored one; with the store emptied (a fresh clone), the model trains here once and the
    record it makes has the stored record's metrics."""
    import shutil

    from recsys_lib.experiment import cached_experiment, trained_model

    monkeypatch.setenv("RECSYS_RESULTS", str(tmp_path / "results"))
    split, hp = _block_split(), FAST["bpr"]
    stored = cached_experiment("bpr", split, seed=0, overrides=hp)  # record + stored model
    rec, model = trained_model("bpr", split, seed=0, overrides=hp)
    assert model.restored_from_store_ and rec["cached"]
    assert rec["test"] == stored["test"] and rec["fingerprint"] == stored["fingerprint"]
    shutil.rmtree(store_dir())
    rec, model = trained_model("bpr", split, seed=0, overrides=hp)
    assert not model.restored_from_store_ and not rec["cached"]
    assert rec["test"] == stored["test"] and rec["valid"] == stored["valid"]
    # the stored record's figures stay the one value (its time too); this run's time beside
    assert rec["train_seconds"] == stored["train_seconds"] and rec["reproduced"]
    assert rec["retrained_seconds"] > 0
    assert load_model("bpr", split, seed=0, overrides=hp) is not None  # stored for next time
    # no current record (other settings): trained, never served a stale record
    rec, model = trained_model("bpr", split, seed=0, overrides={**hp, "dim": 4})
    assert not model.restored_from_store_ and rec["config"]["dim"] == 4
    # a model with no weights to store is refitted, and comes with its stored record
    ease = cached_experiment("ease", split)
    rec, model = trained_model("ease", split)
    assert (
        rec["cached"] and not rec.get("restored") and rec["train_seconds"] == ease["train_seconds"]
    )
    assert model.score(np.array([0])).shape == (1, split.num_items)


def test_published_weights_serve_a_fresh_clone_and_publishing_keeps_exactly_the_used_files(
    tmp_path, monkeypatch
):
    """A fresh clone (empty store) restores the committed weights; ``publish`` copies the files
    named and removes the rest; the usage log names every file loaded or saved; corrupt
    committed weights are an error, never deleted. One small model, trained once."""
    import shutil

    log = tmp_path / "usage.txt"
    monkeypatch.setenv("RECSYS_STORE_USAGE", str(log))
    split, hp = _block_split(), FAST["bpr"]
    trained = fitted_model("bpr", split, seed=0, overrides=hp)
    (name,) = usage(log)
    assert name.startswith("bpr-seed0-")
    stale = published_dir() / "bpr-seed9-0000000000000000.npz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    done = publish([name])
    assert done["copied"] == [name] and done["removed"] == [stale.name] and done["files"] == 1
    assert publish([name], cap_mb=1e-4)["left_out"] == {name: "0.0 MB, above the 0.0001 MB cap"}
    assert not (published_dir() / name).exists()  # above the cap: not committed
    publish([name])
    assert sorted(p.name for p in published_dir().iterdir()) == ["MANIFEST.json", name]
    assert publish([name])["copied"] == []  # already there
    shutil.rmtree(store_dir())  # a fresh clone
    log.unlink()
    restored = load_model("bpr", split, seed=0, overrides=hp)
    assert restored is not None and restored.restored_from_store_ and usage(log) == [name]
    users = np.arange(split.num_users)
    np.testing.assert_array_equal(restored.score(users, "test"), trained.score(users, "test"))
    assert load_model("bpr", split, seed=1, overrides=hp) is None  # not published
    with pytest.raises(FileNotFoundError, match="bpr-seed7"):
        publish([name, "bpr-seed7-0000000000000000.npz"])
    committed = published_dir() / name
    good = committed.read_bytes()
    committed.write_bytes(good[:100])  # corrupt committed weights: an error, not deleted
    with pytest.raises(RuntimeError, match="cannot be read.*restore them with git"):
        load_model("bpr", split, seed=0, overrides=hp)
    assert committed.exists()
    committed.write_bytes(good)
    monkeypatch.setenv("RECSYS_PUBLISHED_MODELS", "0")  # train everything
    assert published_dir() is None and load_model("bpr", split, seed=0, overrides=hp) is None


ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "results" / "models"


def test_the_committed_weights_are_exactly_the_ones_the_executed_book_used():
    """No stale file bloats the repository, and none the book restores is missing (a fresh
    clone would train it again): ``python -m recsys_lib.book publish-models`` keeps them so."""
    import json

    from recsys_lib.book import models_used

    used = models_used()
    assert used, "the run log lists no models: run the book, then publish-models"
    manifest = json.loads((COMMITTED / "MANIFEST.json").read_text())
    assert sorted(p.name for p in COMMITTED.glob("*.npz")) == manifest["published"]
    assert sorted(manifest["published"] + list(manifest["left_out"])) == used
    assert all(p.stat().st_size <= PUBLISH_CAP_MB * 1e6 for p in COMMITTED.glob("*.npz"))


@pytest.mark.slow
def test_committed_weights_are_what_training_produces_today(ml100k_split, monkeypatch, tmp_path):
    """BPR's seed 0, retrained here from nothing, has the committed file's arrays to the bit."""
    import json

    fp = json.loads((ROOT / "results" / "ml-100k" / "bpr.json").read_text())["fingerprint"]
    path = COMMITTED / f"bpr-seed0-{fp}.npz"
    assert path.exists(), "the book restores BPR's seed 0: publish it"
    monkeypatch.setenv("RECSYS_PUBLISHED_MODELS", "0")
    model = fitted_model("bpr", ml100k_split, seed=0)
    assert not model.restored_from_store_
    mine = store_dir() / path.name
    assert mine.exists(), "retrained under another fingerprint: the record is stale"
    with np.load(mine) as a, np.load(path) as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            if k != "meta":
                np.testing.assert_array_equal(a[k], b[k], err_msg=k)
