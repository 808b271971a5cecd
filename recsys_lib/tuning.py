"""The same tuning effort for every model: a seeded Optuna TPE search of ``TRIALS`` trials.

``python -m recsys_lib tune MODEL`` searches the model's ``Config.space`` on validation
NDCG@10 (the test item is never scored) and writes ``results/<dataset>/tuning/<MODEL>.json``.

* **The space.** ``Config.space`` maps a setting to the values tried, in order. A numeric
  setting is searched as an ordinal (TPE models the index in that list), a text or boolean
  one as a category. A setting with one value is fixed, not tuned.
* **The budget.** ``TRIALS`` trials for every model, baseline or deep (PROTOCOL.md, "Tuning").
  A deterministic model that TPE asks for a configuration it already tried answers from the
  earlier trial; the repeat still counts against the budget.
* **Stopping poor trials early.** A model trained epoch by epoch reports its validation NDCG@10
  after every check, and a trial whose best value so far is below the median of the earlier
  trials that ran to the end, at the same epoch, is stopped (Optuna's ``MedianPruner``: not
  before ``STARTUP`` trials have finished, nor before epoch ``WARMUP``). A stopped trial counts
  against the budget like any other, and is recorded with the epoch it reached and its best
  NDCG@10 so far; the chosen configuration is the best of the trials that ran to the end.
  Models without epochs (the closed-form and neighbourhood baselines) are never stopped. The
  search reads the checks from the line the training loop prints when ``verbose``
  (``_Checks``), so that it needs no hook in the code that makes records. Stopping early is
  what makes sixteen trials of the deep models affordable on two cores; its risk, that a slow
  starter is cut, is why it waits for ``WARMUP`` epochs.
* **Interruptions.** The study lives in an SQLite file under ``results/<dataset>/tuning/studies/``
  (``studies_dir``; committed, so a search cut off on one machine resumes on another from a
  clone: the command line and ``benchmarks/tune_models.py`` pass it to ``tune``, whose own
  default is the uncommitted ``data/tuning/``); a killed search resumes from it. Trial ``k`` is proposed by a sampler seeded with
  ``(seed, k)`` that sees the ``k`` finished trials, so a resumed search proposes exactly what
  an uninterrupted one would. The record is rewritten after every trial.
* **Currency.** A record carries ``key``: the model, its settings outside the space, the space,
  the budget, the seed, the data, the library versions and the code's behaviour key, like a
  result record's fingerprint (whose code hash also blanks config defaults and space values:
  setting the defaults to the optimum must not make the search stale; the key holds the values). ``tuning_status`` says whether a committed record is current.
* **Edges.** ``open_edges`` lists settings whose best value is the first or last value tried
  while the setting's range goes on beyond it; such an optimum is not one (PROTOCOL.md). A
  model with a time target may end a costly setting where the next value would pass it.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import time
from pathlib import Path

__all__ = ["TRIALS", "tune", "tuning_key", "tuning_path", "tuning_status", "open_edges",
           "search_space", "edges", "cost_bound_edges", "load_tuning", "tuning_record", "trials_frame", "best_trials", "best_seconds",
           "studies_dir", "study_file", "search_progress"]

#: the search budget of every model: trials of TPE on validation NDCG@10
TRIALS = 16
#: random trials before TPE starts modelling (and before any trial is stopped early)
STARTUP = 5
#: epochs a trial always runs before it may be stopped early
WARMUP = 5
CRITERION = "valid NDCG@10"
#: the code of the search itself, hashed into the key (as result records hash the functions
#: that make a record, not whole modules: a new report helper must not stale every search)
TUNER_FUNCTIONS = ("recsys_lib.tuning:tune", "recsys_lib.tuning:_suggest",
                   "recsys_lib.tuning:_Checks", "recsys_lib.tuning:search_space")


def search_space(name: str) -> dict:
    """The model's searched settings and their values (settings with one value are fixed)."""
    from .registry import entry

    space = entry(name).model_class().Config.space
    return {k: list(v) for k, v in space.items() if k not in entry(name).fixed}


def tuning_key(name: str, split, seed: int = 0, trials: int = TRIALS) -> str:
    """The currency key of a tuning record (see the module docstring)."""
    from .datakey import data_key
    from .keys import NUMERIC_ENV, _function_code_hash, behaviour_key, package_versions
    from .registry import entry

    e = entry(name)
    space = search_space(name)
    settings = {k: v for k, v in e.config().key_dict().items() if k not in space}
    parts = {"model": name, "settings": settings, "space": space, "trials": int(trials),
             "startup": STARTUP, "warmup": WARMUP, "seed": int(seed), "data": data_key(split),
             "versions": package_versions(), "env": {k: os.environ.get(k) for k in NUMERIC_ENV},
             "code": behaviour_key(e.module),
             "tuner": [_function_code_hash(f) for f in TUNER_FUNCTIONS]}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def tuning_path(name: str, dataset: str = "ml-100k") -> Path:
    from .experiment import results_dir

    return results_dir() / dataset / "tuning" / f"{name}.json"


def load_tuning(name: str, dataset: str = "ml-100k") -> dict | None:
    """The committed shared-budget search of ``name``, or ``None``."""
    path = tuning_path(name, dataset)
    return json.loads(path.read_text()) if path.exists() else None


def tuning_record(name: str, dataset: str = "ml-100k") -> tuple[dict | None, str]:
    """``(record, kind)``: the shared-budget search (kind "shared budget") if there is one, else
    the grid search made before the shared tuner existed ("legacy grid", under
    ``results/<dataset>/tuning-legacy/``), else ``(None, "none")``. Both kinds list
    ``trials`` with ``hyperparameters`` and ``valid`` metrics, and ``best``."""
    rec = load_tuning(name, dataset)
    if rec is not None:
        return rec, "shared budget"
    legacy = tuning_path(name, dataset).parent.parent / "tuning-legacy" / f"{name}.json"
    if legacy.exists():
        return json.loads(legacy.read_text()), "legacy grid"
    return None, "none"


def trials_frame(name: str, dataset: str = "ml-100k"):
    """The trials of ``tuning_record(name)`` as a DataFrame: one row per trial, its settings,
    its validation NDCG@10 and, for a trial stopped early, the epoch it reached (its NDCG@10 is
    then the best it had so far); empty if there was no search."""
    import pandas as pd

    rec, _ = tuning_record(name, dataset)
    trials = (rec or {}).get("trials", [])
    out = pd.DataFrame([{**t["hyperparameters"], "valid NDCG@10": t["valid"]["NDCG@10"],
                         "stopped at epoch": t.get("stopped_at_epoch")} for t in trials])
    if not any("stopped_at_epoch" in t for t in trials):
        out = out.drop(columns="stopped at epoch", errors="ignore")
    return out


def best_trials(trials, n: int = 8):
    """The ``n`` best distinct settings of a ``trials_frame``, best first, as a reader reads
    them: a setting proposed more than once (TPE may repeat one) is one row, with the number
    of times in ``proposed``; ``stopped at epoch`` reads as an integer, or "–" for a trial that
    ran to the end."""
    import pandas as pd

    if trials.empty:
        return trials
    settings = [c for c in trials.columns if c not in ("valid NDCG@10", "stopped at epoch")]
    ranked = trials.sort_values("valid NDCG@10", ascending=False, kind="stable")
    counts = ranked.groupby(settings, sort=False, dropna=False).size()
    out = ranked.drop_duplicates(subset=settings, keep="first").head(n).copy()
    out["proposed"] = [int(counts.loc[tuple(r)]) if len(settings) > 1 else int(counts.loc[r[0]])
                       for r in out[settings].itertuples(index=False)]
    if "stopped at epoch" in out:
        out["stopped at epoch"] = out["stopped at epoch"].map(
            lambda v: "–" if pd.isna(v) else str(int(v)))
    return out.reset_index(drop=True)


def tuning_status(name: str, split, dataset: str = "ml-100k") -> str:
    """'current' (a finished record with today's key), 'running' (unfinished), 'stale'
    (another key: code, data, space or budget changed) or 'missing'."""
    rec = load_tuning(name, dataset)
    if rec is None:
        return "missing"
    if rec.get("key") != tuning_key(name, split, rec.get("seed", 0), rec.get("budget", TRIALS)):
        return "stale"
    return "current" if len(rec["trials"]) >= rec["budget"] else "running"


def _next_value(values: list):
    """The value a widened list would try next past its last one: the last step again, added
    for evenly spaced values (``blocks = 1, 2, 3``), multiplied otherwise (``dim = 32, 64``)."""
    a, b = values[-2], values[-1]
    steps = {round(y - x, 12) for x, y in zip(values, values[1:])}
    return b + (b - a) if len(steps) == 1 or a <= 0 else b * (b / a)


def best_seconds(rec: dict) -> float | None:
    """Training seconds of a search record's chosen trial (``None`` without a choice)."""
    best = rec.get("best")
    row = next((t for t in rec.get("trials", []) if t["hyperparameters"] == best
                and "stopped_at_epoch" not in t), None)
    return None if row is None else row["train_seconds"]


def open_edges(name: str, best: dict, seconds: float | None = None) -> list[str]:
    """The settings of ``best`` on an open edge of the space (see ``edges``)."""
    return edges(name, best, seconds)[0]


def cost_bound_edges(name: str, best: dict, seconds: float | None = None) -> list[str]:
    """The settings of ``best`` at the dear end of their list that are not open edges only
    because one step further would pass the model's time target (see ``edges``)."""
    return edges(name, best, seconds)[1]


def edges(name: str, best: dict, seconds: float | None = None) -> tuple[list[str], list[str]]:
    """Settings of ``best`` at the first or last value of their list (lists are ordered: a
    space may end on a special value, such as ``k = 0`` for "all neighbours") while the
    setting's allowed range continues past it. A bound of the ``param`` (e.g. ``dropout >= 0``)
    is a natural limit, not an open edge.

    **Cost bounds.** A model whose ``Config`` names a time target (``seed_seconds``, seconds to
    train one seed) and the settings that make it dearer as they grow (``dearer``) may stop its
    space where the next value would pass the target: the largest value of such a setting is
    not an open edge when ``seconds`` (the chosen trial's training time) times the ratio of the
    next value (``_next_value``) to it exceeds ``seed_seconds``, cost taken as proportional to
    the setting. Without ``seconds`` every edge counts as open.

    Returns ``(open, cost_bound)``: the open edges, and the edges closed by the time target
    (each as a sentence naming the estimated seconds of the next value).
    """
    import dataclasses

    from .registry import entry

    config = entry(name).model_class().Config
    fields = {f.name: f for f in dataclasses.fields(config)}
    target, dearer = getattr(config, "seed_seconds", None), getattr(config, "dearer", ())
    out, bound = [], []
    for k, values in search_space(name).items():
        if len(values) < 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                      for v in values):
            continue
        meta = fields[k].metadata
        bounds = {b for b in (meta.get("low"), meta.get("high")) if b is not None}
        v = best[k]
        if v in bounds:
            continue
        if v == values[0]:
            out.append(f"{k}={v} is the {'smallest' if v == min(values) else 'first'} value tried")
        elif v == values[-1]:
            nxt = _next_value(values)
            if (k in dearer and target is not None and seconds is not None
                    and seconds * nxt / v > target):
                # a cost bound: one step further passes the time target
                bound.append(f"{k}={v} is the largest value tried, but {k}={nxt:g} would take "
                             f"about {seconds * nxt / v:.0f} s a seed, past the {target} s target")
                continue
            out.append(f"{k}={v} is the {'largest' if v == max(values) else 'last'} value tried")
    return out, bound


def studies_dir(dataset: str = "ml-100k") -> Path:
    """Where searches keep their Optuna studies: ``results/<dataset>/tuning/studies/``,
    committed, so that a search interrupted on one machine (or in one session) resumes on the
    next from a clone (``RECSYS_TUNING`` moves them)."""
    from .experiment import results_dir

    env = os.environ.get("RECSYS_TUNING")
    return Path(env) if env else results_dir() / dataset / "tuning" / "studies"


def study_file(name: str, split, seed: int = 0, trials: int = TRIALS,
               dataset: str = "ml-100k") -> Path:
    """The study file of the search that ``tune`` runs today (its name holds the key)."""
    return studies_dir(dataset) / f"{name}-{tuning_key(name, split, seed, trials)}.db"


def search_progress(name: str, split, seed: int = 0, trials: int = TRIALS,
                    dataset: str = "ml-100k") -> int:
    """Trials finished (run to the end or stopped early) by today's search of ``name``.

    The study is read through SQLite in read-only mode, not through Optuna: loading a study
    with Optuna opens it for writing (and rewrites the file's header), which would change a
    committed study, or race a search that is writing it, just by reading it."""
    import sqlite3

    path = study_file(name, split, seed, trials, dataset)
    if not path.exists():
        return 0
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        # the file's stem is the study's name, as tune() names both
        (n,) = con.execute(
            "SELECT COUNT(*) FROM trials JOIN studies USING (study_id) WHERE study_name = ? "
            "AND state IN ('COMPLETE', 'PRUNED')", (path.stem,)).fetchone()
    finally:
        con.close()
    return int(n)


#: the line ``EarlyStoppingRecommender`` prints after each validation check when ``verbose``
CHECK_LINE = re.compile(r"^epoch\s+(\d+)\s+loss \S+\s+val NDCG@10 (\S+)")


class _Checks(io.TextIOBase):
    """Stands in for stdout during a trial: each validation check the model prints is reported
    to the trial, and a trial the pruner stops raises ``optuna.TrialPruned`` from the print.

    Reading the training loop's own log line (``verbose`` is outside every cache key) keeps
    the search out of the code that makes records: a hook in the loop would re-key them all.
    """

    def __init__(self, trial, hp: dict, t0: float):
        self.trial, self.hp, self.t0, self.best, self._line = trial, hp, t0, -1.0, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        import optuna

        self._line += text
        while "\n" in self._line:
            line, self._line = self._line.split("\n", 1)
            m = CHECK_LINE.match(line)
            if not m:
                continue
            epoch, ndcg = int(m.group(1)), float(m.group(2))
            self.best = max(self.best, ndcg)
            self.trial.report(ndcg, epoch)
            if self.trial.should_prune():
                for k, v in (("hp", self.hp), ("valid", {"NDCG@10": self.best}),
                             ("stopped_at_epoch", epoch),
                             ("seconds", time.perf_counter() - self.t0)):
                    self.trial.set_user_attr(k, v)
                raise optuna.TrialPruned()
        return len(text)


def _suggest(trial, space: dict) -> dict:
    hp = {}
    for k, values in space.items():
        if len(values) == 1:
            hp[k] = values[0]
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            hp[k] = values[trial.suggest_int(k, 0, len(values) - 1)]     # ordinal: the index
        else:
            hp[k] = values[trial.suggest_categorical(k, list(range(len(values))))]
    return hp


def tune(name: str, split, seed: int = 0, trials: int = TRIALS, dataset: str = "ml-100k",
         progress=None, write: bool = True, storage_dir: Path | None = None) -> dict:
    """Run (or resume) the search; returns the record (also written when ``write``)."""
    import optuna

    from .download import project_dir
    from .experiment import _round
    from .io import write_json
    from .metrics import evaluate
    from .models.training import EarlyStoppingRecommender
    from .registry import entry, make_model
    from .utils import set_seed

    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    space = search_space(name)
    key = tuning_key(name, split, seed, trials)
    storage_dir = Path(storage_dir) if storage_dir else project_dir("RECSYS_TUNING", "data/tuning")
    storage_dir.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{storage_dir / f'{name}-{key}.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    probe = make_model(name)
    deterministic = not probe.uses_tensorflow and not probe.seeded
    rows: list[dict] = []

    def record(done: bool) -> dict:
        ran = [r for r in rows if "stopped_at_epoch" not in r]
        best = max(ran, key=lambda r: (r["valid"]["NDCG@10"], -r["trial"])) if ran else None
        return {"model": name, "dataset": dataset, "seed": seed, "key": key,
                "criterion": CRITERION, "sampler": f"TPE (optuna {optuna.__version__}), "
                f"{STARTUP} random start-up trials", "pruner": f"median, after {STARTUP} trials "
                f"and {WARMUP} epochs", "stopped_early": len(rows) - len(ran),
                "budget": trials, "space": space,
                "trials": rows, "best": best["hyperparameters"] if best else None,
                "best_valid": best["valid"] if best else None,
                "seconds": round(sum(r["train_seconds"] for r in rows), 2), "finished": done}

    def objective(trial):
        hp = _suggest(trial, space)
        t0 = time.perf_counter()
        seen = next((r for r in rows if r["hyperparameters"] == hp), None) if deterministic else None
        if seen is not None:
            valid = seen["valid"]
        else:
            # a model trained epoch by epoch prints its checks (verbose is in no key) to _Checks
            epochwise = issubclass(entry(name).model_class(), EarlyStoppingRecommender)
            model = make_model(name, seed=seed, **hp, **({"verbose": 1} if epochwise else {}))
            watch = (contextlib.redirect_stdout(_Checks(trial, hp, t0)) if epochwise
                     else contextlib.nullcontext())
            set_seed(seed, tensorflow=model.uses_tensorflow)
            with watch:
                model.fit(split, refit=False)   # validation only: no twin refit for test
            valid = _round(evaluate(model, split, "valid").means)
        trial.set_user_attr("hp", hp)
        trial.set_user_attr("valid", valid)
        trial.set_user_attr("seconds", time.perf_counter() - t0)
        return valid["NDCG@10"]

    study_name = f"{name}-{key}"
    while True:
        study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize",
                                    load_if_exists=True)
        finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        done = [t for t in study.trials if t.state in finished]
        rows = [{"trial": k, "hyperparameters": t.user_attrs["hp"], "valid": t.user_attrs["valid"],
                 "train_seconds": round(t.user_attrs["seconds"], 2),
                 **({"stopped_at_epoch": t.user_attrs["stopped_at_epoch"]}
                    if t.state == optuna.trial.TrialState.PRUNED else {})}
                for k, t in enumerate(done)]
        if write:
            write_json(record(len(rows) >= trials), tuning_path(name, dataset))
        if len(rows) >= trials:
            return record(True)
        if rows and progress:
            progress(rows[-1], len(rows), trials)
        # trial k is proposed by a sampler seeded with (seed, k) over the k finished trials,
        # so an interrupted search resumes exactly where an uninterrupted one would be
        sampler = optuna.samplers.TPESampler(seed=seed * 100_003 + len(rows),
                                             n_startup_trials=STARTUP)
        # (a trial killed mid-run stays RUNNING in the storage; TPE ignores it)
        pruner = optuna.pruners.MedianPruner(n_startup_trials=STARTUP, n_warmup_steps=WARMUP)
        study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler,
                                  pruner=pruner)
        study.optimize(objective, n_trials=1)

