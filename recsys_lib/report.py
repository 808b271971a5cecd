"""Tables and comparisons of stored results, for the README, the CLI and the report chapters.

Nothing here trains a model: everything reads result records (``run_experiment`` output, stored
under ``results/<dataset>/seeds/``) or the top-10 lists a fitted model produced.
"""
from __future__ import annotations

import json
import math

import numpy as np

__all__ = ["variant_comparison", "settings_text", "baseline_table", "long_tail_share", "load_seed_records", "summarise", "paired_test",
           "holm", "against_best_baseline", "fair_comparison", "book_comparison", "per_user_mean", "verdict_word",
           "registered_records", "results_table", "seed_band", "split_line", "provenance",
           "and_list", "best_setting_reading", "seed_mean_ci", "model_table", "CI_N_BOOT"]

from .metrics import METRICS as _NAMES  # noqa: E402

#: the metrics the records hold, at the protocol's cut-off: ("HR@10", "NDCG@10", "MRR@10")
METRICS = tuple(f"{m}@10" for m in _NAMES)


def and_list(items) -> str:
    """``["a", "b", "c"]`` as ``"a, b and c"``: a list as a sentence reads it."""
    items = [str(x) for x in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def best_setting_reading(best_by, seed_values, setting: str = "L", noun: str = "window") -> str:
    """Whether the best value of one searched setting stands out from the runner-up.

    ``best_by`` maps each value of ``setting`` to the best validation score of a finished trial
    with it (a pandas Series, or a dict); ``seed_values`` are the chosen settings' validation
    scores over the seeds. The best value "stands out" when it leads the runner-up by more than
    twice the seed-to-seed standard deviation (one seed: a standard deviation of 0). A reading,
    not a test: a search varies every setting at once.
    """
    items = sorted(dict(best_by).items(), key=lambda kv: -kv[1])
    if len(items) < 2:
        raise ValueError(f"need at least two values of {setting} to compare, got {len(items)}")
    (v1, s1), (v2, s2) = items[:2]
    vals = [float(v) for v in seed_values]
    sd = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    gap = s1 - s2
    tail = (f"the best {noun}s are within what a change of seed does" if gap <= 2 * sd
            else f"{setting} = {v1} stands out by more than twice that")
    return (f"the best {noun}, {setting} = {v1}, leads the next best ({setting} = {v2}) by "
            f"{gap:.3f}; the seed-to-seed standard deviation of the chosen settings is "
            f"{sd:.3f}: {tail}")


def settings_text(settings: dict | None) -> str:
    """``{"L": 9, "lr": 0.001}`` as ``"L = 9, lr = 0.001"``: settings as a reader reads them,
    not a Python dict (``"(none)"`` for no settings)."""
    if not settings:
        return "(none)"
    return ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}"
                     for k, v in settings.items())


def baseline_table(records: list[dict], digits: int = 3) -> str:
    """A markdown table of validation and test metrics, CI and training time."""
    head = ("| model | valid HR@10 | valid NDCG@10 | valid MRR@10 | test HR@10 | test NDCG@10 "
            "| test NDCG@10 95% CI | test MRR@10 | train s | params |")
    lines = [head, "|" + "---|" * 10]
    for r in records:
        v, t = r["valid"], r["test"]
        lo, hi = r["test_ci95"]["NDCG@10"]
        lines.append(f"| {r['model']} | {v['HR@10']:.{digits}f} | {v['NDCG@10']:.{digits}f} "
                     f"| {v['MRR@10']:.{digits}f} | {t['HR@10']:.{digits}f} "
                     f"| {t['NDCG@10']:.{digits}f} | [{lo:.{digits}f}, {hi:.{digits}f}] "
                     f"| {t['MRR@10']:.{digits}f} | {r['train_seconds']:.1f} | {r['params']:,} |")
    return "\n".join(lines)


def long_tail_share(topk, item_counts, head_fraction: float = 0.2) -> float:
    """Share of the recommended items that lie outside the popular head of the catalogue.

    ``topk`` is a (users, k) array of item codes; ``item_counts[i]`` is item ``i``'s number of
    training interactions. The head is the ``ceil(head_fraction * num_items)`` most
    interacted-with items (ties broken by item code); everything else is the long tail.
    """
    topk = np.asarray(topk)
    counts = np.asarray(item_counts)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError("item_counts must be a non-empty 1-D array")
    if not 0 < head_fraction < 1:
        raise ValueError("head_fraction must lie strictly between 0 and 1")
    if topk.size == 0:
        raise ValueError("no recommendations")
    if topk.min() < 0 or topk.max() >= counts.size:
        raise ValueError(f"item codes must lie in 0..{counts.size - 1}")
    n_head = math.ceil(head_fraction * counts.size)
    head = np.zeros(counts.size, dtype=bool)
    head[np.argsort(-counts, kind="stable")[:n_head]] = True
    return float(1.0 - head[topk].mean())


def load_seed_records(results_root, dataset: str, name: str, seeds=(0, 1, 2)) -> list[dict]:
    """The stored records ``<results_root>/<dataset>/seeds/<name>-seed<s>.json`` that exist."""
    from pathlib import Path

    out = []
    for s in seeds:
        p = Path(results_root) / dataset / "seeds" / f"{name}-seed{s}.json"
        if p.exists():
            out.append(json.loads(p.read_text()))
    if not out:
        raise FileNotFoundError(f"no stored records for {name!r} under {Path(results_root) / dataset}; "
                                f"run: python -m recsys_lib evaluate {name} --seed 0")
    return out


def registered_records(results_root, dataset: str = "ml-100k", seeds=(0, 1, 2)) -> dict:
    """``{name: [records]}`` for every registered model with a stored default record, in the
    registry's order: the report chapters discover their models here, not from a list."""
    from .registry import MODELS

    out = {}
    for name in MODELS:
        try:
            out[name] = load_seed_records(results_root, dataset, name, seeds)
        except FileNotFoundError:
            continue
    return out


def results_table(records: dict):
    """One row per model (its registry label): kind, seeds, and mean ± sd of every metric over
    the seeds, plus the 95% interval of mean test NDCG@10 over the seeds (``seed_mean_ci``).
    ``records`` as ``registered_records``."""
    import pandas as pd

    from .registry import entry

    def pm(row, key):
        sd = row[f"{key} std"]
        return f"{row[key]:.3f}" + (f" ± {sd:.3f}" if np.isfinite(sd) else "   –   ")

    rows = {}
    for name, recs in records.items():
        r, e = summarise(recs), entry(name)
        rows[e.label] = {"kind": e.kind, "seeds": r["seeds"],
                         **{f"{part} {m}": pm(r, f"{part} {m}") for part in ("valid", "test")
                            for m in METRICS},
                         "test NDCG@10 95% CI": "[{:.3f}, {:.3f}]".format(*r["test NDCG@10 CI"])}
    return pd.DataFrame(rows).T


#: what a chapter may state about a model, each formatted one way from ``summarise`` of its
#: stored records (means over the seeds, the interval of the mean over the seeds): ``fact`` is the one
#: place a model's figure is written, so that it reads the same in every chapter
FACTS = {
    "test NDCG@10": lambda s: f"{s['test NDCG@10']:.3f}",
    "valid NDCG@10": lambda s: f"{s['valid NDCG@10']:.3f}",
    "test HR@10": lambda s: f"{s['test HR@10']:.3f}",
    "test NDCG@10 sd": lambda s: f"{s['test NDCG@10 std']:.3f}",
    "test NDCG@10 95% CI": lambda s: "[{:.3f}, {:.3f}]".format(*s["test NDCG@10 CI"]),
    "train seconds": lambda s: f"{s['train seconds']:.0f}" if s["train seconds"] >= 10
    else f"{s['train seconds']:.1f}",
    "params": lambda s: f"{int(s['params']):,}",
}


def fact(records: list[dict], quantity: str) -> str:
    """A model's ``quantity`` (a key of ``FACTS``) as the book prints it, from its records
    (all its stored seeds: ``load_seed_records``). Chapters glue it with
    ``recsys_lib.utils.glue_fact``, and a test checks that no (model, quantity) is glued with
    two values anywhere in the book."""
    if quantity not in FACTS:
        raise ValueError(f"quantity must be one of {', '.join(FACTS)}, got {quantity!r}")
    return FACTS[quantity](summarise(records))


def seed_band(records: list[dict], part: str = "test", metric: str = "NDCG@10",
              widen: float = 2.0) -> dict:
    """The band a fresh run of a model should land in: the range of its stored seeds, widened
    by ``widen`` standard deviations over those seeds on each side.

    Training that depends on the processor (see the Reproducibility page) gives another
    computer slightly different digits; a run that falls outside this band is a regression,
    not noise. Returns ``{"lo", "hi", "min", "max", "sd", "seeds"}``.
    """
    vals = np.array([r[part][metric] for r in records], float)
    if vals.size < 2:
        raise ValueError("a band needs at least two stored seeds")
    sd = float(vals.std(ddof=1))
    return {"lo": float(vals.min() - widen * sd), "hi": float(vals.max() + widen * sd),
            "min": float(vals.min()), "max": float(vals.max()), "sd": sd, "seeds": int(vals.size)}


#: the bootstrap of every interval the book prints about one model (the records' own setting)
CI_N_BOOT = 1000


def seed_mean_ci(records: list[dict]) -> tuple[float, float]:
    """The 95% bootstrap interval of a model's mean test NDCG@10, over the users, of each
    user's value averaged over the seeds: the same values the paired tests compare, so an
    interval beside a mean over the seeds describes that mean. (One seed: that seed's users.)
    Records without per-user values fall back to the lowest seed's stored interval."""
    from .metrics import bootstrap_ci

    if not all("per_user_test_ndcg" in r for r in records):
        first = min(records, key=lambda r: r["seed"])
        return tuple(first["test_ci95"]["NDCG@10"])
    lo, hi = bootstrap_ci(per_user_mean(records), n_boot=CI_N_BOOT, seed=0)
    return (round(float(lo), 4), round(float(hi), 4))


def model_table(records: dict, extra=("params",)):
    """A chapter's results table: one row per model name of ``records`` (name -> its seed
    records), numeric, with the seeds, mean validation NDCG@10, mean test HR@10, NDCG@10 and
    MRR@10 over the seeds, the sample standard deviation of test NDCG@10 over the seeds
    (NaN for one seed), the 95% interval of that mean (``seed_mean_ci``), and the seed-0
    values of ``extra`` record fields (``"params"``, ``"coverage@10"``)."""
    import pandas as pd

    rows = {}
    for name, recs in records.items():
        s = summarise(recs)
        first = min(recs, key=lambda r: r["seed"])
        rows[name] = {"seeds": s["seeds"], "valid NDCG@10": s["valid NDCG@10"],
                      "test HR@10": s["test HR@10"], "test NDCG@10": s["test NDCG@10"],
                      "± sd": s["test NDCG@10 std"],
                      "95% CI": "[{:.3f}, {:.3f}]".format(*s["test NDCG@10 CI"]),
                      "test MRR@10": s["test MRR@10"],
                      **{k: first.get(k, float("nan")) for k in extra}}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table


def summarise(records: list[dict]) -> dict:
    """Mean and standard deviation over seeds of every validation and test metric, the
    interval of the mean test NDCG@10 (``seed_mean_ci``), and the seed-0 record's parameters,
    list statistics and the mean training time."""
    if not records:
        raise ValueError("no records")
    row = {"seeds": len(records)}
    for part in ("valid", "test"):
        for m in METRICS:
            vals = [r[part][m] for r in records]
            row[f"{part} {m}"] = float(np.mean(vals))
            row[f"{part} {m} std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else float("nan")
    first = min(records, key=lambda r: r["seed"])
    row["test NDCG@10 CI"] = seed_mean_ci(records)
    row["params"] = first["params"]
    row["train seconds"] = float(np.mean([r["train_seconds"] for r in records]))
    row["coverage@10"] = first.get("coverage@10", float("nan"))
    row["long_tail@10"] = first.get("long_tail@10", float("nan"))
    return row


def paired_test(a, b, n_boot: int = 2000, seed: int = 0) -> dict:
    """Compare per-user scores ``a`` and ``b`` of the same users (e.g. test NDCG@10).

    Returns the mean difference ``a - b``, its 95% paired-bootstrap interval, and the two-sided
    p-value of the Wilcoxon signed-rank test (users with equal scores dropped, as is standard).
    """
    from scipy.stats import wilcoxon

    from .metrics import bootstrap_ci

    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError("a and b must be 1-D arrays of the same, non-zero length")
    d = a - b
    lo, hi = bootstrap_ci(d, n_boot=n_boot, seed=seed)
    p = 1.0 if not np.any(d) else float(wilcoxon(a, b, zero_method="wilcox").pvalue)
    return {"diff": float(d.mean()), "ci": (lo, hi), "p": p}


def holm(pvalues) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (controls the family-wise error rate)."""
    p = np.asarray(pvalues, float)
    order = np.argsort(p)
    m = len(p)
    adj = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        adj[idx] = running
    return adj


def per_user_mean(records: list[dict], key: str = "per_user_test_ndcg") -> np.ndarray:
    """Each user's value averaged over a model's seed records (the same users in each)."""
    arrays = [np.asarray(r[key], float) for r in records]
    if not arrays or any(a.shape != arrays[0].shape for a in arrays):
        raise ValueError("seed records must hold per-user values of the same users")
    return np.mean(arrays, axis=0)


def against_best_baseline(records: dict, baselines, others, alpha: float = 0.05) -> dict:
    """Compare each model in ``others`` with the best of ``baselines``, per user, over all seeds.

    ``records`` maps a model name to its stored records (all its seeds). The best baseline is
    the one with the highest mean *validation* NDCG@10 over its seeds. Each comparison is a
    ``paired_test`` of the per-user test NDCG@10 *averaged over the seeds* of each model
    (PROTOCOL.md, "Seeds and significance"); the p-values are Holm-adjusted over ``others``.
    Each seed is also tested on its own against the baseline's seed average: ``per_seed`` holds
    its difference and p-value, and ``p_worst_seed`` the largest of those p-values.

    Returns ``{"best": name, "tests": {name: {...paired_test..., "p_holm", "verdict",
    "per_seed", "p_worst_seed", "seeds"}}}``; the verdict is "better", "worse" or
    "no detectable difference" at level ``alpha`` after the correction.
    """
    baselines, others = list(baselines), list(others)
    if not baselines or not others:
        raise ValueError("need at least one baseline and one model to compare")
    best = max(baselines, key=lambda n: summarise(records[n])["valid NDCG@10"])
    ref = per_user_mean(records[best])
    tests = {}
    for n in others:
        t = paired_test(per_user_mean(records[n]), ref)
        t["per_seed"] = []
        for r in sorted(records[n], key=lambda r: r["seed"]):
            one = paired_test(r["per_user_test_ndcg"], ref)
            t["per_seed"].append({"seed": r["seed"], "diff": one["diff"], "p": one["p"]})
        t["p_worst_seed"] = max(x["p"] for x in t["per_seed"])
        t["seeds"] = len(records[n])
        tests[n] = t
    for n, p in zip(others, holm([tests[n]["p"] for n in others])):
        t = tests[n]
        t["p_holm"] = float(p)
        t["verdict"] = verdict_word(t["diff"], p, alpha)
    return {"best": best, "tests": tests}


def verdict_word(diff: float, p: float, alpha: float = 0.05) -> str:
    """The verdict a test allows: "better"/"worse" if ``p < alpha``, else "no detectable difference"."""
    return ("better" if diff > 0 else "worse") if p < alpha else "no detectable difference"


def variant_comparison(new: list[dict], base: list[dict], new_label: str, base_label: str,
                       alpha: float = 0.05):
    """A variant of a model against the model itself, as the exercises ask it.

    ``new`` and ``base`` are seed records of the same seeds. Returns ``(table, reading)``: the
    table has one row per seed with the validation and test NDCG@10 of each; the reading gives
    the paired test of the per-user test NDCG@10 averaged over the seeds (``paired_test``) and
    the verdict it allows (``verdict_word``), e.g. "mean-pooling minus max-pooling, test
    NDCG@10 per user: -0.004 [-0.010, +0.002], Wilcoxon p 0.21: the test cannot tell them
    apart"."""
    import pandas as pd

    if sorted(r["seed"] for r in new) != sorted(r["seed"] for r in base):
        raise ValueError("the variant and its base must have the same seeds")
    by_seed = {r["seed"]: r for r in base}
    table = pd.DataFrame(
        {f"{lab} {part}": [rec[part]["NDCG@10"] for rec in runs]
         for lab, runs in ((new_label, new), (base_label, [by_seed[r["seed"]] for r in new]))
         for part in ("valid", "test")},
        index=pd.Index([r["seed"] for r in new], name="seed"))
    t = paired_test(per_user_mean(new), per_user_mean(base))
    word = verdict_word(t["diff"], t["p"], alpha)
    verdict = {"better": f"{new_label} is better", "worse": f"{new_label} is worse"}.get(
        word, "the test cannot tell them apart")
    reading = (f"{new_label} minus {base_label}, test NDCG@10 per user: {t['diff']:+.3f} "
               f"[{t['ci'][0]:+.3f}, {t['ci'][1]:+.3f}], Wilcoxon p {t['p']:.2g}: {verdict}")
    return table, reading


def fair_comparison(records: dict, alpha: float = 0.05) -> dict:
    """The book's headline comparison (PROTOCOL.md): each model against the strongest simple
    rival of its kind, chosen on validation, with Holm's correction within each family.

    Sequence models (registry family "sequence") face the best sequence-aware baseline;
    order-blind models face the best general baseline. Sequence models are also compared with
    the best general baseline (``"sequence vs general"``), since both apply to them.
    Returns ``{family: against_best_baseline(...)}`` for the families present in ``records``.
    """
    from .registry import entry

    def names(family, baseline):
        return [n for n in records if entry(n).family == family and entry(n).baseline == baseline]

    out = {}
    for fam in ("general", "sequence"):
        if names(fam, True) and names(fam, False):
            out[fam] = against_best_baseline(records, names(fam, True), names(fam, False), alpha)
    if "sequence" in out and names("general", True):
        out["sequence vs general"] = against_best_baseline(records, names("general", True),
                                                           names("sequence", False), alpha)
    return out


def book_comparison(records: dict, results_root, dataset: str = "ml-100k",
                    alpha: float = 0.05) -> dict:
    """``fair_comparison`` over every model with stored records (chapter 8's families), with a
    chapter's own ``records`` in place of the stored ones of the same models.

    A chapter that tests its models against their simple rival reads its verdicts here, so
    that a pair has one verdict, with one Holm correction, in every chapter: a smaller family
    of tests would give the same pair a smaller adjusted p-value in one chapter than in another.
    """
    return fair_comparison({**registered_records(results_root, dataset), **records}, alpha)


def split_line(split) -> str:
    """The sizes of a split as one readable line (what ``split.summary()`` holds)."""
    s = split.summary()
    return (f"{s['users']:,} users, {s['items']:,} items; {s['train']:,} training, {s['valid']:,} "
            f"validation and {s['test']:,} test interactions; density {s['density']:.4f}")


def provenance(records: dict, label=None) -> str:
    """Where each model's records came from in this run, one line per source: trained here,
    restored (a model an earlier run trained on this computer, with its stored record:
    ``experiment.trained_model``), or read from stored records. ``records`` maps a name to its
    records (each with ``"cached"``, and ``"restored"`` for a restored model); ``label`` maps a
    name to its display label (default: the name)."""
    label = label or {}
    groups = {"trained here": [], "restored from the model store": [],
              "read from stored records": []}
    for n, rs in records.items():
        name = label.get(n, n)
        counts = {"trained here": sum(not r.get("cached", False) for r in rs),
                  "restored from the model store": sum(bool(r.get("restored")) for r in rs)}
        counts["read from stored records"] = len(rs) - sum(counts.values())
        for g, k in counts.items():
            if k:
                groups[g].append(name + (f" ({k} seeds)" if k > 1 else ""))
    return "\n".join(f"{g}: {', '.join(v) or 'none'}" for g, v in groups.items()
                     if v or g != "restored from the model store")


def network_table(net):
    """A Keras network's layers as a table a reader can take in: each layer's name, type, the
    shapes of its weights and its parameter count, plus a last row with the total.

    Keras' own ``summary()`` prints output shapes that a subclassed network only knows for the
    batch it was last called with (or as ``?``), and counts the optimizer's slots as
    parameters; the weights' shapes are exact and say what each layer learns.
    """
    import pandas as pd

    rows = []
    for layer in net.layers:
        weights = layer.weights
        rows.append({"layer": layer.name, "type": type(layer).__name__,
                     "weights": ", ".join(" × ".join(str(d) for d in w.shape) for w in weights)
                     or "none",
                     "parameters": int(sum(int(np.prod(w.shape)) for w in weights))})
    if not rows:
        raise ValueError(f"{type(net).__name__} has no layers: build or call it first")
    total = sum(r["parameters"] for r in rows)
    rows.append({"layer": "total", "type": "", "weights": "", "parameters": total})
    return pd.DataFrame(rows).set_index("layer")


def label_points(ax, xs, ys, labels, fontsize: float = 7, pad: float = 2.0):
    """Write ``labels`` next to the points ``(xs, ys)`` of ``ax`` without letting them overlap.

    Labels go to the right of their point (to the left in the right third of the axes, so that
    they stay inside); one that would overlap a label already placed is
    moved down, a line's height at a time, until it is clear, and a thin line then joins it to
    its point. Returns the text objects. Call it once the axes' limits and scales are set.
    """
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    placed, texts = [], []
    order = sorted(range(len(labels)), key=lambda i: -ys[i])     # top to bottom
    frame = ax.get_window_extent(renderer)
    left, right = frame.x0, frame.x1
    for i in order:
        px, _ = ax.transData.transform((xs[i], ys[i]))
        dx, ha = (-3, "right") if px > left + 2 * (right - left) / 3 else (3, "left")
        t = ax.annotate(labels[i], (xs[i], ys[i]), xytext=(dx, 0), textcoords="offset points",
                        fontsize=fontsize, va="center", ha=ha)
        box = t.get_window_extent(renderer)
        shift = 0.0
        while any(box.translated(0, -shift).padded(pad).overlaps(b) for b in placed):
            shift += box.height + pad
        if shift:
            t.remove()
            t = ax.annotate(labels[i], (xs[i], ys[i]), xytext=(dx, -shift * 72 / fig.dpi),
                            textcoords="offset points", fontsize=fontsize, va="center", ha=ha,
                            arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "grey"})
        placed.append(box.translated(0, -shift))
        texts.append(t)
    return texts
