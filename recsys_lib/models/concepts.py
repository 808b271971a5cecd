"""Chapter 2's three kinds of recommender: content-based, behaviour-based (see ItemKNN), social.

MovieLens has no social graph. ``simulate_friendships`` builds a clearly *simulated* one with
homophily on demographics (McPherson et al., 2001): people befriend people like themselves.
"""
from __future__ import annotations


import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..schema import GENRES
from ..text import tokenize_title
from .base import Recommender

#: words too common in titles to say anything about a film (English, French, Spanish, Italian)
STOPWORDS = frozenset("the a an of and in on to for with is it la le les de des el il lo "
                      "del di du un une ii iii 2 3".split())

__all__ = ["STOPWORDS", "item_content_features", "ContentBased", "simulate_friendships", "SocialRecommender"]


def item_content_features(items: pd.DataFrame, item_ids: np.ndarray, min_df: int = 2,
                          genre_weight: float = 2.0) -> tuple[sp.csr_matrix, list[str]]:
    """Row-normalised genre flags (times ``genre_weight``) plus TF-IDF of title words
    (stop words removed), one row per encoded item.

    ``item_ids[k]`` is the raw id of item code ``k`` (``IdMap.items``). Returns the
    (num_items, num_features) matrix and the feature names.
    """
    by_id = items.set_index("item_id").loc[item_ids]
    tokens = [[w for w in tokenize_title(t) if w not in STOPWORDS]
              for t in by_id["title"]]
    df = pd.Series([w for ws in tokens for w in set(ws)]).value_counts()
    vocab = sorted(df[df >= min_df].index)
    col = {w: j for j, w in enumerate(vocab)}
    rows, cols, vals = [], [], []
    idf = np.log(len(tokens) / df.reindex(vocab).to_numpy()) + 1.0
    for r, ws in enumerate(tokens):
        for w in set(ws):
            if w in col:
                rows.append(r), cols.append(col[w]), vals.append(idf[col[w]] * ws.count(w))
    words = sp.csr_matrix((vals, (rows, cols)), shape=(len(tokens), len(vocab)))
    genres = sp.csr_matrix(by_id[GENRES].to_numpy(dtype=float) * genre_weight)
    x = sp.hstack([genres, words]).tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    x = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ x
    return x.tocsr(), [f"genre:{g}" for g in GENRES] + [f"word:{w}" for w in vocab]


class ContentBased(Recommender):
    """Score items by cosine similarity to the user's profile: the mean of the features of
    the items in their training history. It needs no other user's data."""

    name = "content"

    def __init__(self, features: sp.csr_matrix):
        super().__init__()
        self.features = features

    def fit(self, split, **kwargs):
        x = split.train_matrix()
        if self.features.shape[0] != split.num_items:
            raise ValueError(f"features have {self.features.shape[0]} rows, the split "
                             f"{split.num_items} items")
        prof = x @ self.features
        norms = np.sqrt(np.asarray(prof.multiply(prof).sum(axis=1)).ravel())
        self.profiles_ = (sp.diags(1.0 / np.maximum(norms, 1e-12)) @ prof).tocsr()
        self.num_users_ = split.num_users
        return self

    def score(self, users, which="valid"):
        users = self._check_users(users)
        return np.asarray((self.profiles_[users] @ self.features.T).todense())

    @property
    def num_params(self):
        return int(self.profiles_.nnz)


def simulate_friendships(users: pd.DataFrame, user_ids: np.ndarray, friends: int = 10,
                         homophily: float = 3.0, seed: int = 0) -> sp.csr_matrix:
    """A *simulated*, symmetric friendship graph with demographic homophily.

    Each user draws ``friends`` others with probability proportional to
    ``exp(homophily * similarity)``, where similarity counts shared occupation, gender,
    age band (10 years) and zip-code region (first digit), divided by 4.
    ``homophily=0`` gives a random graph. Returns a (num_users, num_users) 0/1 matrix.
    """
    rng = np.random.default_rng(seed)
    u = users.set_index("user_id").loc[user_ids]
    feats = [u.occupation.to_numpy(), u.gender.to_numpy(), (u.age.to_numpy() // 10),
             u.zip_code.str[0].to_numpy()]
    sim = sum((f[:, None] == f[None, :]).astype(float) for f in feats) / len(feats)
    n = len(user_ids)
    w = np.exp(homophily * sim)
    np.fill_diagonal(w, 0.0)
    rows, cols = [], []
    for i in range(n):
        pick = rng.choice(n, size=friends, replace=False, p=w[i] / w[i].sum())
        rows += [i] * friends
        cols += pick.tolist()
    g = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    g = ((g + g.T) > 0).astype(np.float64)
    return g.tocsr()


class SocialRecommender(Recommender):
    """Recommend what a user's friends interacted with: score = number of friends who did."""

    name = "social"

    def __init__(self, graph: sp.csr_matrix):
        super().__init__()
        self.graph = graph

    def fit(self, split, **kwargs):
        if self.graph.shape != (split.num_users, split.num_users):
            raise ValueError(f"graph has shape {self.graph.shape}, expected "
                             f"({split.num_users}, {split.num_users})")
        self.x_ = split.train_matrix()
        self.num_users_ = split.num_users
        return self

    def score(self, users, which="valid"):
        users = self._check_users(users)
        return np.asarray((self.graph[users] @ self.x_).todense())

    @property
    def num_params(self):
        return int(self.graph.nnz)
