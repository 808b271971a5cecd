"""Serving: every model's compiled top 10 is the top 10 its own scores give, and the timing
helper measures what it says."""

import numpy as np
import pytest

from recsys_lib.registry import MODELS
from recsys_lib.serving import eager_top10, time_top10, top10_function
from recsys_lib.testing import block_split, fitted_tiny

# make test-fast keeps one model of each serving path (NumPy, refit twin's product, the
# window through the network, the generator); make test serves every model
FAST_PATHS = {"ease", "bpr", "gru4rec", "cfgan"}


@pytest.mark.parametrize(
    "name",
    [
        n
        if n in FAST_PATHS or not MODELS[n].model_class().uses_tensorflow
        else pytest.param(n, marks=pytest.mark.slow)
        for n in sorted(MODELS)
    ],
)
def test_the_served_top10_is_the_top10_of_the_models_own_scores(name):
    split = block_split()
    model = fitted_tiny(name, split)
    users = np.array([0, 7, 31, 59])
    for which in ("valid", "test"):
        prepare, top10, how = top10_function(model, which)
        got = top10(*prepare(users))
        assert got.shape == (len(users), 10) and how
        scores = model.score(users, which)
        want = np.sort(scores, axis=1)[:, ::-1][:, :10]
        # the same scores in the same order (float32 graphs may order exact ties differently)
        np.testing.assert_allclose(np.take_along_axis(scores, got, 1), want, rtol=1e-5, atol=1e-6)
        eager = eager_top10(model, which)
        np.testing.assert_allclose(
            np.take_along_axis(scores, eager[1](*eager[0](users)), 1), want, rtol=1e-6, atol=1e-7
        )


@pytest.mark.slow
def test_the_keras_models_are_served_by_a_compiled_graph():
    split = block_split()
    for name in ("bpr", "gru4rec", "caser", "cfgan", "sasrec", "cnn-item-only", "cnn-content"):
        _, _, how = top10_function(fitted_tiny(name, split), "test")
        assert how.startswith("compiled tf.function"), (name, how)
    assert top10_function(fitted_tiny("ease", split), "test")[2].startswith("NumPy")


def test_time_top10_counts_every_user():
    calls = []
    prepare = lambda users: (users,)  # noqa: E731
    top10 = lambda u: calls.append(len(u)) or np.zeros((len(u), 10))  # noqa: E731
    out = time_top10(prepare, top10, np.arange(7), np.arange(600), batch=256)
    assert set(out) == {"p50 ms/user", "p95 ms/user", "batch users/s"}
    assert all(v > 0 for v in out.values())
    assert calls == [1] * 5 + [256] + [1] * 7 + [256, 256, 88]
