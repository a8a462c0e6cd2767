"""Choose the number of segments: fit K-means per k and score each fit."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from training.errors import DataError

#: Silhouette is quadratic in customers: on larger sets it is computed on a seeded sample.
SILHOUETTE_SAMPLE = 10_000
SELECTION_RULE = "the k with the highest silhouette score (ties: the smaller k)"


def fit_kmeans(Xs: np.ndarray, k: int, seed: int, n_init: int = 10) -> KMeans:
    """Fit K-means on scaled features, seeded."""
    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(Xs)


def score_labels(
    Xs: np.ndarray, labels: np.ndarray, seed: int, sample: int = SILHOUETTE_SAMPLE
) -> dict[str, float]:
    """Silhouette (sampled on large sets), Calinski-Harabasz and Davies-Bouldin."""
    n = len(Xs)
    sample_size = min(n, sample)
    return {
        "silhouette": float(
            silhouette_score(
                Xs, labels, sample_size=sample_size if sample_size < n else None, random_state=seed
            )
        ),
        "calinski_harabasz": float(calinski_harabasz_score(Xs, labels)),
        "davies_bouldin": float(davies_bouldin_score(Xs, labels)),
    }


def score_k_range(
    Xs: np.ndarray,
    k_values: Iterable[int],
    seed: int,
    n_init: int = 10,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Fit and score K-means for every k.

    Returns
    -------
    list of dict
        One entry per k: ``k``, ``inertia``, ``silhouette``, ``calinski_harabasz``,
        ``davies_bouldin``.
    """
    check_clusterable(Xs, max(k_values))
    scores = []
    for k in k_values:
        model = fit_kmeans(Xs, k, seed, n_init)
        entry: dict[str, Any] = {"k": k, "inertia": float(model.inertia_)}
        entry |= score_labels(Xs, model.labels_, seed)
        scores.append(entry)
        if progress:
            progress(k)
    return scores


def choose_k(scores: list[dict[str, Any]]) -> int:
    """Apply :data:`SELECTION_RULE` to the per-k scores."""
    best = max(scores, key=lambda s: (s["silhouette"], -s["k"]))
    return int(best["k"])


def check_clusterable(Xs: np.ndarray, k: int) -> None:
    """Fail clearly when ``Xs`` cannot hold ``k`` distinct segments."""
    n = len(Xs)
    if n < k or n < 2:
        raise DataError(f"{n} customers are fewer than the {k} segments asked for")
    distinct = len(np.unique(np.round(Xs, 12), axis=0))
    if distinct < k:
        raise DataError(
            f"only {distinct} distinct customer profile(s) among {n} customers: cannot form {k} segments"
        )
