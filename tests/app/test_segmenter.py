"""Segmenter.assign_arrays: overflow checks on features and distances, each at its customer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shopper_segments.app.errors import InvalidInput
from shopper_segments.app.segmenter import LoadedModel, Segmenter
from shopper_segments.core.features import table_spec
from shopper_segments.core.model import SegmentModel


def loaded_with_scale(scale: float, far: float = 1.0) -> LoadedModel:
    model = SegmentModel(
        spec=table_spec(["a", "b"]),
        mean_=np.zeros(2),
        scale_=np.full(2, scale),
        centroids_=np.array([[0.0, 0.0], [far, far]]),
    )
    return LoadedModel("v1", Path("."), None, model, [10, 11], ["low", "high"], None)  # type: ignore[arg-type]


def request(*rows: tuple[float, float]) -> dict:
    return {
        "customers": [{"customer_id": f"c{i}", "features": {"a": a, "b": b}} for i, (a, b) in enumerate(rows)]
    }


# Scaling 1e300 by 1e-10 overflows (numpy warns); the service answers 422 for that customer.
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_a_distance_that_overflows_is_refused_at_that_customer(tmp_path: Path) -> None:
    segmenter = Segmenter(tmp_path)
    loaded = loaded_with_scale(1e-10)
    body = request((1.0, 1.0), (1e300, 1.0), (2.0, 0.0))
    with pytest.raises(InvalidInput) as info:
        segmenter.assign_arrays(body, 1.0, loaded, strict=True)
    assert [e["field"] for e in info.value.errors] == ["customers[1].features"]
    assert "overflows a float" in info.value.errors[0]["message"]
    assigned = segmenter.assign_arrays(body, 1.0, loaded)
    assert assigned.status == ["assigned", "invalid", "assigned"] and assigned.rows == [0, 2]
    assert [e["field"] for e in assigned.errors[1]] == ["customers[1].features"]


def test_large_finite_values_are_answered(tmp_path: Path) -> None:
    rows = ((1e308, 1e308), (1.5e308, 1.0))
    assigned = Segmenter(tmp_path).assign_arrays(request(*rows), 1.0, loaded_with_scale(1e200, far=1e108))
    assert np.isfinite(assigned.result.distance).all()
    assert assigned.result.segment_index.tolist() == [1, 1]
