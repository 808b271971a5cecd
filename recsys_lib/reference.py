"""Established-library references, trained on our split with their default settings.

Two independent libraries serve: Cornac (Salah, Truong & Lauw, JMLR 2020) and
``implicit`` (Frederickson). Their models are trained on our training split and ranked
by our metrics, so their numbers are directly comparable with the book's.
Cornac's ItemKNN is a rating-prediction kNN (a weighted *mean* of neighbour ratings),
which is constant on implicit data; ``implicit``'s CosineRecommender is the ranking one.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np

from .models.base import Recommender


@contextmanager
def _quiet_implicit():
    """``implicit`` warns when it converts a matrix to CSR itself (it costs microseconds here);
    the warning would print a path of this machine into the book."""
    from implicit.utils import ParameterWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParameterWarning)
        yield

__all__ = ["CornacModel", "ImplicitModel", "cornac_defaults", "implicit_defaults", "crosscheck"]


class CornacModel(Recommender):
    """Wrap a Cornac recommender so that it answers the book's interface.

    Items that Cornac never saw in training get the lowest possible score.
    """

    def __init__(self, model, name: str):
        self.model, self.name = model, name

    def fit(self, split, **kwargs):
        import cornac

        tr = split.train
        triples = list(zip(tr.user_id.astype(str), tr.item_id.astype(str),
                           np.ones(len(tr), dtype=float)))
        self.data_ = cornac.data.Dataset.from_uir(triples, seed=kwargs.get("seed", 0))
        self.model.fit(self.data_)
        self.num_users_, self.num_items_ = split.num_users, split.num_items
        # map our item codes to Cornac's internal indices
        self.item_cols_ = np.full(split.num_items, -1, dtype=np.int64)
        for raw, idx in self.data_.iid_map.items():
            self.item_cols_[int(raw)] = idx
        self.user_rows_ = {int(raw): idx for raw, idx in self.data_.uid_map.items()}
        return self

    def score(self, users, which="valid"):
        users = self._check_users(users)
        out = np.full((len(users), self.num_items_), -np.inf)
        known = self.item_cols_ >= 0
        for r, u in enumerate(users):
            s = np.asarray(self.model.score(self.user_rows_[int(u)]), dtype=float).ravel()
            out[r, known] = s[self.item_cols_[known]]
        out[np.isneginf(out)] = np.nanmin(np.where(np.isinf(out), np.nan, out)) - 1.0
        return out


def cornac_defaults(seed: int = 0) -> dict[str, CornacModel]:
    """Cornac's MostPop, ItemKNN (cosine), EASE and BPR, each with its default settings (BPR on
    one thread: its parallel SGD is not deterministic otherwise)."""
    from cornac.models import BPR, EASE, ItemKNN, MostPop

    return {"pop": CornacModel(MostPop(), "cornac-mostpop"),
            "itemknn": CornacModel(ItemKNN(similarity="cosine", verbose=False), "cornac-itemknn"),
            "ease": CornacModel(EASE(verbose=False, seed=seed), "cornac-ease"),
            "bpr": CornacModel(BPR(seed=seed, verbose=False, num_threads=1), "cornac-bpr")}


class ImplicitModel(Recommender):
    """Wrap an ``implicit`` recommender; it is fitted on the binary training matrix."""

    def __init__(self, model, name: str):
        self.model, self.name = model, name

    def fit(self, split, **kwargs):
        from threadpoolctl import threadpool_limits

        self.x_ = split.train_matrix().tocsr()
        with threadpool_limits(1, "blas"), _quiet_implicit():
            self.model.fit(self.x_, show_progress=False)
        self.num_users_, self.num_items_ = split.num_users, split.num_items
        return self

    def score(self, users, which="valid"):
        users = self._check_users(users)
        with _quiet_implicit():
            ids, scores = self.model.recommend(users, self.x_[users], N=self.num_items_,
                                               filter_already_liked_items=False)
        out = np.full((len(users), self.num_items_), np.nan)
        valid = ids >= 0
        rows = np.repeat(np.arange(len(users)), ids.shape[1]).reshape(ids.shape)
        out[rows[valid], ids[valid]] = scores[valid]
        floor = np.nanmin(out) - 1.0 if np.isfinite(out).any() else 0.0
        return np.where(np.isfinite(out), out, floor)


def implicit_defaults(seed: int = 0) -> dict[str, ImplicitModel]:
    """``implicit``'s CosineRecommender (item kNN) and BPR, each with its default settings (BPR on
    one thread: its parallel SGD is not deterministic otherwise)."""
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    from implicit.nearest_neighbours import CosineRecommender

    return {"itemknn": ImplicitModel(CosineRecommender(), "implicit-cosine"),
            "bpr": ImplicitModel(BayesianPersonalizedRanking(random_state=seed, num_threads=1),
                                 "implicit-bpr")}


def crosscheck(split, fitted: dict, seed: int = 0):
    """The book's baselines next to established libraries' code on the same split.

    ``fitted`` holds the book's fitted seed-``seed`` models by registry name ('pop', 'itemknn',
    'ease', 'ials', 'bpr'). Where the two implement the same model, the library gets the book's
    settings: Cornac's MostPop and EASE (``lamb`` = our ``l2``, with ``posB=False``, since
    Cornac clips negative weights by default), ``implicit``'s cosine kNN (``K`` = our ``k``;
    the book's ItemKNN is refitted with ``shrink=0``, which ``implicit`` lacks) and ``implicit``'s
    ALS with our iALS settings (the book uses the same ALS and only folds the users in). BPR is
    trained by different optimisers in each library, so Cornac's and ``implicit``'s run with
    their defaults, as a sanity check. Every number is validation NDCG@10, where every model's
    input is the training interactions alone. Returns a DataFrame, one row per pair.
    """
    import pandas as pd
    from cornac.models import EASE as CornacEASE, MostPop
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import CosineRecommender
    from threadpoolctl import threadpool_limits

    from .metrics import evaluate
    from .models.baselines import ItemKNN

    def ndcg(model):
        return evaluate(model, split, "valid").means["NDCG@10"]

    knn, ease, ials = fitted["itemknn"], fitted["ease"], fitted["ials"]
    with threadpool_limits(1, "blas"):
        als = AlternatingLeastSquares(factors=ials.factors, regularization=ials.regularization,
                                      alpha=ials.alpha, iterations=ials.iterations,
                                      random_state=seed, num_threads=1)
        pairs = [
            ("Popularity", "Cornac MostPop", "none", fitted["pop"], CornacModel(MostPop(), "mostpop")),
            ("ItemKNN (cosine, no shrink)", "implicit CosineRecommender", f"k = K = {knn.k}",
             ItemKNN(k=knn.k, shrink=0.0).fit(split), ImplicitModel(CosineRecommender(K=knn.k), "cosine")),
            ("EASE", "Cornac EASE (posB=False)", f"l2 = lamb = {ease.l2:g}", ease,
             CornacModel(CornacEASE(lamb=ease.l2, posB=False, verbose=False, seed=seed), "ease")),
            ("iALS", "implicit ALS (its own user factors)",
             f"factors {ials.factors}, reg {ials.regularization:g}, alpha {ials.alpha:g}", ials,
             ImplicitModel(als, "als")),
        ]
        rows = []
        for ours_name, lib, settings, ours, theirs in pairs:
            theirs.fit(split, seed=seed)
            rows.append({"model": ours_name, "library": lib, "settings": settings,
                         "ours": ndcg(ours), "library's": ndcg(theirs)})
        for lib, model in (("Cornac BPR (its defaults)", cornac_defaults(seed)["bpr"]),
                           ("implicit BPR (its defaults)", implicit_defaults(seed)["bpr"])):
            model.fit(split, seed=seed)
            rows.append({"model": "BPR", "library": lib, "settings": "each library's own",
                         "ours": ndcg(fitted["bpr"]), "library's": ndcg(model)})
    out = pd.DataFrame(rows)
    out["difference"] = out["ours"] - out["library's"]
    return out
