"""The rule that chooses k from the scores of each k (pure functions over score dicts).

Scores come from :func:`training.selection.score_k_range`; :func:`selection_rule` says the rule in
words, :func:`choose_k` applies it, :func:`better_outside` names a clearly better k outside the
actionable range and :func:`find_elbow` reports the knee of inertia (for reference, not used).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shopper_segments.training import stability

#: A k is stable at this mean ARI; below it, only within STABILITY_TOLERANCE of the most stable.
STABILITY_MIN = 0.75
STABILITY_TOLERANCE = 0.1
#: Segments a marketer can run campaigns on (the default --k-min, --k-max).
K_RANGE = (4, 8)
#: A k outside the range is named when its silhouette beats the chosen k's by this much.
OUTSIDE_MARGIN = 0.02
ELBOW_METHOD = (
    "knee of inertia: the k farthest below the chord from the first to the last k (axes scaled to [0, 1])"
)


def selection_rule(k_range: tuple[int, int]) -> str:
    """The k rule in words (recorded as ``selection.rule``)."""
    lo, hi = k_range
    return (
        f"among k in {lo}..{hi} whose stability (mean pairwise ARI of {stability.STABILITY_RESAMPLES} seeded "
        f"bootstrap fits) and every segment's stability (mean best Jaccard) are at least {STABILITY_MIN} "
        f"(if no k has every segment stable, the ks with stability {STABILITY_MIN}, with a warning; if none "
        f"is, within {STABILITY_TOLERANCE} of the most stable, with a warning), the k with the highest "
        f"silhouette (ties: the smaller k); "
        f"ks outside {lo}..{hi} are scored and named when stable and better separated "
        f"(silhouette +{OUTSIDE_MARGIN} or more)"
    )


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


def choose_k(
    scores: list[dict[str, Any]], k_range: tuple[int, int] = K_RANGE, threshold: float = STABILITY_MIN
) -> tuple[int, str | None]:
    """Apply :func:`selection_rule`; returns the k and a warning.

    The warning is None when a k in range is stable with every segment stable.

    When the data cannot hold any k of the range (few customers or profiles), every
    scored k is a candidate, with a warning.
    """
    lo, hi = k_range
    scored = [s for s in scores if np.isfinite(s["silhouette"])] or scores
    inside = [s for s in scored if lo <= s["k"] <= hi]
    note = None
    if not inside:
        inside = scored
        note = (
            f"the data cannot hold {lo}..{hi} segments; chose among k in {scores[0]['k']}..{scores[-1]['k']}"
        )
    most = max(inside, key=lambda s: (s["stability"], -s["k"]))
    floor = threshold if most["stability"] >= threshold else most["stability"] - STABILITY_TOLERANCE
    candidates = [s for s in inside if s["stability"] >= floor]
    # Hennig's clusterwise criterion: a k whose segments all hold beats one where some dissolve
    whole = [s for s in candidates if lowest_segment(s) >= threshold] if floor == threshold else []
    best = max(whole or candidates, key=lambda s: (s["silhouette"], -s["k"]))
    if floor == threshold and not whole:
        weak = (
            f"every k in {lo}..{hi} with stability >= {threshold} has a segment below {threshold}; chose k="
            f"{best['k']} (stability {best['stability']:.3f}, lowest segment {lowest_segment(best):.2f}): "
            "treat its segments below the threshold (segment_stability) with caution"
        )
        note = f"{note}; {weak}" if note else weak
    if most["stability"] < threshold:
        unstable = (
            f"no k in {lo}..{hi} reached stability {threshold} (the most stable: k={most['k']} at "
            f"{most['stability']:.3f}); chose k={best['k']} (stability {best['stability']:.3f}), the best "
            f"separated within {STABILITY_TOLERANCE} of it: these segments cut a continuum, "
            "treat them with caution"
        )
        note = f"{note}; {unstable}" if note else unstable
    return int(best["k"]), note


def lowest_segment(score: dict[str, Any]) -> float:
    """The lowest per-segment stability of a scored k (1.0 when not measured, e.g. a fixed grid)."""
    return min(score.get("segment_stability") or [1.0])


def better_outside(
    scores: list[dict[str, Any]], chosen: int, k_range: tuple[int, int] = K_RANGE
) -> dict[str, Any] | None:
    """The stable k outside ``k_range`` that separates clearly better than ``chosen``, if any.

    Clearly better: silhouette at least :data:`OUTSIDE_MARGIN` above the chosen k's and
    stability at least :data:`STABILITY_MIN`. Returns ``k`` and ``note`` (one sentence
    with the figures), or None.
    """
    lo, hi = k_range
    at = next(s for s in scores if s["k"] == chosen)
    better = [
        s
        for s in scores
        if not lo <= s["k"] <= hi
        and s["stability"] >= STABILITY_MIN
        and np.isfinite(s["silhouette"])
        and s["silhouette"] >= at["silhouette"] + OUTSIDE_MARGIN
    ]
    if not better:
        return None
    best = max(better, key=lambda s: (s["silhouette"], -s["k"]))
    note = (
        f"k={best['k']}, outside the actionable range {lo}..{hi}, separates clearly better: silhouette "
        f"{best['silhouette']:.3f} vs {at['silhouette']:.3f} at k={chosen}, stability "
        f"{best['stability']:.3f} (+/- {best['stability_std']:.3f}); fit --k {best['k']} to use it"
    )
    return {"k": int(best["k"]), "note": note}
