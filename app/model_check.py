"""Checks a freshly loaded model must pass before it replaces the serving one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from shopper_segments.core.artifact import ASSIGNMENTS
from shopper_segments.core.errors import ArtifactError
from shopper_segments.core.model import SegmentModel

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
    columns = [*model.spec.names, "segment_id"]
    try:
        # ParquetFile reads the file without pyarrow's dataset layer (less memory held by the service)
        parquet = pq.ParquetFile(path)
        missing = [c for c in columns if c not in parquet.schema_arrow.names]
        table = None if missing else parquet.read(columns=columns)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise ArtifactError(f"{model_dir}: {ASSIGNMENTS} cannot be read: {exc}") from exc
    if table is None:
        raise ArtifactError(f"{model_dir}: {ASSIGNMENTS} lacks the columns {', '.join(missing)}")
    if table.num_rows == 0:
        raise ArtifactError(f"{model_dir}: {ASSIGNMENTS} has no customers to check the model on")
    index = np.arange(0, table.num_rows, max(1, table.num_rows // CHECK_ROWS))[:CHECK_ROWS]
    rows = table.take(index)
    X = np.column_stack([rows[n].to_numpy().astype(np.float64) for n in model.spec.names])
    result = model.assign(X)
    got = np.asarray(segment_ids)[result.segment_index]
    expected = rows["segment_id"].to_numpy()
    wrong = np.flatnonzero(got != expected)
    if wrong.size:
        first = wrong[0]
        raise ArtifactError(
            f"{model_dir}: the model assigns {wrong.size} of {len(index)} training customers to another "
            f"segment than recorded at training (row {index[first]}: recorded {expected[first]}, "
            f"got {got[first]})"
        )
