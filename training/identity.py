"""Segment identities that survive retraining: match new segments to a previous model's.

When both trainings share customers (the monthly retrain), segments are matched by
where those customers went. The previous model's assignments (its
``assignments.parquet``) and the new model's labels of the same customer ids give the
overlap table (previous segment x new label counts); Hungarian matching
(:func:`scipy.optimize.linear_sum_assignment`) pairs them on maximal Jaccard overlap. A
pair is **kept** when more than :data:`KEEP_SHARE` of the previous segment's shared
customers went to the new segment, or when the two are each other's largest overlap and
more than :data:`KEEP_SHARE` of the new segment's shared customers came from the previous
one (a split keeps the id on its larger part, a merge on its main source).

Centroid distance (:mod:`training.centroid_check`: as_of-dependent features compared in
each model's own scaled units) is recorded per pair as a check. It decides only where
customers cannot: with fewer than :data:`MIN_SHARED_CUSTOMERS` shared customers (every
pair), and for a new segment of newcomers (at most :data:`KEEP_SHARE` of its customers
were in the previous training, e.g. "New" a month later) against the previous segments
left unkept; pairs within :data:`~training.centroid_check.MATCH_MAX_DISTANCE` are kept.

A kept segment keeps its id and name; a new one gets the next never-used id
(``next_free_id`` travels down the chain of versions) and its fresh name (suffixed if a
kept name holds it); an unkept previous segment is recorded as vanished.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shopper_segments.core import artifact
from shopper_segments.core.contract import ModelMetadata
from shopper_segments.core.errors import ArtifactError
from shopper_segments.core.model import SegmentModel
from shopper_segments.training.centroid_check import (
    AS_OF_FEATURES,
    MATCH_MAX_DISTANCE,
    centroid_distances,
    pairs_by_distance,
)
from shopper_segments.training.overlap import (
    KEEP_SHARE,
    evidence,
    newcomers,
    overlap,
    pairs_by_overlap,
)

#: Below this many customers in both trainings, segments are matched on centroids.
MIN_SHARED_CUSTOMERS = 10

RULE = (
    f"Hungarian matching on the Jaccard overlap of the customers in both trainings; a pair is kept "
    f"when more than {KEEP_SHARE:.0%} of the previous segment's shared customers went to the new one, "
    f"or when each is the other's largest overlap and more than {KEEP_SHARE:.0%} of the new segment's "
    f"shared customers came from the previous one. Centroid distance (as_of features in each model's "
    f"own scaled units) is a recorded check; it decides, within {MATCH_MAX_DISTANCE}, with fewer than "
    f"{MIN_SHARED_CUSTOMERS} shared customers and for a new segment of newcomers (at most "
    f"{KEEP_SHARE:.0%} of its customers in the previous training) against the unkept previous segments."
)


@dataclass(frozen=True)
class Previous:
    """A previous model version: its metadata and its customers' segment ids."""

    path: Path
    meta: ModelMetadata
    assignments: pd.DataFrame


@dataclass(frozen=True)
class Identities:
    """Final id and name per new label, and what the metadata records about matching."""

    ids: list[int]
    kept_names: dict[int, str]
    info: dict[str, Any]


def latest_version(out: Path, name: str) -> Path | None:
    """The current ``LATEST`` version directory of ``out/name``, if there is one."""
    try:
        return artifact.resolve_model_dir(out / name) if (out / name / artifact.LATEST).is_file() else None
    except ArtifactError:
        return None


def load_previous(path: Path) -> Previous:
    """Read a previous model's metadata and verified assignments (nothing is unpickled).

    Raises
    ------
    ArtifactError
        When the directory is not a model, its metadata does not follow the contract or
        its assignments do not match their checksum.
    """
    model_dir = artifact.resolve_model_dir(path)
    meta = artifact.read_metadata(model_dir)
    file = model_dir / artifact.ASSIGNMENTS
    if not file.is_file() or meta.artifacts.assignments != artifact.sha256_file(file):
        raise ArtifactError(f"previous model {model_dir}: {artifact.ASSIGNMENTS} is missing or altered")
    assignments = pd.read_parquet(file, columns=["customer_id", "segment_id"])
    return Previous(model_dir, meta, assignments)


def match(
    previous: Previous,
    model: SegmentModel,
    customers: pd.DataFrame | None = None,
    max_distance: float = MATCH_MAX_DISTANCE,
) -> Identities:
    """Match the new model's segments (labels) to the previous ones (see the module docstring).

    Parameters
    ----------
    previous : Previous
        The previous model version.
    model : SegmentModel
        The new model.
    customers : DataFrame, optional
        The new training's features indexed by customer id; without it (or with fewer
        than :data:`MIN_SHARED_CUSTOMERS` shared customers) matching uses centroids.
    max_distance : float
        Centroid distance limit where centroids decide.

    Returns
    -------
    Identities
        Final id per label, kept names by label, and the ``identity`` metadata section
        (without ``previous_default`` and ``migration``, which training adds).
    """
    segments = previous.meta.segments
    distance, shared = centroid_distances(previous.meta, model)
    if not shared:
        distance = np.full(distance.shape, np.inf)
    counts, sizes = overlap(previous, model, customers)
    by_customers = int(counts.sum()) >= MIN_SHARED_CUSTOMERS
    if by_customers:
        decided = pairs_by_overlap(counts)
        newcomers(decided, counts, sizes, distance, max_distance)
    else:
        decided = pairs_by_distance(distance.T, max_distance, int(counts.sum()))
    ids: list[int | None] = [None] * model.n_segments
    kept: dict[int, str] = {}
    pairs = []
    for p, (label, keep, why) in sorted(decided.items()):
        seg = segments[p]
        d = None if label is None or not np.isfinite(distance[label, p]) else float(distance[label, p])
        if keep and label is not None:
            ids[label], kept[label] = seg.id, seg.name
            if by_customers and d is not None and d > max_distance:
                why += f"; centroid check: distance {d:.2f} above {max_distance} (the profile moved)"
        pairs.append(
            {
                "previous_id": seg.id,
                "previous_name": seg.name,
                "label": label,
                **evidence(counts, p, label),
            }
            | {"distance": d, "kept": keep, "reason": why}
        )
    prev_info = previous.meta.identity
    next_id = max(
        max((s.id for s in segments), default=-1) + 1,
        prev_info.next_free_id if prev_info else 0,
    )
    new_ids = []
    for label in range(model.n_segments):
        if ids[label] is None:
            ids[label], next_id = next_id, next_id + 1
            new_ids.append(ids[label])
    for p, pair in enumerate(pairs):
        if not pair["kept"] and counts[p].sum():  # say where its customers went instead
            most = int(counts[p].argmax())
            pair["reason"] += (
                f"; {counts[p, most] / counts[p].sum():.0%} of its {int(counts[p].sum()):,} shared "
                f"customers went to id {ids[most]}"
            )
    pairs.sort(key=lambda pair: pair["previous_id"])
    info = {
        "previous_version": previous.meta.version,
        "previous_path": str(previous.path),
        "method": "shared_customers" if by_customers else "centroid_distance",
        "rule": RULE,
        "matched_on": shared,
        "own_scale_features": [n for n in shared if n in AS_OF_FEATURES],
        "max_distance": max_distance,
        "keep_share": KEEP_SHARE,
        "min_shared_customers": MIN_SHARED_CUSTOMERS,
        "shared_customers": int(counts.sum()),
        "pairs": pairs,
        "new_ids": new_ids,
        "vanished": [{"id": s.id, "name": s.name} for s in segments if s.id not in ids],
        "next_free_id": next_id,
    }
    return Identities([int(i) for i in ids if i is not None], kept, info)


def unique_names(names: list[str], kept: dict[int, str]) -> list[str]:
    """Kept names win; a fresh name already taken gets a " (2)", " (3)" ... suffix."""
    out = [kept.get(i, n) for i, n in enumerate(names)]
    taken = set(kept.values())
    for i, name in enumerate(out):
        if i in kept:
            continue
        base, n = name, 2
        while name in taken:
            name, n = f"{base} ({n})", n + 1
        out[i] = name
        taken.add(name)
    return out
