"""Step 6 of training: assign the training customers and describe each segment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shopper_segments.core.errors import DataError
from shopper_segments.core.model import SegmentModel
from shopper_segments.training import identity
from shopper_segments.training.naming import name_segments
from shopper_segments.training.prepared import Prepared


def evaluate(
    prep: Prepared,
    model: SegmentModel,
    names_file: Path | None,
    ids: identity.Identities | None = None,
    currency: str | None = None,
) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Assign the training customers and describe each segment (step 6).

    ``ids`` (from :func:`identity.match`) gives each label its stable id and kept
    name; without it the id is the label. ``names_file`` overrides names by id.
    ``currency`` (ISO 4217) labels the spend in the descriptions.
    """
    X = prep.X
    result = model.assign(X.to_numpy(np.float64))
    labels = result.segment_index
    k = model.n_segments
    named = name_segments(X, labels, not prep.spec.is_table, currency)
    seg_ids = ids.ids if ids else list(range(k))
    names = identity.unique_names([n["name"] for n in named], ids.kept_names if ids else {})
    overrides = _read_names(names_file) if names_file else {}
    sizes = np.bincount(labels, minlength=k)
    revenue = X["monetary"].clip(lower=0).groupby(labels).sum() if "monetary" in X else None
    centroids = model.centroids_original()
    segments = []
    for i in range(k):
        seg = {
            "id": seg_ids[i],
            "label": i,
            "name": overrides.get(str(seg_ids[i]), names[i]),
            "description": named[i]["description"],
            "size": int(sizes[i]),
            "share": float(sizes[i] / len(X)),
            "centroid": dict(zip(prep.spec.names, centroids[i].tolist(), strict=True)),
            "centroid_scaled": model.centroids_[i].tolist(),
            "median": X[labels == i].median().to_dict() if sizes[i] else {n: None for n in X.columns},
        }
        if revenue is not None:
            seg["revenue_share"] = float(revenue.get(i, 0.0) / max(revenue.sum(), 1e-12))
        segments.append(seg)
    assignments = X.reset_index()
    assignments.insert(1, "segment_id", np.asarray(seg_ids, dtype=np.int64)[labels])
    assignments.insert(2, "segment_name", [segments[i]["name"] for i in labels])
    if result.probabilities is not None:
        for i in range(k):
            assignments[f"probability_{seg_ids[i]}"] = result.probabilities[:, i]
    return segments, assignments


def _read_names(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DataError(f"{path}: expected a JSON object of segment id -> name")
    return {str(k): v for k, v in data.items()}
