"""Choose the number of segments with evidence: separation, elbow and stability per k.

For every k tried, :func:`score_k_range` records

- ``silhouette`` (on a seeded sample of :data:`SILHOUETTE_SAMPLE` above that size),
  ``calinski_harabasz``, ``davies_bouldin`` and ``inertia`` of the full-data fit;
- ``stability``: the mean adjusted Rand index (ARI) between the labelings of the
  whole training set by :data:`STABILITY_RESAMPLES` fits, each on its own seeded
  bootstrap resample (with its own seed and :data:`STABILITY_N_INIT` inits), over
  every pair of fits; ``stability_std`` is the spread over the pairs. 1.0 means the
  segments do not depend on which customers or which seed the fit saw.

:func:`find_elbow` locates the knee of the inertia curve (the k farthest below the
straight line from the first to the last k, both axes normalised), and
:func:`choose_k` applies :data:`SELECTION_RULE`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import combinations
from typing import Any

import numpy as np
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)

from shopper_segments.core.errors import DataError
from shopper_segments.training.algorithms import Fit, Fitter, inertia, predict

#: Silhouette is quadratic in customers: on larger sets it is computed on a seeded sample.
SILHOUETTE_SAMPLE = 10_000
STABILITY_RESAMPLES = 5
STABILITY_N_INIT = 2
#: Bootstrap resamples hold at most this many customers (the labelings cover everyone).
STABILITY_SAMPLE = 20_000
STABILITY_MIN = 0.8
ELBOW_METHOD = (
    "knee of inertia: the k farthest below the chord from the first to the last k (axes scaled to [0, 1])"
)
SELECTION_RULE = (
    f"among the stable k (stability >= {STABILITY_MIN}: mean ARI of {STABILITY_RESAMPLES} "
    "seeded bootstrap fits), the k with the highest silhouette (ties: the smaller k); "
    "if no k is stable, the most stable k, with a warning"
)


def score_labels(
    Xs: np.ndarray, labels: np.ndarray, seed: int, sample: int = SILHOUETTE_SAMPLE
) -> dict[str, float]:
    """Silhouette (sampled on large sets), Calinski-Harabasz and Davies-Bouldin."""
    n = len(Xs)
    if len(np.unique(labels)) < 2:
        return {"silhouette": float("nan"), "calinski_harabasz": float("nan"), "davies_bouldin": float("nan")}
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


def resample_fitters(Xs: np.ndarray, algorithm: str, seed: int) -> list[Fitter]:
    """One :class:`Fitter` per seeded bootstrap resample (reused across k)."""
    n = len(Xs)
    size = min(n, STABILITY_SAMPLE)
    fitters = []
    for b in range(STABILITY_RESAMPLES):
        rows = np.random.default_rng([seed, b]).integers(0, n, size)
        fitters.append(Fitter(algorithm, Xs[rows], seed + 1 + b, STABILITY_N_INIT))
    return fitters


def stability(Xs: np.ndarray, k: int, fitters: list[Fitter]) -> tuple[float, float]:
    """Mean and standard deviation of the pairwise ARI of the resample fits' labelings of ``Xs``."""
    labelings = [predict(f.fit(k), Xs) for f in fitters]
    aris = [adjusted_rand_score(a, b) for a, b in combinations(labelings, 2)]
    return float(np.mean(aris)), float(np.std(aris))


def score_k_range(
    Xs: np.ndarray,
    k_values: Iterable[int],
    seed: int,
    n_init: int = 10,
    algorithm: str = "kmeans",
    progress: Callable[[int], None] | None = None,
) -> tuple[list[dict[str, Any]], dict[int, Fit]]:
    """Fit and score ``algorithm`` for every k.

    Returns
    -------
    scores : list of dict
        One entry per k: ``k``, ``inertia``, ``silhouette``, ``calinski_harabasz``,
        ``davies_bouldin``, ``stability``, ``stability_std``.
    fits : dict
        The full-data :class:`~training.algorithms.Fit` per k.
    """
    k_values = list(k_values)
    check_clusterable(Xs, max(k_values))
    full = Fitter(algorithm, Xs, seed, n_init)
    resamples = resample_fitters(Xs, algorithm, seed)
    scores, fits = [], {}
    for k in k_values:
        fit = fits[k] = full.fit(k)
        entry: dict[str, Any] = {"k": k, "inertia": inertia(Xs, fit)}
        entry |= score_labels(Xs, fit.labels, seed)
        entry["stability"], entry["stability_std"] = stability(Xs, k, resamples)
        scores.append(entry)
        if progress:
            progress(k)
    return scores, fits


def select(
    Xs: np.ndarray,
    k_values: list[int],
    algorithm: str,
    seed: int,
    n_init: int,
    k_given: int | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], Fit]:
    """Score every k, find the elbow, choose k (unless given).

    Returns
    -------
    info : dict
        The metadata's ``selection`` entry (see :mod:`training.train`).
    fit : Fit
        The full-data fit at the chosen k.
    """
    progress = (lambda k: log(f"  k={k} done")) if log else None
    scores, fits = score_k_range(Xs, k_values, seed, n_init, algorithm, progress=progress)
    warning = None
    if k_given:
        k, rule = k_given, f"given: k={k_given}"
    else:
        (k, warning), rule = choose_k(scores), SELECTION_RULE
        if warning and log:
            log(f"WARNING ({algorithm}): {warning}")
    info = {
        "rule": rule,
        "chosen_k": k,
        "warning": warning,
        "elbow": {"k": find_elbow(scores), "method": ELBOW_METHOD},
        "stability_threshold": STABILITY_MIN,
        "stability": {
            "resamples": STABILITY_RESAMPLES,
            "n_init": STABILITY_N_INIT,
            "max_sample": STABILITY_SAMPLE,
            "measure": "mean pairwise adjusted Rand index of the resample fits' labelings of all customers",
        },
        "scores": scores,
    }
    return info, fits[k]


def compared(algorithm: str, info: dict[str, Any]) -> dict[str, Any]:
    """One algorithm's row of the comparison: its scores at its own chosen k."""
    at_k = next(s for s in info["scores"] if s["k"] == info["chosen_k"])
    keys = ("silhouette", "calinski_harabasz", "davies_bouldin", "stability", "inertia")
    return {
        "algorithm": algorithm,
        "chosen_k": info["chosen_k"],
        **{key: at_k[key] for key in keys},
        "elbow_k": info["elbow"]["k"],
        "warning": info["warning"],
        "scores": info["scores"],
    }


def find_elbow(scores: list[dict[str, Any]]) -> int | None:
    """The knee of inertia over k (None with fewer than 3 k or a straight curve).

    Both axes are scaled to [0, 1]; the elbow is the k whose inertia lies farthest
    below the chord from the first to the last k (the "Kneedle" criterion).
    """
    if len(scores) < 3:
        return None
    ks = np.array([s["k"] for s in scores], dtype=np.float64)
    inert = np.array([s["inertia"] for s in scores], dtype=np.float64)
    span = inert[0] - inert[-1]
    if span <= 0:
        return None
    x = (ks - ks[0]) / (ks[-1] - ks[0])
    y = (inert - inert[-1]) / span
    gap = (1.0 - x) - y
    best = int(np.argmax(gap))
    return int(ks[best]) if gap[best] > 1e-9 else None


def choose_k(scores: list[dict[str, Any]], threshold: float = STABILITY_MIN) -> tuple[int, str | None]:
    """Apply :data:`SELECTION_RULE`; returns the k and a warning (None when a k is stable)."""
    stable = [s for s in scores if s["stability"] >= threshold and np.isfinite(s["silhouette"])]
    if stable:
        best = max(stable, key=lambda s: (s["silhouette"], -s["k"]))
        return int(best["k"]), None
    most = max(scores, key=lambda s: (s["stability"], -s["k"]))
    return int(most["k"]), (
        f"no k reached stability {threshold}; chose the most stable k={most['k']} "
        f"(stability {most['stability']:.3f}): treat these segments with caution"
    )


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
