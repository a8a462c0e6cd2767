"""Why this segment: per-feature contributions to the squared distances.

The squared distance to a centroid is a sum over features of ``(x_s - c_s)^2`` in scaled
space (after the feature transforms and standardization), so each term is that feature's
contribution. Gaps are also given in original units (value minus the centroid mapped back
through the inverse scaling and transforms), for people to read.
"""

from __future__ import annotations

import numpy as np

from shopper_segments.app.responses import CentroidGap, Explanation, FeatureContribution
from shopper_segments.core.model import SegmentModel


def explain(
    model: SegmentModel,
    X: np.ndarray,
    labels: np.ndarray,
    next_labels: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
) -> list[Explanation]:
    """Explanations of customers ``X`` (original units) assigned to ``labels``.

    Parameters
    ----------
    model : SegmentModel
    X : ndarray of shape (n, n_features)
        Features in original units, spec order.
    labels, next_labels : ndarray of int
        Assigned and next-nearest centroid index per row (equal when k = 1).
    low, high : ndarray
        Training range (min, max) per feature.
    """
    names = model.spec.names
    Xs = model.scale(X)
    centroids, original = model.centroids_, model.centroids_original()
    outside = np.less(X, low) | np.greater(X, high)
    out = []
    for r in range(len(X)):
        best, nxt = int(labels[r]), int(next_labels[r])
        gap_best = Xs[r] - centroids[best]
        gap_next = Xs[r] - centroids[nxt]
        features = [
            FeatureContribution(
                feature=name,
                value=float(X[r, j]),
                value_scaled=float(Xs[r, j]),
                outside_training_range=bool(outside[r, j]),
                assigned=_gap(X[r, j], original[best, j], centroids[best, j], gap_best[j]),
                next=None if nxt == best else _gap(X[r, j], original[nxt, j], centroids[nxt, j], gap_next[j]),
            )
            for j, name in enumerate(names)
        ]
        out.append(
            Explanation(
                squared_distance=float(gap_best @ gap_best),
                next_squared_distance=None if nxt == best else float(gap_next @ gap_next),
                features=features,
                outside_training_range=[n for j, n in enumerate(names) if outside[r, j]],
            )
        )
    return out


def _gap(value: float, centroid: float, centroid_scaled: float, gap_scaled: float) -> CentroidGap:
    return CentroidGap(
        centroid=float(centroid),
        centroid_scaled=float(centroid_scaled),
        gap=float(value - centroid),
        gap_scaled=float(gap_scaled),
        contribution=float(gap_scaled * gap_scaled),
    )
