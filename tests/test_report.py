"""The report helpers compute what they claim, on cases worked out by hand."""

import json

import numpy as np
import pytest

from recsys_lib.report import (
    against_best_baseline,
    holm,
    load_seed_records,
    long_tail_share,
    paired_test,
    summarise,
)


def test_long_tail_share_by_hand():
    counts = np.array([50, 40, 30, 2, 1, 0, 0, 0, 0, 0])  # head (20% of 10 items) = {0, 1}
    topk = np.array([[0, 1, 2], [3, 4, 0]])  # 6 slots, 3 of them head items
    assert long_tail_share(topk, counts) == pytest.approx(1 - 3 / 6)
    assert long_tail_share(topk, counts, head_fraction=0.5) == pytest.approx(0.0)


@pytest.mark.parametrize(
    "topk, counts, frac, match",
    [
        (np.array([[0]]), np.array([]), 0.2, "non-empty"),
        (np.array([[5]]), np.array([1, 2]), 0.2, "item codes"),
        (np.zeros((0, 10), int), np.array([1, 2]), 0.2, "no recommendations"),
        (np.array([[0]]), np.array([1, 2]), 1.0, "head_fraction"),
    ],
)
def test_long_tail_share_rejects_bad_input(topk, counts, frac, match):
    with pytest.raises(ValueError, match=match):
        long_tail_share(topk, counts, head_fraction=frac)


def test_paired_test_detects_a_consistent_difference_and_not_noise():
    rng = np.random.default_rng(0)
    b = rng.random(400)
    better = paired_test(b + 0.05, b)
    assert better["diff"] == pytest.approx(0.05)
    assert better["ci"][0] > 0 and better["p"] < 1e-6
    same = paired_test(b, b)
    assert same["diff"] == 0 and same["p"] == 1.0
    noise = paired_test(b, rng.permutation(b))
    assert noise["ci"][0] < 0 < noise["ci"][1] and noise["p"] > 0.01
    with pytest.raises(ValueError, match="same"):
        paired_test(b, b[:-1])


def test_holm_by_hand():
    # sorted p: 0.01*3=0.03, 0.02*2=0.04, 0.04*1=0.04 (monotone), then back in input order
    np.testing.assert_allclose(holm([0.04, 0.01, 0.02]), [0.04, 0.03, 0.04])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])


def _record(seed, ndcg):
    metrics = {"HR@10": 2 * ndcg, "NDCG@10": ndcg, "MRR@10": ndcg / 2}
    return {
        "model": "m",
        "seed": seed,
        "valid": metrics,
        "test": metrics,
        "params": 10,
        "train_seconds": 1.0 + seed,
        "test_ci95": {"NDCG@10": [ndcg - 0.01, ndcg + 0.01]},
        "coverage@10": 0.3,
        "long_tail@10": 0.2,
    }


def test_summarise_takes_means_and_sample_std_over_seeds():
    row = summarise([_record(1, 0.2), _record(0, 0.1), _record(2, 0.3)])
    assert row["seeds"] == 3
    assert row["test NDCG@10"] == pytest.approx(0.2)
    assert row["test NDCG@10 std"] == pytest.approx(0.1)
    # records without per-user values: the lowest seed's stored interval
    assert row["test NDCG@10 CI"] == (pytest.approx(0.09), pytest.approx(0.11))
    assert row["train seconds"] == pytest.approx(2.0)
    assert np.isnan(summarise([_record(0, 0.1)])["test NDCG@10 std"])
    with pytest.raises(ValueError):
        summarise([])


def test_load_seed_records_reads_what_exists_and_explains_what_is_missing(tmp_path):
    d = tmp_path / "ml-100k" / "seeds"
    d.mkdir(parents=True)
    (d / "m-seed0.json").write_text(json.dumps(_record(0, 0.1)))
    (d / "m-seed2.json").write_text(json.dumps(_record(2, 0.3)))
    assert [r["seed"] for r in load_seed_records(tmp_path, "ml-100k", "m")] == [0, 2]
    with pytest.raises(FileNotFoundError, match="recsys_lib evaluate other"):
        load_seed_records(tmp_path, "ml-100k", "other")


def test_against_best_baseline_picks_the_baseline_on_validation_and_corrects():
    rng = np.random.default_rng(0)
    base = rng.random(300) * 0.2

    def rec(valid_ndcg, per_user):
        r = _record(0, valid_ndcg)
        r["per_user_test_ndcg"] = list(per_user)
        return [r]

    records = {
        "weak": rec(0.05, base + 0.1),  # better on test, worse on validation
        "strong": rec(0.09, base),
        "good": rec(0.10, base + 0.05),
        "same": rec(0.10, base),
        "bad": rec(0.01, base - 0.05),
    }
    out = against_best_baseline(records, ["weak", "strong"], ["good", "same", "bad"])
    assert out["best"] == "strong"
    v = {n: t["verdict"] for n, t in out["tests"].items()}
    assert v == {"good": "better", "same": "no detectable difference", "bad": "worse"}
    assert all(t["p_holm"] >= t["p"] for t in out["tests"].values())
    with pytest.raises(ValueError):
        against_best_baseline(records, [], ["good"])


def test_provenance_names_what_was_trained_restored_and_read():
    from recsys_lib.report import provenance

    records = {
        "caser": [{"cached": True, "restored": True}, {"cached": True}, {"cached": True}],
        "ease": [{"cached": False}],
        "bpr": [{"cached": False}, {"cached": True}, {"cached": True}],
    }
    assert provenance(records, {"caser": "Caser"}) == (
        "trained here: ease, bpr\n"
        "restored from the model store: Caser\n"
        "read from stored records: Caser (2 seeds), bpr (2 seeds)"
    )
    # nothing restored: that line is left out, the others always shown
    assert provenance({"ease": [{"cached": True}]}) == (
        "trained here: none\nread from stored records: ease"
    )


def test_a_models_figure_is_written_one_way():
    from recsys_lib.report import fact

    recs = [
        {
            "seed": s,
            "valid": {m: v for m in ("HR@10", "NDCG@10", "MRR@10")},
            "test": {m: v for m in ("HR@10", "NDCG@10", "MRR@10")},
            "test_ci95": {"NDCG@10": [0.1, 0.2]},
            "params": 12345,
            "train_seconds": t,
        }
        for s, v, t in [(0, 0.1, 8.0), (1, 0.2, 9.0), (2, 0.3, 13.0)]
    ]
    assert fact(recs, "test NDCG@10") == "0.200"  # the mean over the seeds
    assert fact(recs, "test NDCG@10 sd") == "0.100"
    # no per-user values in these records: the lowest seed's stored interval
    assert fact(recs, "test NDCG@10 95% CI") == "[0.100, 0.200]"
    assert fact(recs, "train seconds") == "10"  # mean 10.0: whole seconds
    assert fact(recs[:2], "train seconds") == "8.5"  # under 10 s: one decimal
    assert fact(recs, "params") == "12,345"
    with pytest.raises(ValueError, match="quantity must be one of"):
        fact(recs, "test NDCG")


def test_the_network_table_lists_each_layers_weights_and_the_total():
    import keras

    from recsys_lib.report import network_table

    net = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Embedding(10, 4, name="emb"),
            keras.layers.Dropout(0.5, name="drop"),
            keras.layers.Dense(3, name="out"),
        ]
    )
    t = network_table(net)
    assert list(t.index) == ["emb", "drop", "out", "total"]
    assert t.loc["emb", "weights"] == "10 × 4" and t.loc["emb", "parameters"] == 40
    assert t.loc["drop", "weights"] == "none" and t.loc["drop", "parameters"] == 0
    assert t.loc["out", "weights"] == "4 × 3, 3" and t.loc["out", "parameters"] == 15
    assert t.loc["total", "parameters"] == 55 == net.count_params()
    with pytest.raises(ValueError, match="has no layers"):
        network_table(keras.Sequential())


def test_point_labels_never_overlap():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from recsys_lib.report import label_points

    fig, ax = plt.subplots(figsize=(4, 3))
    xs, ys = [1.0, 1.05, 1.1, 3.0], [0.100, 0.1002, 0.0998, 0.05]
    ax.scatter(xs, ys)
    ax.set(xlim=(0, 5), ylim=(0, 0.15))
    texts = label_points(ax, xs, ys, ["EASE", "ItemKNN", "RP3beta", "Popularity"])
    fig.canvas.draw()
    from matplotlib.text import Text

    boxes = [Text.get_window_extent(t) for t in texts]  # the words, not the leader lines
    assert len(boxes) == 4
    for a in range(4):
        for b in range(a + 1, 4):
            assert not boxes[a].overlaps(boxes[b])
    plt.close(fig)


def test_variant_comparison_tabulates_each_seed_and_reads_the_paired_test():
    from recsys_lib.report import variant_comparison

    rng = np.random.default_rng(1)
    base_users = rng.random(400) * 0.2

    def runs(shift, valid):
        out = []
        for s in (0, 1, 2):
            r = _record(s, valid + s / 100)
            r["test"] = dict(r["test"])
            r["test"]["NDCG@10"] = float(np.mean(base_users + shift))
            r["per_user_test_ndcg"] = list(base_users + shift + rng.normal(0, 1e-3, 400))
            out.append(r)
        return out

    base = runs(0.0, 0.10)
    table, reading = variant_comparison(runs(0.05, 0.12), base, "wide", "narrow")
    assert list(table.index) == [0, 1, 2]
    assert list(table.columns) == ["wide valid", "wide test", "narrow valid", "narrow test"]
    assert table.loc[2, "wide valid"] == pytest.approx(0.14)
    assert reading.startswith("wide minus narrow, test NDCG@10 per user: +0.050")
    assert reading.endswith("wide is better")
    _, same = variant_comparison(runs(0.0, 0.1), base, "wide", "narrow")
    assert same.endswith("the test cannot tell them apart")
    with pytest.raises(ValueError, match="same seeds"):
        variant_comparison(runs(0.0, 0.1)[:2], base, "wide", "narrow")


def test_and_list_reads_as_a_sentence():
    from recsys_lib.report import and_list

    assert and_list([]) == ""
    assert and_list(["Caser"]) == "Caser"
    assert and_list(["Caser", "GRU4Rec"]) == "Caser and GRU4Rec"
    assert and_list(["a", "b", "c"]) == "a, b and c"


def test_best_setting_reading_compares_the_lead_with_the_seed_spread():
    from recsys_lib.report import best_setting_reading

    # lead 0.120 - 0.110 = 0.010; seeds 0.10, 0.11, 0.12 have sd 0.010: within 2 sd
    close = best_setting_reading({5: 0.110, 9: 0.120, 3: 0.090}, [0.10, 0.11, 0.12])
    assert close.startswith("the best window, L = 9, leads the next best (L = 5) by 0.010")
    assert "deviation of the chosen settings is 0.010" in close
    assert close.endswith("the best windows are within what a change of seed does")
    # seeds 0.100, 0.101, 0.102 have sd 0.001: a lead of 0.010 is more than twice that
    far = best_setting_reading({5: 0.110, 9: 0.120}, [0.100, 0.101, 0.102], "dim", "width")
    assert far.endswith("dim = 9 stands out by more than twice that")
    # one seed: no spread, so any lead stands out
    assert best_setting_reading({1: 0.2, 2: 0.1}, [0.2]).endswith(
        "L = 1 stands out by more than twice that"
    )
    with pytest.raises(ValueError, match="at least two values of L"):
        best_setting_reading({9: 0.12}, [0.1, 0.2])


def test_the_interval_beside_a_mean_over_seeds_is_that_means_interval():
    import inspect

    from recsys_lib.experiment import run_experiment
    from recsys_lib.metrics import bootstrap_ci
    from recsys_lib.report import CI_N_BOOT, model_table, seed_mean_ci

    # one bootstrap setting: the records' own
    assert inspect.signature(run_experiment).parameters["n_boot"].default == CI_N_BOOT
    rng = np.random.default_rng(3)
    users = rng.random((3, 200))  # three seeds' per-user values of the same 200 users
    recs = [
        dict(_record(s, float(users[s].mean())), per_user_test_ndcg=list(users[s]))
        for s in range(3)
    ]
    lo, hi = seed_mean_ci(recs)
    # the bootstrap of each user's mean over the seeds, not of one seed's values
    want = bootstrap_ci(users.mean(0), n_boot=CI_N_BOOT, seed=0)
    assert (lo, hi) == (round(want[0], 4), round(want[1], 4))
    assert lo < users.mean() < hi
    # averaging over seeds shrinks the per-user spread, so the interval is narrower
    one = seed_mean_ci(recs[:1])
    assert hi - lo < one[1] - one[0]
    assert summarise(recs)["test NDCG@10 CI"] == (lo, hi)
    table = model_table({"m": recs, "n": recs[:1]}, extra=("params", "coverage@10"))
    assert list(table.index) == ["m", "n"]
    assert table.loc["m", "seeds"] == 3 and np.isnan(table.loc["n", "± sd"])
    assert table.loc["m", "95% CI"] == f"[{lo:.3f}, {hi:.3f}]"
    assert table.loc["m", "test NDCG@10"] == pytest.approx(users.mean())
    assert table.loc["m", "coverage@10"] == 0.3
    with pytest.raises(ValueError, match="same users"):
        seed_mean_ci([recs[0], dict(recs[1], per_user_test_ndcg=[0.1])])
