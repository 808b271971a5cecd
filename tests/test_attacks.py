"""Push attacks (``recsys_lib.attacks``): the fake profiles, their effect and the detector."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from recsys_lib.attacks import (
    BANDWAGON_POOL,
    profile_outliers,
    push_profiles,
    target_hit_rate,
    with_profiles,
)
from recsys_lib.models.rnn import Markov
from recsys_lib.testing import block_split


@pytest.mark.parametrize("kind", ["random", "average", "bandwagon"])
def test_each_fake_profile_has_distinct_filler_then_the_target_rated_five(kind):
    split = block_split()
    fakes = push_profiles(split, target=25, n_profiles=4, filler=6, kind=kind, seed=1)
    assert len(fakes) == 4 * 7
    assert sorted(fakes.user_id.unique()) == list(range(split.num_users, split.num_users + 4))
    assert fakes.timestamp.min() > split.train.timestamp.max()  # after the training period
    for _, prof in fakes.groupby("user_id"):
        prof = prof.sort_values("timestamp")
        assert prof.item_id.iloc[-1] == 25 and prof.rating.iloc[-1] == 5
        filler = prof.item_id.iloc[:-1]
        assert filler.is_unique and 25 not in set(filler)
        assert prof.rating.between(1, 5).all()
    assert list(fakes.columns) == ["user_id", "item_id", "rating", "timestamp"]


def test_bandwagon_filler_comes_from_the_most_popular_films(ml100k_split):
    fakes = push_profiles(ml100k_split, target=1000, n_profiles=20, filler=30, kind="bandwagon")
    counts = np.bincount(ml100k_split.train.item_id, minlength=ml100k_split.num_items)
    counts[1000] = -1
    pool = set(np.argsort(-counts, kind="stable")[:BANDWAGON_POOL])
    filler = fakes[fakes.item_id != 1000].item_id
    assert set(filler) <= pool
    assert (fakes[fakes.item_id != 1000].rating == 5).all()


def test_the_average_attack_is_the_random_attack_to_a_model_that_reads_no_ratings():
    split = block_split()
    a, r = (push_profiles(split, 25, 5, 6, kind=k, seed=3) for k in ("average", "random"))
    pd.testing.assert_frame_equal(a[["user_id", "item_id"]], r[["user_id", "item_id"]])


def test_with_profiles_adds_users_to_training_only():
    split = block_split()
    fakes = push_profiles(split, 25, 3, 5, seed=0)
    attacked = with_profiles(split, fakes)
    assert attacked.num_users == split.num_users + 3
    assert len(attacked.train) == len(split.train) + len(fakes)
    pd.testing.assert_frame_equal(attacked.valid, split.valid)
    pd.testing.assert_frame_equal(attacked.test, split.test)
    assert attacked.train_matrix().shape == (split.num_users + 3, split.num_items)
    assert with_profiles(split, fakes.iloc[:0]).num_users == split.num_users


def test_a_push_moves_the_target_into_real_users_top_ten():
    """Block data: users 0..29 see items 0..19 only, so item 25 never reaches them; fake
    profiles that follow group-A films with item 25 teach the Markov chain that step."""
    split = block_split()
    before = target_hit_rate(Markov().fit(split), split, 25, split.num_users)
    fakes = push_profiles(split, 25, n_profiles=30, filler=5, kind="random", seed=0)
    attacked = with_profiles(split, fakes)
    after = target_hit_rate(Markov().fit(attacked), attacked, 25, split.num_users)
    assert after > before + 0.1


class _Fixed:
    """Scores that put item ``top`` first for the users in ``fans``, and item 0 first otherwise."""

    def __init__(self, n_items, top, fans):
        self.n_items, self.top, self.fans = n_items, top, set(fans)

    def score(self, users, which="valid"):
        s = np.tile(-np.arange(self.n_items, dtype=float), (len(users), 1))
        for row, u in enumerate(users):
            if u in self.fans:
                s[row, self.top] = 10.0
        return s


def test_target_hit_rate_by_hand():
    split = block_split()
    users, _ = split.targets("test")
    excl = split.exclusions("test")
    target = 39  # last by default scores, so only a fan gets it
    eligible = [u for u in users if excl[u, target] == 0]
    fans = eligible[:5]
    got = target_hit_rate(_Fixed(split.num_items, target, fans), split, target, split.num_users)
    assert got == pytest.approx(5 / len(eligible))
    # fake users (codes from real_users on) never count, even when they would be hits
    real = int(np.median(eligible))
    n_real_fans = len([u for u in fans if u < real])
    assert target_hit_rate(
        _Fixed(split.num_items, target, fans), split, target, real
    ) == pytest.approx(n_real_fans / len([u for u in eligible if u < real]))


def test_the_detector_catches_both_recipes_and_names_its_false_alarms(ml100k_split):
    real = ml100k_split.num_users
    for kind in ("random", "bandwagon"):
        attacked = with_profiles(
            ml100k_split, push_profiles(ml100k_split, 1000, 40, 30, kind=kind, seed=0)
        )
        out = profile_outliers(attacked, real)
        flagged = out["flagged"]
        assert (flagged >= real).sum() == 40  # every fake caught
        assert (flagged < real).sum() < 0.03 * real  # few real users accused
        assert out["z"].shape == (attacked.num_users,)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "segment"}, "kind must be one of random, average, bandwagon"),
        ({"target": 40}, "target must be an item code below 40"),
        ({"target": -1}, "target must be an integer >= 0"),
        ({"n_profiles": -2}, "n_profiles must be an integer >= 0"),
        ({"n_profiles": True}, "n_profiles must be an integer"),
        ({"filler": 0}, "filler must be an integer >= 1"),
        ({"filler": 40}, "filler must be at most 39 films"),
    ],
)
def test_push_profiles_rejects_bad_input(kwargs, match):
    args = {"target": 25, "n_profiles": 3, "filler": 5, "kind": "random", **kwargs}
    with pytest.raises(ValueError, match=match):
        push_profiles(block_split(), **args)


def test_with_profiles_and_the_detector_reject_bad_input():
    split = block_split()
    fakes = push_profiles(split, 25, 2, 5)
    with pytest.raises(ValueError, match="fake users must have codes from num_users on"):
        with_profiles(split, fakes.assign(user_id=fakes.user_id - 5))
    for z in (0, -1.0, float("nan"), "3"):
        with pytest.raises(ValueError, match="z must be a positive number"):
            profile_outliers(split, split.num_users, z=z)
    with pytest.raises(ValueError, match="real_users must be an integer >= 2"):
        profile_outliers(split, 1)


def test_target_hit_rate_refuses_a_film_every_real_user_has_seen():
    split = block_split(n_users=4, n_items=40)
    rows = pd.DataFrame(
        [(u, 0, 1, -1) for u in range(split.num_users)],
        columns=["user_id", "item_id", "rating", "timestamp"],
    )
    seen = replace(
        split,
        train=pd.concat([split.train, rows.astype(split.train.dtypes)], ignore_index=True),
        _cache={},
    )
    with pytest.raises(ValueError, match="every real user has already seen film 0"):
        target_hit_rate(Markov().fit(seen), seen, 0, seen.num_users)
