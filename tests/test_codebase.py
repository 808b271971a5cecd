"""The codebase welcomes change: configs are explicit and validated, the cache key follows
behaviour (not source bytes), a fitted model can be fitted again, a new model needs only its
module, a registry entry and its tests, and the modules import without cycles."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from recsys_lib import keys
from recsys_lib.config import param
from recsys_lib.keys import fingerprint, normalised_code
from recsys_lib.registry import MODELS, make_model, model_config, register, unregister
from recsys_lib.testing import block_split, tiny

PKG = Path(keys.__file__).resolve().parent


# ----------------------------------------------------------------------------- configs
def test_every_registered_model_has_a_validated_config():
    for name in MODELS:
        cfg = model_config(name)
        assert dataclasses.is_dataclass(cfg), name
        assert set(cfg.space) <= set(cfg.field_names()), name
        for field in cfg.space:  # the tuned values are valid settings
            for v in cfg.space[field]:
                cfg.replace(**{field: v})
        assert make_model(name).config == cfg


@pytest.mark.parametrize(
    "name, bad, match",
    [
        ("itemknn", {"k": 0}, "ItemKNN.*k must be >= 1, got 0"),
        ("itemknn", {"k": 2.5}, "k must be an integer"),
        ("ease", {"l2": -1}, "l2 must be > 0"),
        ("ease", {"l2": 0}, "l2 must be > 0"),
        ("markov", {"decay": -1}, "decay"),
        ("lstm", {"negatives": 0}, "negatives must be >= 1"),
        ("bpr", {"epochs": 0}, "epochs must be >= 1"),
        ("bpr", {"eval_every": 0}, "eval_every must be >= 1"),
        ("bpr", {"dim": True}, "dim must be an integer"),
        ("gru4rec", {"L": 0}, "L must be >= 1"),
        ("gru4rec", {"cell": "rnn"}, "cell must be one of"),
        ("caser", {"n_v": 0, "n_h": 0}, "at least one kind of filter"),
        ("cfgan", {"s": 1.5}, r"s must be in \[0, 1\]"),
        ("bpr", {"no_such": 1}, "has no setting no_such"),
    ],
)
def test_bad_settings_are_refused_with_a_message_naming_them(name, bad, match):
    with pytest.raises(ValueError, match=match):
        make_model(name, **bad)


def test_fixed_settings_of_a_variant_cannot_be_overridden():
    assert make_model("gru4rec-lstm").cell == "lstm"
    with pytest.raises(ValueError, match="fixes cell"):
        make_model("gru4rec-lstm", cell="gru")


# ----------------------------------------------------------------------------- the cache key
def test_key_ignores_docstrings_comments_and_layout_but_not_code():
    src = (PKG / "models" / "training.py").read_text()
    edited = src.replace('"""The training loop', '"""An edited docstring.\n\nThe training loop', 1)
    edited = edited.replace("\nclass TrainStep:", "\n# a new comment\n\n\nclass TrainStep:", 1)
    assert edited != src and normalised_code(edited) == normalised_code(src)
    changed = src.replace('"val_NDCG@10": []', '"val_NDCG@10": [], "x": []', 1)
    assert changed != src and normalised_code(changed) != normalised_code(src)


def _copy_package(tmp_path, monkeypatch) -> Path:
    copy = tmp_path / "recsys_lib"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(keys, "HERE", copy)
    for f in (keys.module_closure, keys._module_code_hash, keys._function_code_hash):
        f.cache_clear()
    return copy


def test_a_docstring_edit_keeps_every_key_and_a_code_edit_changes_them(tmp_path, monkeypatch):
    split = block_split()
    before = {n: fingerprint(n, split) for n in MODELS}
    copy = _copy_package(tmp_path, monkeypatch)
    for f in ("metrics.py", "models/training.py", "models/baselines.py"):
        p = copy / f
        p.write_text(p.read_text().replace('"""', '"""Edited. ', 1) + "\n# trailing comment\n")
    assert {n: fingerprint(n, split) for n in MODELS} == before
    p = copy / "models" / "baselines.py"
    p.write_text(p.read_text().replace("np.fill_diagonal(sim, 0.0)", "np.fill_diagonal(sim, 1.0)"))
    for f in (keys.module_closure, keys._module_code_hash):
        f.cache_clear()
    after = {n: fingerprint(n, split) for n in MODELS}
    changed = {n for n in MODELS if after[n] != before[n]}
    assert {"itemknn", "ease", "pop"} <= changed  # the module they live in
    assert "gru4rec" not in changed  # a module it does not import
    keys.module_closure.cache_clear()
    keys._module_code_hash.cache_clear()


def test_one_models_default_or_space_keeps_its_module_neighbours_current(tmp_path, monkeypatch):
    """A search sets its model's defaults and may widen its space; the other models of the
    module (and the modules importing it) keep their records and searches."""
    from recsys_lib.tuning import tuning_key

    split = block_split()
    names = ("sasrec", "sasrec-bce", "sasrec-sampled", "gru4rec", "sr")
    before = {n: fingerprint(n, split) for n in names}
    tuned = {n: tuning_key(n, split) for n in names}
    copy = _copy_package(tmp_path, monkeypatch)
    p = copy / "models" / "attention.py"
    src = p.read_text()
    edited = re.sub(
        r'param\(\d+, low=1, doc="sampled negatives per position"\)',
        'param(999, low=1, doc="sampled negatives per position")',
        src,
        count=1,
    )
    p.write_text(edited)
    q = copy / "models" / "rnn.py"
    rsrc = q.read_text()
    # GRU4Rec's space (its dropout list is its own)
    q.write_text(
        rsrc.replace(
            '"dropout": [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99],',
            '"dropout": [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99],',
            1,
        )
    )
    assert edited != src and q.read_text() != rsrc
    for f in (keys.module_closure, keys._module_code_hash):
        f.cache_clear()
    # the code's part of every key is unchanged: each key holds its own model's values
    assert {n: fingerprint(n, split) for n in names} == before
    assert {n: tuning_key(n, split) for n in names} == tuned
    # and those values are in it: the new default (spelt out here, as the edited class in a
    # fresh process would give it) moves sasrec-sampled's key alone
    assert (
        fingerprint("sasrec-sampled", split, overrides={"negatives": 999})
        != before["sasrec-sampled"]
    )
    keys.module_closure.cache_clear()
    keys._module_code_hash.cache_clear()


def test_key_follows_defaults_side_tables_and_not_verbosity(monkeypatch):
    split = block_split()
    base = fingerprint("bpr", split)
    assert fingerprint("bpr", split, overrides={"verbose": 1}) == base
    assert fingerprint("bpr", split, overrides={"epochs": 60}) == base  # a default, spelt out
    assert fingerprint("bpr", split, overrides={"dim": 8}) != base
    # a changed default (as an edit of the class would make it)
    from recsys_lib.models.bpr import BPR

    cfg = BPR.Config
    new = dataclasses.make_dataclass(
        "Config", [("dim", int, param(64, low=1))], bases=(cfg,), frozen=True
    )
    monkeypatch.setattr(BPR, "Config", new)
    assert fingerprint("bpr", split) != base
    monkeypatch.setattr(BPR, "Config", cfg)
    # the item side table (titles, genres) that the content CNN reads
    other = block_split()
    other.items = other.items.assign(title=other.items.title.str.upper())
    assert fingerprint("cnn-content", other) != fingerprint("cnn-content", split)


# ----------------------------------------------------------------------------- fitting
def test_fitting_twice_trains_the_new_network():
    split = block_split()
    model = make_model("bpr", **tiny("bpr"))
    first = model.fit(split).network_weights()
    first_hist = dict(model.history_)
    second = model.fit(split).network_weights()
    assert all(x > 0 for x in model.history_["loss"])
    assert model.history_["loss"] == first_hist["loss"]  # the same deterministic run
    for a, b in zip(first["net"], second["net"]):
        np.testing.assert_array_equal(a, b)
    fresh = make_model("bpr", **tiny("bpr")).fit(split).network_weights()
    for a, b in zip(fresh["net"], second["net"]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow  # a learning/extension check that trains; make test runs it, make test-fast (3 min) does not
def test_raising_epochs_extends_a_checkpointed_run(tmp_path):
    split = block_split()
    kw = tiny("gru4rec", eval_every=1, patience=10)
    full = make_model("gru4rec", **dict(kw, epochs=4)).fit(split)
    make_model("gru4rec", **dict(kw, epochs=2)).fit(split, checkpoint_dir=tmp_path)
    longer = make_model("gru4rec", **dict(kw, epochs=4)).fit(split, checkpoint_dir=tmp_path)
    assert longer.history_["epoch"] == [1, 2, 3, 4]
    assert longer.history_["val_NDCG@10"] == full.history_["val_NDCG@10"]
    for a, b in zip(full.network_weights()["net"], longer.network_weights()["net"]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow  # a learning/extension check that trains; make test runs it, make test-fast (3 min) does not
def test_a_checkpoint_that_cannot_be_extended_exactly_is_refused(tmp_path):
    split = block_split()
    kw = tiny("bpr", eval_every=2, patience=10)
    make_model("bpr", **dict(kw, epochs=3)).fit(split, checkpoint_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="not a multiple of eval_every"):
        make_model("bpr", **dict(kw, epochs=6)).fit(split, checkpoint_dir=tmp_path / "a")
    make_model("bpr", **dict(kw, epochs=4)).fit(split, checkpoint_dir=tmp_path / "b")
    with pytest.raises(ValueError, match="more than epochs=2"):
        make_model("bpr", **dict(kw, epochs=2)).fit(split, checkpoint_dir=tmp_path / "b")


def test_config_takes_numpy_numbers_and_refuses_ambiguous_booleans():
    assert model_config("itemknn", k=np.int64(20)).k == 20
    assert model_config("ease", l2=np.float32(0.5)).l2 == 0.5
    assert model_config("gru4rec", stream=np.bool_(True)).stream is True
    for bad in (1, 1.0, "True"):
        with pytest.raises(ValueError, match="stream must be True or False"):
            model_config("gru4rec", stream=bad)


def test_a_property_keeps_its_own_error():
    model = make_model("gru4rec", stream=True)
    with pytest.raises(AttributeError, match="not counted when streaming"):
        _ = model.trained_targets


def test_a_checkpoint_is_bound_to_its_data(tmp_path):
    a, b = block_split(seed=0), block_split(seed=1)
    assert (a.num_users, a.num_items) == (b.num_users, b.num_items)
    make_model("bpr", **tiny("bpr")).fit(a, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="another model or setting.*data"):
        make_model("bpr", **tiny("bpr")).fit(b, checkpoint_dir=tmp_path)


@pytest.mark.slow  # a learning/extension check that trains; make test runs it, make test-fast (3 min) does not
def test_restore_rebuilds_from_the_config_without_training():
    split = block_split()
    for name in ("bpr", "cfgan"):
        fitted = make_model(name, **tiny(name)).fit(split)
        w = fitted.stored_weights()
        again = make_model(name, **tiny(name)).restore(
            split, w, fitted.history_, fitted.best_epoch_, fitted.train_seconds_
        )
        users = np.arange(split.num_users)
        for which in ("valid", "test"):  # BPR's test scores come from its refit twin
            np.testing.assert_array_equal(fitted.score(users, which), again.score(users, which))
        if name == "bpr":
            assert set(w) == {"net", "refit/net"}
            with pytest.raises(ValueError, match="lack the networks of a twin"):
                make_model(name, **tiny(name)).restore(split, fitted.network_weights(), {}, 1, 0.0)
    assert set(w) == {"generator", "discriminator"}  # CFGAN saves its two networks
    with pytest.raises(ValueError, match="do not fit"):
        make_model("bpr", **tiny("bpr", dim=4)).restore(
            split, fitted_bpr_weights(split), {}, 1, 0.0
        )


def fitted_bpr_weights(split):
    return make_model("bpr", **tiny("bpr")).fit(split).stored_weights()


# ----------------------------------------------------------------------------- a new model
def test_a_model_registered_at_test_time_reaches_the_results_table(tmp_path, monkeypatch):
    from recsys_lib.experiment import cached_experiment
    from recsys_lib.report import registered_records, results_table

    monkeypatch.setenv("RECSYS_RESULTS", str(tmp_path))
    register(
        "tiny-pop",
        "recsys_lib.models.baselines:Popularity",
        "general",
        "99_test",
        "Tiny popularity",
        kind="test",
    )
    try:
        split = block_split()
        for seed in (0, 1):
            cached_experiment("tiny-pop", split, seed=seed, dataset="toy")
        cached_experiment("ease", split, seed=0, dataset="toy")
        records = registered_records(tmp_path, "toy")
        assert list(records) == ["ease", "tiny-pop"]
        table = results_table(records)
        assert "Tiny popularity" in table.index
        assert table.loc["Tiny popularity", "seeds"] == 2
        assert table.loc["Tiny popularity", "kind"] == "test"
        rec = json.loads((tmp_path / "toy" / "seeds" / "tiny-pop-seed0.json").read_text())
        assert rec["overrides"] == {} and rec["config"] == {}
    finally:
        unregister("tiny-pop")


def test_variants_are_named_in_the_registry_and_left_out_of_one_per_network():
    from recsys_lib.registry import VARIANT_OF, networks

    # every SASRec loss but the full softmax, and GRU4Rec's LSTM cell, share a network
    assert VARIANT_OF == {
        "gru4rec-lstm": "gru4rec",
        "sasrec-bce": "sasrec",
        "sasrec-sampled": "sasrec",
        "sasrec-gbce": "sasrec",
    }
    one_each = networks()
    assert "sasrec" in one_each and "gru4rec" in one_each and "bert4rec" in one_each
    assert not set(one_each) & set(VARIANT_OF)
    assert networks(["sasrec-bce", "ease"]) == ["ease"]
    # a variant of a model that is not registered is refused, and leaves nothing behind
    with pytest.raises(ValueError, match="variant of 'nope', which is not registered"):
        register(
            "tiny-x",
            "recsys_lib.models.baselines:Popularity",
            "general",
            "99_test",
            variant_of="nope",
        )
    assert "tiny-x" not in MODELS
    register(
        "tiny-v", "recsys_lib.models.baselines:Popularity", "general", "99_test", variant_of="pop"
    )
    try:
        assert "tiny-v" not in networks() and VARIANT_OF["tiny-v"] == "pop"
    finally:
        unregister("tiny-v")
    assert "tiny-v" not in VARIANT_OF


# ----------------------------------------------------------------------------- imports
def test_the_library_has_no_import_cycles():
    modules = sorted(
        "recsys_lib." + ".".join(p.relative_to(PKG).with_suffix("").parts)
        for p in PKG.rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py")
    )
    graph = {m: keys._imports(m) for m in modules}
    state, cycles = {}, []

    def visit(m, path):
        state[m] = "open"
        for n in graph.get(m, ()):
            if n not in graph:
                continue
            if state.get(n) == "open":
                cycles.append(path[path.index(n) :] + [n])
            elif n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in modules:
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles
