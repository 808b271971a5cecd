"""Shilling attacks: fake profiles injected to push one film, and a detector for them.

A *push attack* (Lam & Riedl, WWW 2004; Mobasher et al., ACM TOIT 2007) adds ``n`` fake users.
Each rates the **target** film highly, plus ``filler`` other films chosen so that the profile
looks real and so that the target ends up next to the films real users have. The attack models
differ in how the filler is chosen and rated:

* ``"random"``: filler films uniformly at random, rated from the data's overall rating
  distribution (mean and standard deviation). Cheap: it needs only global statistics.
* ``"average"``: filler films uniformly at random, each rated near its own mean rating (noise
  with a standard deviation of half a star). It
  needs per-film statistics, and it is built to fool detectors that read ratings.
* ``"bandwagon"``, simplified: every filler film from the ``BANDWAGON_POOL`` most popular ones,
  rated 5 (Mobasher et al.'s profile rates a few popular films highly and fills the rest at
  random; this is its most popular extreme). Popular films are in nearly every real history,
  so the target co-occurs with what real users have.

The recommenders of this book read only *which* films a user rated, never the rating, so the
rating values matter only to a detector that reads them. In each fake history the target comes
last, after the filler in a random order (a sequence model learns the step "filler -> target").
Fake users get the codes ``num_users .. num_users + n - 1``; validation and test stay the real
users' own, so every metric is about real users.

``target_hit_rate`` is the attack's success: the share of real users (those with a test film
who have not seen the target) whose top 10 at test time contains the target.

``profile_outliers`` is one detector: it flags a profile whose films are far more popular, or
far more obscure, than those of real profiles of the same length (bandwagon fillers are too
popular, random fillers too obscure). A real user with unusual taste is flagged too; banning
them, and losing what their history taught the model, is the detector's cost.
"""

from __future__ import annotations

import numbers
from dataclasses import replace

import numpy as np
import pandas as pd

__all__ = ["ATTACKS", "push_profiles", "with_profiles", "target_hit_rate", "profile_outliers"]

#: the attack models of Mobasher et al. (2007), as ``push_profiles`` builds them
ATTACKS = ("random", "average", "bandwagon")
#: how many of the most popular films a bandwagon filler is drawn from
BANDWAGON_POOL = 100


def _count(value, name: str, low: int) -> int:
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Integral)
        or value < low
    ):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def push_profiles(
    split, target: int, n_profiles: int, filler: int, kind: str = "bandwagon", seed: int = 0
) -> pd.DataFrame:
    """The rows of ``n_profiles`` fake users pushing film ``target`` (see the module docstring).

    Columns ``user_id, item_id, rating, timestamp`` like ``split.train``; each fake user has
    ``filler`` distinct filler films, then the target, one second apart, after the end of the
    training period. ``n_profiles = 0`` gives no rows.
    """
    if kind not in ATTACKS:
        raise ValueError(f"kind must be one of {', '.join(ATTACKS)}, got {kind!r}")
    target = _count(target, "target", 0)
    if target >= split.num_items:
        raise ValueError(f"target must be an item code below {split.num_items}, got {target}")
    n_profiles = _count(n_profiles, "n_profiles", 0)
    filler = _count(filler, "filler", 1)
    train = split.train
    others = np.setdiff1d(np.arange(split.num_items), [target])
    pool = others
    if kind == "bandwagon":
        counts = np.bincount(train.item_id.to_numpy(), minlength=split.num_items)
        counts[target] = -1
        pool = np.argsort(-counts, kind="stable")[: max(BANDWAGON_POOL, filler)]
    if filler > len(pool):
        raise ValueError(f"filler must be at most {len(pool)} films, got {filler}")
    rng = np.random.default_rng(seed)
    ratings = train.rating.to_numpy(np.float64)
    item_mean = pd.Series(ratings).groupby(train.item_id.to_numpy()).mean()
    rows, start = [], int(train.timestamp.max()) + 1
    for j in range(n_profiles):
        items = rng.choice(pool, filler, replace=False)
        if kind == "random":
            r = rng.normal(ratings.mean(), ratings.std(), filler)
        elif kind == "average":
            r = item_mean.reindex(items).fillna(ratings.mean()).to_numpy() + rng.normal(
                0, 0.5, filler
            )
        else:
            r = np.full(filler, 5.0)
        r = np.clip(np.rint(r), 1, 5)
        user = split.num_users + j
        t0 = start + j * (filler + 1)
        rows.append(
            pd.DataFrame(
                {
                    "user_id": user,
                    "item_id": np.append(items, target),
                    "rating": np.append(r, 5.0).astype(train.rating.dtype),
                    "timestamp": t0 + np.arange(filler + 1),
                }
            )
        )
    if not rows:
        return train.iloc[:0][["user_id", "item_id", "rating", "timestamp"]].copy()
    out = pd.concat(rows, ignore_index=True)
    return out.astype({c: train[c].dtype for c in ("user_id", "item_id", "timestamp")})


def with_profiles(split, fakes: pd.DataFrame):
    """``split`` with the fake rows added to training, and room for their users; validation and
    test are unchanged, so they hold real users only."""
    extra = int(fakes.user_id.max()) + 1 - split.num_users if len(fakes) else 0
    if len(fakes) and fakes.user_id.min() < split.num_users:
        raise ValueError("fake users must have codes from num_users on, after the real users")
    train = pd.concat([split.train, fakes[split.train.columns]], ignore_index=True)
    train = train.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
    return replace(
        split, train=train, num_users=split.num_users + max(extra, 0), idmap=None, _cache={}
    )


def target_hit_rate(model, split, target: int, real_users: int, k: int = 10) -> float:
    """Share of the real users (codes below ``real_users``) with a test film, who have not seen
    ``target`` in their test-time input, whose top ``k`` at test time contains ``target``."""
    from .metrics import top_k

    users, _ = split.targets("test")
    users = users[users < real_users]
    excl = split.exclusions("test")
    eligible = users[np.asarray(excl[users, target].todense()).ravel() == 0]
    if len(eligible) == 0:
        raise ValueError(f"every real user has already seen film {target}")
    hits = 0
    for start in range(0, len(eligible), 512):
        u = eligible[start : start + 512]
        top = top_k(np.asarray(model.score(u, which="test")), k, excl[u])
        hits += int((top == target).any(axis=1).sum())
    return hits / len(eligible)


def profile_outliers(split, real_users: int, z: float = 3.0) -> dict:
    """Flag profiles whose films are unusually popular, or unusually obscure, for their length.

    Two statistics of each user's training history: the mean of ``log(1 + count)`` over its
    films (random fillers pull it down), and the share of its films among the
    ``BANDWAGON_POOL`` most popular ones (bandwagon fillers push it up). Each is turned into a
    z-score against the real users (codes below ``real_users``) of a similar history length
    (ten length quantiles), and a profile is flagged when either ``|z|`` exceeds ``z``.

    Returns ``{"flagged": user codes, "z": the larger |z| of each user}``. The caller knows
    which codes are fake (``>= real_users``), and so what the detector catches and whom it
    wrongly accuses. The popularity counts come from the attacked data itself; the reference
    group is the accounts that existed before the attack (codes below ``real_users``), which a
    platform knows, since the fakes are new accounts. Without that reference the detector
    would be much weaker.
    """
    if not isinstance(z, numbers.Real) or not np.isfinite(z) or z <= 0:
        raise ValueError(f"z must be a positive number, got {z!r}")
    real_users = _count(real_users, "real_users", 2)
    x = split.train_matrix()
    counts = np.asarray(x.sum(axis=0)).ravel()
    length = np.asarray(x.sum(axis=1)).ravel()
    top = np.zeros(x.shape[1])
    top[np.argsort(-counts, kind="stable")[:BANDWAGON_POOL]] = 1.0
    stats = [(x @ np.log1p(counts)) / np.maximum(length, 1), (x @ top) / np.maximum(length, 1)]
    real = np.arange(x.shape[0]) < real_users
    edges = np.unique(np.quantile(length[real], np.linspace(0, 1, 11)))
    bins = np.clip(np.searchsorted(edges, length, side="right") - 1, 0, max(len(edges) - 2, 0))
    worst = np.zeros(x.shape[0])
    for stat in stats:
        for b in np.unique(bins):
            ref = stat[real & (bins == b)]
            if len(ref) < 2:
                continue
            sel = bins == b
            worst[sel] = np.maximum(
                worst[sel], np.abs(stat[sel] - ref.mean()) / (ref.std() + 1e-12)
            )
    return {"flagged": np.flatnonzero(worst > z), "z": worst}
