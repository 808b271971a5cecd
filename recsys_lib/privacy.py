"""What a recommender's data and representations reveal about its users.

``attribute_attack`` plays the attacker: from a per-user feature matrix (a history, a learned
user embedding) it predicts a private attribute (gender, age group) with L2-regularised
multinomial logistic regression, scored by k-fold cross-validation against the majority-class
rate of each training fold.
"""
from __future__ import annotations

import numpy as np

__all__ = ["attribute_attack"]


def _fit_softmax(x, y, n_classes, l2):
    from scipy.optimize import minimize

    n, d = x.shape
    onehot = np.eye(n_classes)[y]

    def loss_grad(w):
        w = w.reshape(d + 1, n_classes)
        z = x @ w[:-1] + w[-1]
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        loss = -np.sum(onehot * np.log(p + 1e-12)) / n + 0.5 * l2 * np.sum(w[:-1] ** 2)
        g = (p - onehot) / n
        grad = np.vstack([x.T @ g + l2 * w[:-1], g.sum(0, keepdims=True)])
        return loss, grad.ravel()

    res = minimize(loss_grad, np.zeros((d + 1) * n_classes), jac=True, method="L-BFGS-B",
                   options={"maxiter": 300})
    return res.x.reshape(d + 1, n_classes)


def _accuracy(x, y, train, test, n_classes, l2):
    mu, sd = x[train].mean(0), x[train].std(0) + 1e-9
    w = _fit_softmax((x[train] - mu) / sd, y[train], n_classes, l2)
    z = ((x[test] - mu) / sd) @ w[:-1] + w[-1]
    return float((z.argmax(1) == y[test]).mean())


def attribute_attack(features, labels, folds: int = 5, l2=(0.1, 1.0, 10.0), seed: int = 0) -> dict:
    """Cross-validated accuracy of predicting ``labels`` from ``features`` (one row per user).

    Features are standardised on each training fold. With several ``l2`` values the attacker
    picks one per fold by a 3-fold cross-validation inside that training fold (never looking at
    the held-out users). Returns the mean accuracy over folds, the mean majority-class rate (the
    accuracy of always guessing the training fold's most common label), the per-fold
    accuracies and the chosen ``l2`` of each fold.
    """
    x = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    if x.ndim != 2 or len(x) != len(labels):
        raise ValueError("features must be 2-D with one row per label")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values")
    classes, y = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise ValueError("labels need at least two classes")
    if not 2 <= folds <= len(y):
        raise ValueError("folds must be between 2 and the number of users")
    grid = [float(v) for v in np.atleast_1d(l2)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    acc, base, chosen = [], [], []
    for f in range(folds):
        test = order[f::folds]
        train = np.setdiff1d(order, test)
        best = grid[0]
        if len(grid) > 1:
            inner = rng.permutation(train)
            score = {v: np.mean([_accuracy(x, y, np.setdiff1d(inner, inner[k::3]), inner[k::3],
                                           len(classes), v) for k in range(3)]) for v in grid}
            best = max(grid, key=lambda v: score[v])
        acc.append(_accuracy(x, y, train, test, len(classes), best))
        chosen.append(best)
        majority = np.bincount(y[train], minlength=len(classes)).argmax()
        base.append(float((y[test] == majority).mean()))
    return {"accuracy": float(np.mean(acc)), "majority": float(np.mean(base)), "folds": acc,
            "l2": chosen}
