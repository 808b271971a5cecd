"""Chapter 6: the minimal GAN and CFGAN train what they claim, and reject bad input."""

import numpy as np
import pandas as pd
import pytest

from recsys_lib.metrics import evaluate
from recsys_lib.models import Popularity
from recsys_lib.models.gan import CFGAN, VectorGAN, genre_preferences, mmd_rbf, zp_masks
from recsys_lib.testing import block_split as _block_split


# ----------------------------------------------------------------------------- data + measure
def test_genre_preferences_by_hand():
    genres = np.array([[1, 0], [1, 1], [0, 1]])
    df = pd.DataFrame({"user_id": [0, 0, 1, 1, 1], "item_id": [0, 1, 0, 1, 2]})
    prefs = genre_preferences(df, genres)
    np.testing.assert_allclose(prefs, [[1.0, 0.5], [2 / 3, 2 / 3]])


@pytest.mark.parametrize(
    "df, match",
    [
        (pd.DataFrame({"user_id": [], "item_id": []}), "no interactions"),
        (pd.DataFrame({"user_id": [0]}), "item_id"),
        (pd.DataFrame({"user_id": [1], "item_id": [0]}), "user 0 has no interactions"),
        (pd.DataFrame({"user_id": [0], "item_id": [7]}), "item codes"),
    ],
)
def test_genre_preferences_rejects_bad_input(df, match):
    with pytest.raises(ValueError, match=match):
        genre_preferences(df, np.eye(3))


def test_mmd_is_near_zero_for_one_distribution_and_large_for_two():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 3)), rng.normal(size=(300, 3))
    assert abs(mmd_rbf(a, b)) < 0.01
    assert mmd_rbf(a, b + 2.0) > 0.3
    with pytest.raises(ValueError, match="columns"):
        mmd_rbf(a, b[:, :2])
    with pytest.raises(ValueError, match="two rows"):
        mmd_rbf(a[:1], b)


# ----------------------------------------------------------------------------- minimal GAN
def _changed(before, after):
    return max(float(np.abs(x - y).max()) for x, y in zip(before, after))


def test_each_gan_step_updates_only_its_own_network():
    gan = VectorGAN(dim=3, noise_dim=2, hidden=8, seed=0)
    real = np.full((16, 3), 0.5, dtype=np.float32)
    g0, d0 = gan.generator.get_weights(), gan.discriminator.get_weights()
    gan.d_step(real)
    assert _changed(d0, gan.discriminator.get_weights()) > 0
    assert _changed(g0, gan.generator.get_weights()) == 0
    g1, d1 = gan.generator.get_weights(), gan.discriminator.get_weights()
    gan.g_step(16)
    assert _changed(g1, gan.generator.get_weights()) > 0
    assert _changed(d1, gan.discriminator.get_weights()) == 0


def test_discriminator_learns_real_is_one_generated_is_zero():
    gan = VectorGAN(dim=4, noise_dim=2, hidden=16, lr=1e-2, seed=0)
    real = np.ones((32, 4), dtype=np.float32)  # far from the untrained G's ~0.5
    for _ in range(50):
        _, d_real, d_fake = gan.d_step(real)
    assert float(d_real) > 0.9 and float(d_fake) < 0.1


@pytest.mark.slow  # a learning/extension check that trains; make test runs it, make test-fast (3 min) does not
def test_gan_learns_a_simple_distribution():
    rng = np.random.default_rng(0)
    means = np.array([0.85, 0.15, 0.5])
    data = np.clip(rng.normal(means, 0.05, size=(500, 3)), 0, 1)
    gan = VectorGAN(dim=3, noise_dim=4, hidden=32, lr=1e-3, ema=0.99, seed=0)
    hist = gan.fit(data, steps=1500, batch_size=64, log_every=500)
    assert len(hist["d_loss"]) == len(hist["g_loss"]) == 1500
    assert hist["mmd_step"] == [1, 500, 1000, 1500]
    sample = gan.sample(500, averaged=True)
    assert sample.shape == (500, 3)
    np.testing.assert_allclose(sample.mean(0), means, atol=0.1)
    assert hist["mmd_avg"][-1] < hist["mmd_avg"][0] / 5


@pytest.mark.parametrize(
    "data, match",
    [
        (np.zeros((10, 2)), "shape"),
        (np.full((10, 3), 2.0), r"\[0, 1\]"),
        (np.full((1, 3), 0.5), "two rows"),
    ],
)
def test_gan_rejects_bad_data(data, match):
    with pytest.raises(ValueError, match=match):
        VectorGAN(dim=3).fit(data, steps=1)


# ----------------------------------------------------------------------------- CFGAN
def test_zp_masks_sample_only_unseen_items_at_the_given_rates():
    rng = np.random.default_rng(0)
    seen = (rng.random((200, 300)) < 0.1).astype(np.float32)
    zr, pm = zp_masks(seen, 0.3, 0.7, rng)
    assert zr.shape == pm.shape == seen.shape
    assert not (zr * seen).any() and not (pm * seen).any()
    unseen = seen == 0
    assert abs(zr[unseen].mean() - 0.3) < 0.01 and abs(pm[unseen].mean() - 0.7) < 0.01
    assert (zr != pm).any()  # drawn independently
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        zp_masks(seen, 1.5, 0.5, rng)


def test_cfgan_learns_the_taste_groups():
    split = _block_split()
    model = CFGAN(
        hidden=32, epochs=60, eval_every=5, patience=4, batch_size=16, lr=3e-3, seed=0
    ).fit(split)
    res = evaluate(model, split, "valid")
    pop = evaluate(Popularity().fit(split), split, "valid")
    assert res.means["HR@10"] > pop.means["HR@10"] + 0.2
    top = res.topk[:, :5]
    assert ((top < 20) == (res.users[:, None] < 30)).mean() > 0.9
    for key in ("d_loss", "g_loss", "zr_loss"):
        assert len(model.history_[key]) == model.history_["epoch"][-1]
    assert model.generate(np.array([0, 1])).shape == (2, split.num_items)


@pytest.mark.slow  # a learning/extension check that trains; make test runs it, make test-fast (3 min) does not
def test_without_masking_the_generator_fills_every_item():
    """The paper's motivation for ZP: judged only on the user's own items, G can say 1 everywhere."""
    split = _block_split()
    seen = split.train_matrix().toarray() > 0
    plain = CFGAN(
        hidden=32, alpha=0.0, s=0.0, epochs=40, eval_every=40, batch_size=16, lr=3e-3, seed=0
    ).fit(split)
    zp = CFGAN(
        hidden=32, alpha=1.0, s=0.7, epochs=40, eval_every=40, batch_size=16, lr=3e-3, seed=0
    ).fit(split)
    users = np.arange(split.num_users)
    out_plain, out_zp = plain.generate(users), zp.generate(users)
    assert out_plain[~seen].mean() > 0.8  # unseen items pushed up with the seen
    assert out_zp[~seen].mean() < 0.5 * out_plain[~seen].mean()
    assert out_zp[seen].mean() > out_zp[~seen].mean()


def test_cfgan_rejects_bad_settings():
    with pytest.raises(ValueError):
        CFGAN(s=1.5)
    with pytest.raises(ValueError):
        CFGAN(alpha=-1)
