"""The attribute attack finds a real signal, finds none in noise, and rejects bad input."""

import numpy as np
import pytest

from recsys_lib.privacy import attribute_attack


def test_attack_recovers_an_attribute_that_the_features_carry():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    x = rng.normal(size=(300, 20))
    x[:, 3] += 4 * y  # one informative column (Bayes accuracy 0.98)
    res = attribute_attack(x, np.where(y == 1, "F", "M"))
    assert res["accuracy"] > 0.9 > res["majority"] + 0.3
    assert len(res["folds"]) == 5


def test_attack_on_noise_is_no_better_than_guessing_the_majority():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 30))
    y = rng.choice(["a", "b", "c"], size=400, p=[0.6, 0.3, 0.1])
    res = attribute_attack(x, y)
    assert abs(res["accuracy"] - res["majority"]) < 0.08
    assert set(res["l2"]) <= {0.1, 1.0, 10.0}


@pytest.mark.parametrize(
    "x, y, match",
    [
        (np.zeros((3, 2)), ["a", "b"], "one row per label"),
        (np.zeros((3, 2)), ["a", "a", "a"], "two classes"),
        (np.full((3, 2), np.nan), ["a", "b", "a"], "NaN"),
    ],
)
def test_attack_rejects_bad_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        attribute_attack(x, y, folds=2)
