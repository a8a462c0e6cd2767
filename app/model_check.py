"""Checks a freshly loaded model must pass before it replaces the serving one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from training.artifact import ASSIGNMENTS
from training.errors import ArtifactError
from training.model import SegmentModel

CHECK_ROWS = 256


def check_model(model_dir: Path, model: SegmentModel, segment_ids: list[int]) -> None:
    """Refuse a model that is not finite or does not reproduce its own training assignments.

    ``load_model`` has already verified the checksums, the scikit-learn version and the
    feature definition; this runs the model the way a request would, on up to
    ``CHECK_ROWS`` training customers spread over ``assignments.parquet``, and requires
    the segment recorded at training time for each.

    Raises
    ------
    ArtifactError
        Naming the failed check.
    """
    for name in ("mean_", "scale_", "centroids_"):
        if not np.isfinite(getattr(model, name)).all():
            raise ArtifactError(f"{model_dir}: the model's {name.rstrip('_')} has non-finite values")
    if not (model.scale_ > 0).all():
        raise ArtifactError(f"{model_dir}: the model's scale has zero or negative values")
    path = model_dir / ASSIGNMENTS
    try:
        recorded = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise ArtifactError(f"{model_dir}: {ASSIGNMENTS} cannot be read: {exc}") from exc
    missing = [c for c in [*model.spec.names, "segment_id"] if c not in recorded.columns]
    if missing:
        raise ArtifactError(f"{model_dir}: {ASSIGNMENTS} lacks the columns {', '.join(missing)}")
    if recorded.empty:
        raise ArtifactError(f"{model_dir}: {ASSIGNMENTS} has no customers to check the model on")
    rows = recorded.iloc[:: max(1, len(recorded) // CHECK_ROWS)].head(CHECK_ROWS)
    result = model.assign(rows[model.spec.names].to_numpy(np.float64))
    got = np.asarray(segment_ids)[result.segment_index]
    expected = rows["segment_id"].to_numpy()
    wrong = np.flatnonzero(got != expected)
    if wrong.size:
        first = wrong[0]
        raise ArtifactError(
            f"{model_dir}: the model assigns {wrong.size} of {len(rows)} training customers to another "
            f"segment than recorded at training (row {rows.index[first]}: recorded {expected[first]}, "
            f"got {got[first]})"
        )
