"""Segment identities that survive retraining: match new segments to a previous model's.

The previous model's centroids (its metadata records them in original units) are
mapped into the *new* model's scaled space with the new feature transforms and
scaler, so both sets of centroids are measured with one ruler: the new training
population's. Only the features both models have are compared. The pairs are
chosen by Hungarian matching (:func:`scipy.optimize.linear_sum_assignment`) on the
Euclidean distances; a pair farther apart than :data:`MATCH_MAX_DISTANCE` is
refused (the old segment vanished, the new one is new).

A matched segment keeps the previous id and name; a new segment gets the next free
id (max previous id + 1, ...) and its freshly computed name (suffixed if a kept name
already holds it); an unmatched previous segment is recorded as vanished. The
migration table counts, for the customers present in both trainings, how many moved
from each previous segment id to each new one (from both models' assignments).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from shopper_segments.core import artifact
from shopper_segments.core.contract import ModelMetadata
from shopper_segments.core.errors import ArtifactError
from shopper_segments.core.features import FeatureSpec, transform_features
from shopper_segments.core.model import SegmentModel

#: Farthest two centroids may be (scaled units, Euclidean over the shared features)
#: and still be the same segment.
MATCH_MAX_DISTANCE = 1.5


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


def previous_centroids_scaled(previous: Previous, model: SegmentModel) -> tuple[np.ndarray, list[str]]:
    """Previous centroids in the new model's scaled space, and the shared feature names."""
    spec: FeatureSpec = model.spec
    prev_names = set(previous.meta.features.names)
    shared = [n for n in spec.names if n in prev_names]
    raw = np.zeros((len(previous.meta.segments), len(spec.names)))
    for i, seg in enumerate(previous.meta.segments):
        for j, name in enumerate(spec.names):
            if name in prev_names:
                raw[i, j] = seg.centroid[name]
    scaled = (transform_features(raw, spec) - model.mean_) / model.scale_
    cols = [spec.names.index(n) for n in shared]
    return scaled[:, cols], shared


def match(previous: Previous, model: SegmentModel, max_distance: float = MATCH_MAX_DISTANCE) -> Identities:
    """Hungarian matching of the new model's segments (labels) to the previous ones."""
    prev_segments = previous.meta.segments
    prev_c, shared = previous_centroids_scaled(previous, model)
    cols = [model.spec.names.index(n) for n in shared]
    new_c = model.centroids_[:, cols]
    k = model.n_segments
    ids: list[int | None] = [None] * k
    kept: dict[int, str] = {}
    matches = []
    if shared:
        cost = np.sqrt(((new_c[:, None, :] - prev_c[None, :, :]) ** 2).sum(axis=2))
        for label, p in zip(*linear_sum_assignment(cost), strict=True):
            if cost[label, p] <= max_distance:
                ids[label] = prev_segments[p].id
                kept[int(label)] = prev_segments[p].name
                matches.append(
                    {
                        "id": ids[label],
                        "label": int(label),
                        "name": kept[int(label)],
                        "distance": float(cost[label, p]),
                    }
                )
    next_id = max((s.id for s in prev_segments), default=-1) + 1
    new_ids = []
    for label in range(k):
        if ids[label] is None:
            ids[label] = next_id
            new_ids.append(next_id)
            next_id += 1
    matched_prev = {m["id"] for m in matches}
    vanished = [{"id": s.id, "name": s.name} for s in prev_segments if s.id not in matched_prev]
    info = {
        "previous_version": previous.meta.version,
        "previous_path": str(previous.path),
        "method": "Hungarian matching on centroid distance in the new model's scaled space "
        "(previous centroids mapped through original units)",
        "matched_on": shared,
        "max_distance": max_distance,
        "matches": sorted(matches, key=lambda m: m["id"]),
        "new_ids": new_ids,
        "vanished": vanished,
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


def migration(previous: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    """Customers moving from each previous segment id to each new one.

    Parameters
    ----------
    previous, current : DataFrame
        ``customer_id`` and ``segment_id`` of each training's customers.

    Returns
    -------
    dict
        ``previous_ids`` (rows), ``new_ids`` (columns), ``counts`` (row-major lists),
        ``customers_in_both``, ``only_previous``, ``only_new``, ``kept_segment``
        (customers whose segment id did not change).
    """
    prev = previous.assign(customer_id=previous["customer_id"].astype(str))
    cur = current.assign(customer_id=current["customer_id"].astype(str))
    both = prev.merge(cur, on="customer_id", suffixes=("_previous", "_new"))
    rows = sorted(int(i) for i in prev["segment_id"].unique())
    cols = sorted(int(i) for i in cur["segment_id"].unique())
    table = (
        pd.crosstab(both["segment_id_previous"], both["segment_id_new"])
        .reindex(index=rows, columns=cols, fill_value=0)
        .astype(int)
    )
    return {
        "previous_ids": rows,
        "new_ids": cols,
        "counts": table.to_numpy().tolist(),
        "customers_in_both": len(both),
        "only_previous": int(len(prev) - len(both)),
        "only_new": int(len(cur) - len(both)),
        "kept_segment": int((both["segment_id_previous"] == both["segment_id_new"]).sum()),
    }


def format_migration(info: dict[str, Any]) -> list[str]:
    """The migration table as text lines (rows: previous ids, columns: new ids)."""
    mig = info["migration"]
    width = max(7, *(len(f"{c:,}") + 1 for row in mig["counts"] for c in row))
    lines = [
        f"migration of the {mig['customers_in_both']:,} customers in both trainings "
        f"({mig['kept_segment']:,} kept their segment; {mig['only_previous']:,} only in the previous, "
        f"{mig['only_new']:,} only in the new):",
        "prev\\new" + "".join(f"{c:>{width}}" for c in mig["new_ids"]),
    ]
    for pid, row in zip(mig["previous_ids"], mig["counts"], strict=True):
        lines.append(f"{pid:>8}" + "".join(f"{c:>{width},}" for c in row))
    return lines
