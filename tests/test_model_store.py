"""Stored models come back identical, only when their fingerprint matches, and never half-written."""
import numpy as np
import pytest

from recsys_lib.model_store import fitted_model, load_model, save_model, store_dir
from recsys_lib.testing import block_split as _block_split, deep_models, tiny
FAST = {n: tiny(n) for n in deep_models()}


@pytest.fixture(autouse=True)
def own_store(tmp_path, monkeypatch):
    """These tests write, corrupt and delete stored files: a store of their own, not the one the
    suite's workers share."""
    monkeypatch.setenv("RECSYS_MODELS", str(tmp_path / "models"))


@pytest.mark.parametrize("name", ["bpr", "sasrec"] + [pytest.param(n, marks=pytest.mark.slow)
                                                       for n in ("gru4rec", "caser", "cfgan", "bert4rec")])
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
    path.write_bytes(path.read_bytes()[:100])                 # truncated
    assert load_model("bpr", split, seed=3, overrides=FAST["bpr"]) is None
    assert not path.exists()
    assert not list(store_dir().glob("*.tmp"))


def test_models_without_weights_are_trained_not_stored():
    split = _block_split()
    model = fitted_model("ease", split)
    assert model.score(np.array([0])).shape == (1, split.num_items)
    assert save_model(model, "ease", split) is None
    assert load_model("ease", split) is None
