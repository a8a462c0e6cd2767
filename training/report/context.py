"""Everything the figures draw from, read once from a saved model directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shopper_segments.core import artifact
from shopper_segments.core.errors import ArtifactError
from shopper_segments.core.model import SegmentModel
from shopper_segments.core.transforms import transform_features

#: Customers drawn (seeded) for the silhouette and PCA scatter plots on large sets.
PLOT_SAMPLE = 4_000


@dataclass(frozen=True)
class ReportContext:
    """A model and its training customers, in the three feature spaces.

    Attributes
    ----------
    meta : dict
        The model's metadata.json.
    model : SegmentModel
        The fitted model (loaded and verified).
    X : DataFrame
        Training customers' features in original units (spec order).
    Xt, Xs : ndarray
        The same after the feature transforms, and after transform + scaling.
    segments : list of dict
        ``meta["segments"]`` ordered by segment id (the order every figure uses).
    centroids : ndarray
        The model's scaled centroids (z-scores against the training customers) in
        the same order.
    labels : ndarray
        Segment position per customer (index into ``segments``).
    sample : ndarray
        Seeded row indices for per-point plots (all rows on small sets).
    """

    model_dir: Path
    meta: dict[str, Any]
    model: SegmentModel
    X: pd.DataFrame
    Xt: np.ndarray
    Xs: np.ndarray
    segments: list[dict[str, Any]]
    centroids: np.ndarray
    labels: np.ndarray
    sample: np.ndarray

    @property
    def k(self) -> int:
        return len(self.segments)

    @property
    def names(self) -> list[str]:
        return [str(s["name"]) for s in self.segments]

    @property
    def ids(self) -> list[int]:
        return [int(s["id"]) for s in self.segments]

    @property
    def seed(self) -> int:
        return int(self.meta.get("parameters", {}).get("seed", 0))


def load_context(model_dir: Path, sample_size: int = PLOT_SAMPLE) -> ReportContext:
    """Load and verify a model directory and its training customers.

    Raises
    ------
    ArtifactError
        When the model does not verify or the assignments do not match it.
    """
    meta, _, model = artifact.load_model(model_dir)
    model_dir = artifact.resolve_model_dir(model_dir)
    path = model_dir / artifact.ASSIGNMENTS
    if not path.is_file():
        raise ArtifactError(f"{model_dir}: {artifact.ASSIGNMENTS} is missing; cannot report")
    table = pd.read_parquet(path)
    names = model.spec.names
    missing = [c for c in ["customer_id", "segment_id", *names] if c not in table]
    if missing:
        raise ArtifactError(f"{path}: columns {missing} are missing")
    X = table.set_index("customer_id")[names].astype(np.float64)
    Xt = transform_features(X.to_numpy(), model.spec)
    Xs = (Xt - model.mean_) / model.scale_
    labels = _labels(meta, table["segment_id"].to_numpy(), model, X.to_numpy())
    # Segments are listed by stable id; metadata keeps them in the model's label order.
    order = sorted(range(len(meta["segments"])), key=lambda i: int(meta["segments"][i]["id"]))
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    segments = [meta["segments"][i] for i in order]
    centroids = model.centroids_[order]
    rng = np.random.default_rng(int(meta.get("parameters", {}).get("seed", 0)))
    n = len(X)
    sample = np.sort(rng.choice(n, sample_size, replace=False)) if n > sample_size else np.arange(n)
    return ReportContext(model_dir, meta, model, X, Xt, Xs, segments, centroids, position[labels], sample)


def _labels(meta: dict[str, Any], segment_ids: np.ndarray, model: SegmentModel, X: np.ndarray) -> np.ndarray:
    """Index into meta["segments"] of each customer's recorded segment id."""
    position = {int(s["id"]): i for i, s in enumerate(meta["segments"])}
    if all(int(v) in position for v in np.unique(segment_ids)):
        return np.array([position[int(v)] for v in segment_ids], dtype=np.int64)
    # Ids that the metadata does not know: fall back to the model's own assignment.
    return np.asarray(model.assign(X).segment_index, dtype=np.int64)
