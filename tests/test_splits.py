"""Leave-last-out exactly as PROTOCOL.md: stable time order, no leakage."""

import numpy as np
import pandas as pd
import pytest

from recsys_lib.splits import leave_last_out, random_leave_one_out


def test_leave_last_out_by_hand(tiny):
    s = leave_last_out(tiny)
    test = dict(zip(s.test.user_id, s.test.item_id))
    valid = dict(zip(s.valid.user_id, s.valid.item_id))
    assert test == {0: 3, 1: 5, 2: 3}
    # user 1: items 2, 4, 5 share timestamp 15, so the file order decides: 4 then 5
    assert valid == {0: 2, 1: 4, 2: 5}
    assert 3 not in test and 3 not in valid  # two interactions only: all training
    assert len(s.train) + len(s.valid) + len(s.test) == len(tiny)
    assert s.summary()["train"] == 7


def test_sequences_follow_time_and_add_validation_for_test(tiny):
    s = leave_last_out(tiny)
    assert s.sequences("valid")[1].tolist() == [1, 2]
    assert s.sequences("test")[1].tolist() == [1, 2, 4]
    assert s.sequences("test")[3].tolist() == [4, 2]


def test_exclusions(tiny):
    s = leave_last_out(tiny)
    v, t = s.exclusions("valid").toarray(), s.exclusions("test").toarray()
    assert v[0].nonzero()[0].tolist() == [0, 1]
    assert t[0].nonzero()[0].tolist() == [0, 1, 2]  # + the validation item
    with pytest.raises(ValueError, match="which"):
        s.exclusions("train")


def test_requires_encoded_ids(tiny):
    with pytest.raises(ValueError, match="encode_ids"):
        leave_last_out(tiny.assign(item_id=tiny.item_id + 100), num_items=6)


def _assert_no_leakage(df, s):
    d = df.reset_index(drop=True).assign(pos=np.arange(len(df)))
    key = ["user_id", "item_id", "timestamp"]
    train_keys = set(map(tuple, s.train[key].to_numpy()))
    for part in (s.valid, s.test):
        assert not set(map(tuple, part[key].to_numpy())) & train_keys
        assert part.user_id.is_unique
    last = d.sort_values(["user_id", "timestamp", "pos"], kind="stable").groupby("user_id").tail(2)
    for u, g in last.groupby("user_id"):
        if u not in set(s.test.user_id):
            continue
        assert s.test.loc[s.test.user_id == u, "item_id"].item() == g.item_id.iloc[-1]
        assert s.valid.loc[s.valid.user_id == u, "item_id"].item() == g.item_id.iloc[-2]
        t_test = s.test.loc[s.test.user_id == u, "timestamp"].item()
        assert (s.train.loc[s.train.user_id == u, "timestamp"] <= t_test).all()


def test_no_leakage_on_random_frames(rng):
    for _ in range(5):
        n = 300
        df = pd.DataFrame(
            {
                "user_id": rng.integers(0, 20, n),
                "item_id": rng.integers(0, 50, n),
                "rating": 1,
                "timestamp": rng.integers(0, 10, n),
            }
        )  # many ties
        df = df.drop_duplicates(["user_id", "item_id"])
        _assert_no_leakage(df, leave_last_out(df))


def test_random_split_is_seeded(tiny):
    a, b = random_leave_one_out(tiny, seed=1), random_leave_one_out(tiny, seed=1)
    pd.testing.assert_frame_equal(a.test, b.test)
    tests = {tuple(random_leave_one_out(tiny, seed=k).test.item_id) for k in range(10)}
    assert len(tests) > 1  # seeds matter
    assert len(a.train) + len(a.valid) + len(a.test) == len(tiny)


def test_real_split_has_no_leakage(ml100k_split):
    s = ml100k_split
    assert s.summary()["valid"] == s.summary()["test"] == 943
    assert len(s.train) == 100_000 - 2 * 943
    assert s.num_items == 1682
    for part in (s.valid, s.test):
        merged = part.merge(s.train, on=["user_id", "item_id"])
        assert merged.empty
    last_train = s.train.groupby("user_id").timestamp.max()
    assert (s.valid.set_index("user_id").timestamp >= last_train).all()
    assert (s.test.set_index("user_id").timestamp >= s.valid.set_index("user_id").timestamp).all()


def test_hold_out_items_makes_them_cold():
    from recsys_lib.splits import hold_out_items

    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "user_id": rng.integers(0, 30, 600),
            "item_id": rng.integers(0, 20, 600),
            "rating": 1,
            "timestamp": np.arange(600),
        }
    ).drop_duplicates(["user_id", "item_id"])
    split = leave_last_out(df.reset_index(drop=True), num_users=30, num_items=20)
    warm, cold, removed = hold_out_items(split, 4, min_train=5, seed=1)
    assert len(cold) == 4 and len(set(cold)) == 4
    for part in (warm.train, warm.valid, warm.test):
        assert not part.item_id.isin(cold).any()
    assert set(removed.item_id) == set(cold)
    assert len(removed) + len(warm.train) == len(split.train)
    assert warm.num_items == split.num_items and warm.train_matrix()[:, cold].nnz == 0
    with pytest.raises(ValueError, match="n_items"):
        hold_out_items(split, 100)
