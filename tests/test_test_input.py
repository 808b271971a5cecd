"""The protocol's "What every model sees": at test time every model uses training plus
validation, and at validation time nothing of the validation item reaches any model."""

import numpy as np
import pytest

from recsys_lib.models.training import EarlyStoppingRecommender
from recsys_lib.registry import MODELS, make_model
from recsys_lib.splits import Split
from recsys_lib.testing import block_split, fitted_tiny, tiny

USER = 3


def _moved(split: Split, user: int) -> Split:
    """``split`` with ``user``'s validation item replaced by another item of their group that
    is in neither their training history nor their test row."""
    valid = split.valid.copy()
    row = valid.index[valid.user_id == user][0]
    taken = (
        set(split.train.item_id[split.train.user_id == user])
        | set(split.test.item_id[split.test.user_id == user])
        | {valid.at[row, "item_id"]}
    )
    group = range(0, 20) if user < 30 else range(20, 40)
    valid.at[row, "item_id"] = next(i for i in group if i not in taken)
    out = Split(
        split.train,
        valid,
        split.test,
        split.num_users,
        split.num_items,
        split.idmap,
        split.kind,
        split.items,
    )
    return out


def _fit(name, split):
    return fitted_tiny(name, split)


@pytest.fixture(scope="module")
def splits():
    split = block_split()
    return split, _moved(split, USER)


# every model in the full suite; make test-fast (no slow tests) keeps one deep model of each
# way the validation item gets in (a refit twin: BPR; the input history: GRU4Rec)
@pytest.mark.parametrize(
    "name",
    [
        n
        if n in ("bpr", "gru4rec") or not MODELS[n].model_class().uses_tensorflow
        else pytest.param(n, marks=pytest.mark.slow)
        for n in sorted(MODELS)
    ],
)
def test_the_validation_item_reaches_every_model_at_test_time(name, splits):
    split, moved = splits
    a, b = _fit(name, split), _fit(name, moved)
    users = np.array([USER])
    assert not np.allclose(a.score(users, "test"), b.score(users, "test")), (
        f"{name}'s test scores ignore the user's validation item"
    )


@pytest.mark.parametrize(
    "name",
    sorted(n for n in MODELS if not issubclass(MODELS[n].model_class(), EarlyStoppingRecommender)),
)
def test_the_validation_item_never_reaches_validation_scores(name, splits):
    # early-stopped models choose their epoch on validation, which is the point of it; every
    # other model must give the same validation scores whatever the validation items are
    split, moved = splits
    a, b = _fit(name, split), _fit(name, moved)
    users = np.arange(split.num_users)
    assert np.array_equal(a.score(users, "valid"), b.score(users, "valid"))


def test_a_refit_twin_trains_on_training_plus_validation_for_the_chosen_epochs(splits):
    split, _ = splits
    m = make_model("bpr", seed=0, **tiny("bpr")).fit(split)  # fresh: the twin is inspected
    twin = m.test_model_
    assert twin.epochs == m.best_epoch_ and twin.history_["epoch"] == list(
        range(1, m.best_epoch_ + 1)
    )
    assert twin._users.size == len(split.train) + len(split.valid)
    assert np.array_equal(m.score(np.array([0, 1]), "test"), twin.score(np.array([0, 1])))
    assert "val_NDCG@10" not in twin.history_  # it never saw held-out rows


def test_the_train_plus_valid_split_carries_no_held_out_rows(splits):
    split, _ = splits
    full = split.with_validation_in_train()
    assert len(full.valid) == len(full.test) == 0
    assert len(full.train) == len(split.train) + len(split.valid)
    assert (full.train_matrix() != split.input_matrix("test")).nnz == 0
    with pytest.raises(ValueError, match="empty"):
        from recsys_lib.metrics import evaluate

        evaluate(make_model("pop").fit(full), full, "valid")
