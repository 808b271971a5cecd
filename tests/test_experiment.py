"""Result records, the fingerprint and the result cache that the chapters use for extra seeds."""

import json
from pathlib import Path

import pytest

from recsys_lib import experiment
from recsys_lib.experiment import cached_experiment, fingerprint, run_experiment
from recsys_lib.testing import block_split as _block_split

ROOT = Path(__file__).resolve().parents[1]


def test_fingerprint_changes_with_what_the_result_depends_on():
    split = _block_split()
    base = fingerprint("bpr", split, seed=0)
    assert fingerprint("bpr", split, seed=0) == base
    assert fingerprint("bpr", split, seed=1) != base
    assert fingerprint("bpr", split, seed=0, overrides={"dim": 8}) != base
    assert fingerprint("ease", split, seed=0) != base
    other = _block_split(seed=1)
    assert fingerprint("bpr", other, seed=0) != base
    # passing a default explicitly is the same experiment
    assert fingerprint("bpr", split, seed=0, overrides={"epochs": 60}) == base


def test_cached_experiment_reuses_only_a_matching_record(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_RESULTS", str(tmp_path))
    split = _block_split()
    first = cached_experiment("ease", split, seed=0, dataset="toy")
    assert first["cached"] is False
    path = tmp_path / "toy" / "seeds" / "ease-seed0.json"
    assert json.loads(path.read_text())["fingerprint"] == first["fingerprint"]

    calls = []
    monkeypatch.setattr(
        experiment, "run_experiment", lambda *a, **k: calls.append(1) or run_experiment(*a, **k)
    )
    again = cached_experiment("ease", split, seed=0, dataset="toy")
    assert again["cached"] is True and not calls
    assert again["test"] == first["test"]

    stale = json.loads(path.read_text())
    stale["fingerprint"] = "0" * 16
    path.write_text(json.dumps(stale))
    rerun = cached_experiment("ease", split, seed=0, dataset="toy")
    assert rerun["cached"] is False and calls == [1]
    path.write_text("{not json")  # a corrupt file is recomputed too
    assert cached_experiment("ease", split, seed=0, dataset="toy")["cached"] is False


def test_tagged_variants_get_their_own_record(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_RESULTS", str(tmp_path))
    split = _block_split()
    plain = cached_experiment("ease", split, seed=0, dataset="toy")
    variant = cached_experiment(
        "ease", split, seed=0, dataset="toy", overrides={"l2": 1.0}, tag="-l2_1"
    )
    seeds = tmp_path / "toy" / "seeds"
    assert sorted(p.name for p in seeds.glob("*.json")) == [
        "ease-l2_1-seed0.json",
        "ease-seed0.json",
    ]
    assert variant["fingerprint"] != plain["fingerprint"]
    assert (
        cached_experiment("ease", split, seed=0, dataset="toy", overrides={"l2": 1.0}, tag="-l2_1")[
            "cached"
        ]
        is True
    )
    with pytest.raises(ValueError, match="tag"):
        cached_experiment("ease", split, seed=0, dataset="toy", tag="../elsewhere")


def test_run_experiment_records_history_and_returns_the_model():
    split = _block_split()
    rec, model = run_experiment(
        "bpr",
        split,
        seed=0,
        return_model=True,
        overrides=dict(epochs=2, eval_every=1, dim=4, batch_size=64),
    )
    assert rec["history"]["epoch"] == [1, 2] and len(rec["history"]["loss"]) == 2
    assert all(x > 0 for x in rec["history"]["loss"])  # the real loss, not Keras' placeholder
    assert rec["params"] == model.num_params


def test_stored_seed_results_are_current(ml100k_split):
    """Every stored seed record must match today's code, settings and data; otherwise the
    chapters would silently retrain. Rerun ``make book`` to refresh stale ones."""
    from recsys_lib.experiment import record_split

    stale = []
    for path in sorted((ROOT / "results" / "ml-100k" / "seeds").glob("*.json")):
        rec = json.loads(path.read_text())
        # a learning-curve point (chapter 10) was made on the most recent share of each history
        data = record_split(ml100k_split, path.name)
        if "fingerprint" not in rec or "overrides" not in rec:
            stale.append(f"{path.name} (no fingerprint)")
        elif rec["fingerprint"] != fingerprint(
            rec["model"], data, rec["seed"], rec["overrides"], rec.get("strategy")
        ):
            stale.append(path.name)
    assert not stale, f"stale stored results, rerun `make book`: {stale}"


def test_recent_share_split_keeps_the_latest_films_and_refuses_bad_shares():
    from recsys_lib.experiment import recent_share_split

    split = _block_split()
    half = recent_share_split(split, 0.5)
    for u, g in split.train.groupby("user_id"):
        kept = half.train[half.train.user_id == u]
        n = len(g)
        assert len(kept) == n - n // 2  # floor(n * 0.5) oldest dropped
        latest = g.sort_values("timestamp", kind="stable").tail(len(kept))
        assert sorted(kept.item_id) == sorted(latest.item_id)
    assert half.valid.equals(split.valid) and half.test.equals(split.test)
    assert recent_share_split(split, 1.0) is split
    for bad in (0, -0.5, 1.5, float("nan"), "half"):
        with pytest.raises(ValueError, match="share"):
            recent_share_split(split, bad)


def test_variant_records_store_the_full_profile_and_never_a_quick_run(tmp_path, monkeypatch):
    from recsys_lib.experiment import variant_records
    from recsys_lib.registry import profile_overrides

    monkeypatch.setenv("RECSYS_RESULTS", str(tmp_path))
    split = _block_split()
    seeds_dir = tmp_path / "toy" / "seeds"
    runs = variant_records("ease", split, {"l2": 1.0}, "-l2_1", seeds=(0, 1), dataset="toy")
    assert [r["seed"] for r in runs] == [0, 1] and not any(r["cached"] for r in runs)
    assert sorted(p.name for p in seeds_dir.glob("*.json")) == [
        "ease-l2_1-seed0.json",
        "ease-l2_1-seed1.json",
    ]
    again = variant_records("ease", split, {"l2": 1.0}, "-l2_1", seeds=(0, 1), dataset="toy")
    assert all(r["cached"] for r in again)
    assert [r["test"] for r in again] == [r["test"] for r in runs]

    # a quick (smoke-profile) run is one seed with the profile's short settings, not stored
    quick = variant_records(
        "bpr", split, {"l2": 0.0}, "-l2_0", profile="tiny", seeds=(0, 1, 2), dataset="toy"
    )
    assert len(quick) == 1 and quick[0]["seed"] == 0
    assert quick[0]["overrides"] == {"l2": 0.0, **profile_overrides("bpr", "tiny")}
    assert not list(seeds_dir.glob("bpr*"))

    with pytest.raises(ValueError, match="tag"):
        variant_records("ease", split, {"l2": 1.0}, "", dataset="toy")
