"""Choose the number of segments with evidence: stability and separation per k.

For every k scored, :func:`score_k_range` records

- ``silhouette`` (the separation the rule uses; on a seeded sample of
  :data:`SILHOUETTE_SAMPLE` above that size), ``calinski_harabasz``,
  ``davies_bouldin`` and ``inertia`` of the full-data fit;
- ``stability``: the mean adjusted Rand index (ARI) between the labelings of the
  same customers (all, or a seeded sample of :data:`STABILITY_SAMPLE`) by
  :data:`STABILITY_RESAMPLES` fits, each on its own seeded bootstrap resample (at
  most :data:`STABILITY_SAMPLE` customers, :data:`STABILITY_N_INIT` inits), over
  every pair of fits; ``stability_std`` is the spread over the pairs. 1.0 means the
  segments do not depend on which customers or which seed the fit saw;
- ``segment_stability``: per segment of the full-data fit (label order), the mean
  over the resample fits of its best Jaccard overlap with one of their segments
  (Hennig's clusterwise stability: above 0.75 a segment is recovered reliably).

k is chosen (:mod:`training.k_rule`) in the actionable range (``--k-min``..``--k-max``, default
:data:`training.k_rule.K_RANGE`), and :data:`SCAN_MARGIN` ks either side (from 2) are scored too so that a
clearly better k outside the range is named (:func:`training.k_rule.better_outside`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from shopper_segments.core.errors import DataError
from shopper_segments.training.algorithms import Fit, Fitter, inertia
from shopper_segments.training.k_rule import (
    ELBOW_METHOD,
    K_RANGE,
    STABILITY_MIN,
    better_outside,
    choose_k,
    find_elbow,
    selection_rule,
)
from shopper_segments.training.stability import (
    STABILITY_N_INIT,
    STABILITY_SAMPLE,
    Resamples,
    resamples_of,
)

#: Silhouette is quadratic in customers: on larger sets it is computed on a seeded sample.
SILHOUETTE_SAMPLE = 10_000
#: Also scored (where the data allows), to name a better k outside the actionable range.
SCAN_MARGIN = 2


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


def k_values(Xs: np.ndarray, k: int | None, k_range: tuple[int, int]) -> list[int]:
    """The ks to score: ``[k]`` when given, else the range widened by :data:`SCAN_MARGIN` (4..8: 2..10).

    Capped by the customers (k < n) and their distinct profiles.
    """
    if k:
        check_clusterable(Xs, k)
        return [k]
    n = len(Xs)
    if n < 3:
        raise DataError(f"{n} customers are too few to form segments")
    check_clusterable(Xs, 2)
    top = min(k_range[1] + SCAN_MARGIN, n - 1, distinct_profiles(Xs))
    return list(range(max(2, k_range[0] - SCAN_MARGIN), top + 1))


def score_k_range(
    Xs: np.ndarray,
    k_values: list[int],
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
        ``davies_bouldin``, ``stability``, ``stability_std``, ``segment_stability``.
    fits : dict
        The full-data :class:`~training.algorithms.Fit` per k.
    """
    check_clusterable(Xs, max(k_values))
    full = Fitter(algorithm, Xs, seed, n_init)
    resamples = Resamples(Xs, algorithm, seed)
    scores, fits = [], {}
    for k in k_values:
        fit = fits[k] = full.fit(k)
        entry: dict[str, Any] = {"k": k, "inertia": inertia(Xs, fit)}
        entry |= score_labels(Xs, fit.labels, seed)
        entry |= resamples.stability(k, fit.labels)
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
    k_range: tuple[int, int] = K_RANGE,
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
    for s in scores:
        s["in_range"] = bool(k_given == s["k"] if k_given else k_range[0] <= s["k"] <= k_range[1])
    warning, outside = None, None
    if k_given:
        k, rule = k_given, f"given: k={k_given}"
    else:
        (k, warning), rule = choose_k(scores, k_range), selection_rule(k_range)
        outside = better_outside(scores, k, k_range)
        if warning and log:
            log(f"WARNING ({algorithm}): {warning}")
    info = {
        "rule": rule,
        "chosen_k": k,
        "warning": warning,
        "better_outside_k": outside["k"] if outside else None,
        "better_outside_note": outside["note"] if outside else None,
        "elbow": {"k": find_elbow(scores), "method": ELBOW_METHOD},
        "stability_threshold": STABILITY_MIN,
        "stability": {
            "resamples": resamples_of(algorithm),
            "n_init": STABILITY_N_INIT,
            "max_sample": STABILITY_SAMPLE,
            "measure": "mean pairwise adjusted Rand index of the resample fits' labelings of the same "
            "customers; per segment: mean best Jaccard overlap with a resample fit's segment",
        },
        "scores": scores,
    }
    return info, fits[k]


def complete(info: dict[str, Any]) -> dict[str, Any]:
    """``info`` with every key of the contract's selection (a fixed grid scores no other k)."""
    info.setdefault("better_outside_k", None)
    info.setdefault("better_outside_note", None)
    for s in info["scores"]:
        s.setdefault("in_range", s["k"] == info["chosen_k"])
        s.setdefault("segment_stability", [])
    return info


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


def distinct_profiles(Xs: np.ndarray) -> int:
    """Distinct rows of ``Xs`` (rounded to 12 decimals)."""
    return len(np.unique(np.round(Xs, 12), axis=0))


def check_clusterable(Xs: np.ndarray, k: int) -> None:
    """Fail clearly when ``Xs`` cannot hold ``k`` distinct segments."""
    n = len(Xs)
    if n < k or n < 2:
        raise DataError(f"{n} customers are fewer than the {k} segments asked for")
    distinct = distinct_profiles(Xs)
    if distinct < k:
        raise DataError(
            f"only {distinct} distinct customer profile(s) among {n} customers: cannot form {k} segments"
        )
