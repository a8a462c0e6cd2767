"""The centroid side of segment identity: a recorded check, and the rule without shared customers.

Features measured from as_of (:data:`AS_OF_FEATURES`) move with it for every customer:
moving as_of six months adds six months to every tenure and recency, which in scaled
units of a population acquired within a few months is many standard deviations. They
are therefore compared in each model's own scaled units (z-scores within its training
population, which removes that shift); every other feature with one ruler, the previous
centroids mapped from original units through the new transforms and scaler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linear_sum_assignment

from shopper_segments.core.transforms import transform_features

if TYPE_CHECKING:
    from shopper_segments.core.contract import ModelMetadata
    from shopper_segments.core.model import SegmentModel

#: Farthest two centroids may be (Euclidean over the shared features, scaled units) and
#: still be the same segment when customers do not decide.
MATCH_MAX_DISTANCE = 1.5
#: Features that change with as_of for every customer: compared in each model's own scale.
AS_OF_FEATURES = ("recency_days", "tenure_days")


def centroid_distances(previous: ModelMetadata, model: SegmentModel) -> tuple[np.ndarray, list[str]]:
    """Distances (new label x previous segment) over the shared features, and their names.

    Parameters
    ----------
    previous : ModelMetadata
        The previous model's metadata (centroids in original and in its own scaled units).
    model : SegmentModel
        The new model.

    Returns
    -------
    distance : ndarray of shape (k_new, k_previous)
        Euclidean distances; as-of features in each model's own scaled units.
    shared : list of str
        The features both models have (the distance is over these).
    """
    spec = model.spec
    prev_names = list(previous.features.names)
    segments = previous.segments
    raw = np.zeros((len(segments), len(spec.names)))
    for i, seg in enumerate(segments):
        raw[i] = [seg.centroid.get(name, 0.0) for name in spec.names]
    prev = (transform_features(raw, spec) - model.mean_) / model.scale_
    shared = [n for n in spec.names if n in prev_names]
    for name in set(shared) & set(AS_OF_FEATURES):
        j, pj = spec.names.index(name), prev_names.index(name)
        prev[:, j] = [seg.centroid_scaled[pj] for seg in segments]
    cols = [spec.names.index(n) for n in shared]
    diff = model.centroids_[:, None, cols] - prev[None, :, cols]
    return np.sqrt((diff**2).sum(axis=2)), shared


def nearest_pairs(distance: np.ndarray, max_distance: float) -> list[tuple[int, int, float]]:
    """Hungarian pairs (row, column, distance) on a distance matrix, those within the limit."""
    if distance.size == 0 or not np.isfinite(distance).any():
        return []
    rows, cols = linear_sum_assignment(np.where(np.isfinite(distance), distance, 1e12))
    return [
        (int(r), int(c), float(distance[r, c]))
        for r, c in zip(rows, cols, strict=True)
        if distance[r, c] <= max_distance
    ]


def pairs_by_distance(
    distance: np.ndarray, max_distance: float, shared_customers: int = 0
) -> dict[int, tuple[int | None, bool, str]]:
    """Without (enough) shared customers: per previous row, (paired label, kept, reason).

    ``distance`` is previous segment x new label; ``shared_customers`` (too few to decide)
    is only named in the reasons.
    """
    finite = np.where(np.isfinite(distance), distance, 1e12)
    assigned = dict(zip(*linear_sum_assignment(finite), strict=True)) if distance.size else {}
    out: dict[int, tuple[int | None, bool, str]] = {}
    for p in range(distance.shape[0]):
        n = assigned.get(p)
        if n is None:
            out[p] = (None, False, "no new segment left to pair with")
            continue
        d = float(distance[p, n])
        keep = d <= max_distance
        few = f"only {shared_customers} shared customers" if shared_customers else "no shared customers"
        why = (
            f"{few}: centroid distance {d:.2f} {'<=' if keep else '>'} {max_distance}"
            if np.isfinite(d)
            else f"{few} and no shared features"
        )
        out[p] = (int(n), keep, why)
    return out
