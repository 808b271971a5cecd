"""The shared-budget tuner: seeded, resumable, keyed like result records, and honest about
optima on the edge of a search space."""

import json
from pathlib import Path

import pytest

from recsys_lib.registry import MODELS, entry, make_model
from recsys_lib.testing import block_split
from recsys_lib.tuning import (
    TRIALS,
    best_seconds,
    open_edges,
    search_progress,
    search_space,
    studies_dir,
    study_file,
    tune,
    tuning_key,
    tuning_status,
)

ROOT = Path(__file__).resolve().parents[1]
TUNED = ROOT / "results" / "ml-100k" / "tuning"


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_RESULTS", str(tmp_path / "results"))
    return tmp_path


def test_a_search_takes_the_budget_and_keeps_the_best(isolated):
    split = block_split()
    res = tune("itemknn", split, trials=5, storage_dir=isolated / "a")
    assert len(res["trials"]) == 5 and res["finished"] and res["budget"] == 5
    best = max(res["trials"], key=lambda t: t["valid"]["NDCG@10"])
    assert res["best_valid"]["NDCG@10"] == best["valid"]["NDCG@10"]
    space = search_space("itemknn")
    for t in res["trials"]:
        assert all(t["hyperparameters"][k] in v for k, v in space.items())
    written = json.loads((isolated / "results" / "ml-100k" / "tuning" / "itemknn.json").read_text())
    assert written["key"] == tuning_key("itemknn", split, 0, 5) == res["key"]


def test_an_interrupted_search_resumes_to_what_an_uninterrupted_one_finds(isolated):
    split = block_split()
    whole = tune("ease", split, trials=6, storage_dir=isolated / "whole", write=False)

    class Stop(Exception):
        pass

    def stop_after_three(row, done, budget):
        if done == 3:
            raise Stop

    with pytest.raises(Stop):
        tune("ease", split, trials=6, storage_dir=isolated / "cut", progress=stop_after_three)
    half = json.loads((isolated / "results" / "ml-100k" / "tuning" / "ease.json").read_text())
    assert len(half["trials"]) == 3 and not half["finished"]
    assert tuning_status("ease", split) == "running"
    resumed = tune("ease", split, trials=6, storage_dir=isolated / "cut")
    assert [t["hyperparameters"] for t in resumed["trials"]] == [
        t["hyperparameters"] for t in whole["trials"]
    ]
    assert resumed["best"] == whole["best"]
    assert tuning_status("ease", split) == "current"


def test_a_trial_stopped_early_counts_against_the_budget_and_is_never_chosen(isolated, monkeypatch):
    """The tuner's bookkeeping of stopped trials, with a pruner that stops every trial after the
    first three at its second check (Optuna's MedianPruner decides when in real searches)."""
    import optuna

    import recsys_lib.registry as registry
    from recsys_lib.testing import tiny

    class StopLateTrials(optuna.pruners.BasePruner):
        def __init__(self, **kwargs):
            pass

        def prune(self, study, trial):
            return trial.number >= 3 and len(trial.intermediate_values) >= 2

    monkeypatch.setattr(optuna.pruners, "MedianPruner", StopLateTrials)
    real = registry.make_model
    monkeypatch.setattr(
        registry,
        "make_model",
        lambda name, **kw: real(
            name, **{**tiny(name), "epochs": 4, "eval_every": 1, "patience": 10, **kw}
        ),
    )
    split = block_split()
    res = tune("bpr", split, trials=5, storage_dir=isolated / "p")
    assert len(res["trials"]) == 5 and res["finished"] and res["stopped_early"] == 2
    stopped = [t for t in res["trials"] if "stopped_at_epoch" in t]
    assert [t["trial"] for t in stopped] == [3, 4]
    assert all(t["stopped_at_epoch"] == 2 and set(t["valid"]) == {"NDCG@10"} for t in stopped)
    ran = [t for t in res["trials"] if "stopped_at_epoch" not in t]
    assert res["best"] == max(ran, key=lambda t: t["valid"]["NDCG@10"])["hyperparameters"]
    # a resumed run finds the five trials done and does not run a sixth
    again = tune("bpr", split, trials=5, storage_dir=isolated / "p")
    assert again["trials"] == res["trials"]


def test_the_tuner_reads_every_check_the_training_loop_prints(capsys):
    from recsys_lib.testing import tiny
    from recsys_lib.tuning import CHECK_LINE

    model = make_model("gru4rec", seed=0, **{**tiny("gru4rec"), "epochs": 3, "verbose": 1})
    model.fit(block_split())
    read = [
        (int(m.group(1)), float(m.group(2)))
        for m in map(CHECK_LINE.match, capsys.readouterr().out.splitlines())
        if m
    ]
    assert read == [
        (e, round(v, 4)) for e, v in zip(model.history_["epoch"], model.history_["val_NDCG@10"])
    ]


def test_the_key_changes_with_the_budget_the_seed_and_the_data():
    a, b = block_split(0), block_split(1)
    k = tuning_key("itemknn", a)
    assert k == tuning_key("itemknn", a)
    assert (
        len(
            {
                k,
                tuning_key("itemknn", a, trials=TRIALS + 1),
                tuning_key("itemknn", a, seed=1),
                tuning_key("itemknn", b),
            }
        )
        == 4
    )


def test_open_edges_by_hand():
    # k's range goes on past 2 (low=1) and past the largest value: both ends are open edges
    ks = search_space("itemknn")["k"]
    assert open_edges("itemknn", {"k": min(ks), "shrink": 1.0}) == [
        f"k={min(ks)} is the smallest value tried"
    ]
    assert open_edges("itemknn", {"k": max(ks), "shrink": 1.0}) == [
        f"k={max(ks)} is the largest value tried"
    ]
    # shrink = 0 is the parameter's own bound: a natural limit, not an open edge
    assert open_edges("itemknn", {"k": ks[3], "shrink": 0.0}) == []


def test_a_cost_bound_closes_the_dear_edge_only_when_one_step_more_passes_the_target():
    # SASRec's target: one seed in 120 s; dim, blocks, L and negatives grow dearer upwards
    best = {"L": 20, "dim": 128, "blocks": 3, "dropout": 0.2, "lr": 1e-3}
    # dim 128 -> 256 doubles the cost, blocks 3 -> 4 multiplies it by 4/3
    assert open_edges("sasrec", best, seconds=100.0) == []  # 200 s and 133 s: past 120
    assert open_edges("sasrec", best, seconds=80.0) == [
        "blocks=3 is the largest value tried"  # 160 s for dim 256, but 107 s for 4 blocks
    ]
    assert open_edges("sasrec", best, seconds=50.0) == [
        "dim=128 is the largest value tried",
        "blocks=3 is the largest value tried",
    ]
    # the edges the target closed are named, with the estimated seconds of the next value
    from recsys_lib.tuning import cost_bound_edges

    assert cost_bound_edges("sasrec", best, seconds=100.0) == [
        "dim=128 is the largest value tried, but dim=256 would take about 200 s a seed, "
        "past the 120 s target",
        "blocks=3 is the largest value tried, but blocks=4 would take about 133 s a seed, "
        "past the 120 s target",
    ]
    assert len(cost_bound_edges("sasrec", best, seconds=80.0)) == 1
    assert cost_bound_edges("sasrec", best, seconds=50.0) == []
    # without a measured time, and at the cheap end, an edge is an edge
    assert len(open_edges("sasrec", best)) == 2
    cheap = dict(best, L=2, dim=8, blocks=1, lr=1e-4)
    assert open_edges("sasrec", cheap, seconds=500.0) == [
        "dim=8 is the smallest value tried",  # L = 2 and blocks = 1 are the params' bounds
        "lr=0.0001 is the smallest value tried",
    ]
    # a model without a time target has no cost bounds
    ks = search_space("itemknn")["k"]
    assert open_edges("itemknn", {"k": max(ks), "shrink": 1.0}, seconds=1e9) != []


def test_best_seconds_is_the_chosen_trials_time():
    rec = {
        "best": {"k": 5},
        "trials": [
            {"hyperparameters": {"k": 5}, "train_seconds": 9.0, "stopped_at_epoch": 5},
            {"hyperparameters": {"k": 5}, "train_seconds": 3.0},
            {"hyperparameters": {"k": 7}, "train_seconds": 1.0},
        ],
    }
    assert best_seconds(rec) == 3.0
    assert best_seconds({"best": None, "trials": []}) is None


def test_studies_are_kept_where_a_clone_finds_them(isolated):
    split = block_split()
    where = studies_dir()
    assert where == isolated / "results" / "ml-100k" / "tuning" / "studies"
    assert search_progress("ease", split, trials=4) == 0
    tune("ease", split, trials=4, storage_dir=where, write=False)
    assert study_file("ease", split, trials=4).is_file()
    assert search_progress("ease", split, trials=4) == 4
    # a clone of those files resumes: nothing is run again, the same record comes back
    moved = isolated / "clone"
    moved.mkdir()
    (moved / study_file("ease", split, trials=4).name).write_bytes(
        study_file("ease", split, trials=4).read_bytes()
    )
    again = tune("ease", split, trials=4, storage_dir=moved, write=False)
    assert len(again["trials"]) == 4


def test_bad_budgets_are_refused(isolated):
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="trials"):
            tune("itemknn", block_split(), trials=bad, storage_dir=isolated)


BASELINES = [n for n, e in MODELS.items() if e.baseline and search_space(n)]


@pytest.mark.parametrize("name", BASELINES)
def test_every_baseline_is_tuned_with_the_shared_budget_today(name, ml100k_split):
    rec = json.loads((TUNED / f"{name}.json").read_text())
    assert rec["budget"] == TRIALS and len(rec["trials"]) == TRIALS and rec["finished"]
    assert tuning_status(name, ml100k_split) == "current", (
        "stale: re-tune with benchmarks/tune_models.py"
    )
    assert open_edges(name, rec["best"], best_seconds(rec)) == [], "widen the space"
    model = make_model(name)
    assert {k: getattr(model, k) for k in rec["best"]} == rec["best"], "defaults != tuned optimum"


COMMITTED = sorted(TUNED.glob("*.json"))


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_every_committed_search_is_current_finished_and_inside_its_space(path, ml100k_split):
    rec = json.loads(path.read_text())
    entry(rec["model"])
    assert rec["key"] == tuning_key(rec["model"], ml100k_split, rec["seed"], rec["budget"]), (
        "stale: the code, data, space or budget changed since this search"
    )
    assert rec["finished"] and rec["budget"] == TRIALS
    assert open_edges(rec["model"], rec["best"], best_seconds(rec)) == []
    model = make_model(rec["model"])
    assert {k: getattr(model, k) for k in rec["best"]} == rec["best"], "defaults != optimum"


STUDIES = sorted((TUNED / "studies").glob("*.db"))


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_every_committed_study_is_todays_search_of_a_model(path, ml100k_split):
    """A study under results/ml-100k/tuning/studies/ is the resumable state of a search; one
    of another key (the code, data or space changed) can never be resumed: delete it."""
    name, key = path.stem.rsplit("-", 1)
    entry(name)
    assert key == tuning_key(name, ml100k_split), f"stale study of {name}: delete {path.name}"


def test_keys_ignore_config_defaults_and_space_values_but_not_other_code():
    from recsys_lib.keys import normalised_code

    a = "class C:\n    k: int = param(5, low=1)\n    space = {'k': [1, 5]}\n"
    b = a.replace("param(5", "param(7")
    c = a.replace("low=1", "low=2")
    wider = a.replace("[1, 5]", "[1, 5, 9]")
    more = a.replace("{'k': [1, 5]}", "{'k': [1, 5], 'j': [2]}")
    blank = lambda s: normalised_code(s, blank_settings=True)  # noqa: E731
    assert blank(a) == blank(b) == blank(wider)  # held by value in the keys instead
    assert normalised_code(a) != normalised_code(b) != normalised_code(wider)
    assert blank(a) != blank(c)  # a bound is code: it rejects settings
    assert blank(a) != blank(more)  # which settings a record lists


def test_keys_drop_a_config_classs_field_declarations():
    """A ``Config`` class's ``param(...)`` declarations are not hashed (the config is keyed by
    value, every field, declared or inherited): declaring an inherited field to give it its
    own default (a search's optimum) leaves the module's key alone; other code in the class
    still counts."""
    from recsys_lib.keys import normalised_code

    base = (
        "class M:\n    class Config(TrainConfig):\n        k: int = param(5, low=1)\n"
        "        space = {'k': [1, 5]}\n"
    )
    declared = base.replace(
        "        space", "        lr: float = param(1e-3, low=0)\n        space"
    )
    method = base + "\n        def check(self):\n            raise ValueError('k')\n"
    blank = lambda s: normalised_code(s, blank_settings=True)  # noqa: E731
    assert blank(base) == blank(declared)
    assert normalised_code(base) != normalised_code(declared)
    assert blank(method) != blank(base)
    elsewhere = base.replace("class Config", "class Other")  # only a class named Config
    assert blank(elsewhere) != blank(elsewhere.replace("low=1", "low=2"))


def test_set_defaults_rewrites_only_the_tuned_literals():
    """benchmarks/set_defaults.py edits the first argument of each tuned ``param`` and nothing
    else: the new source differs from the old in exactly those literals, and the copied
    Config reads the new values."""
    import ast
    import difflib
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "set_defaults", ROOT / "benchmarks" / "set_defaults.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    best = {"units": 12, "dropout": 0.99, "dim": 512}
    path, source, changes = mod.new_source("gru4rec", best)
    assert path.name == "rnn.py" and set(changes) == set(best)
    old = path.read_text()
    changed = [
        line for line in difflib.ndiff(old.splitlines(), source.splitlines()) if line[:1] in "+-"
    ]
    assert len(changed) == 2 * len(best)  # one line out, one in, per setting
    nodes = mod._config_params(source, "GRU4Rec")
    assert {k: ast.literal_eval(nodes[k]) for k in best} == best
    with pytest.raises(ValueError, match="no class"):
        mod._config_params(source, "NoSuchModel")


def test_best_trials_reads_as_a_table_of_distinct_settings():
    import pandas as pd

    from recsys_lib.tuning import best_trials

    trials = pd.DataFrame(
        {
            "L": [5, 10, 5, 20, 5],
            "lr": [0.01, 0.01, 0.01, 0.1, 0.001],
            "valid NDCG@10": [0.10, 0.08, 0.10, 0.02, 0.09],
            "stopped at epoch": [None, None, None, 5, None],
        }
    )
    out = best_trials(trials, n=3)
    # L = 5, lr = 0.01 was proposed twice: one row, counted
    assert out[["L", "lr"]].values.tolist() == [[5, 0.01], [5, 0.001], [10, 0.01]]
    assert out["proposed"].tolist() == [2, 1, 1]
    assert out["stopped at epoch"].tolist() == ["–", "–", "–"]
    assert best_trials(trials, n=10)["stopped at epoch"].tolist()[-1] == "5"
    one = pd.DataFrame({"k": [5, 5, 7], "valid NDCG@10": [0.2, 0.2, 0.1]})
    assert best_trials(one)["proposed"].tolist() == [2, 1]
    assert best_trials(pd.DataFrame()).empty
