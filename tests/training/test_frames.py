"""The pandas/Arrow edge of the feature definition: cleaning rules, as_of, codes."""

from __future__ import annotations

import pandas as pd

from tests.training.test_features import AS_OF, lines
from training.features import rfm_spec
from training.frames import clean_lines, compute_features, default_as_of


def test_exact_duplicate_lines_counted_once_and_reported() -> None:
    frame = lines([("c1", "o1", "2024-01-21", 30.0)] * 3 + [("c2", "o9", "2024-01-01", 5.0)])
    cleaned, dropped = clean_lines(frame)
    assert dropped["duplicate_lines"] == 2
    assert compute_features(cleaned, rfm_spec(True), AS_OF).loc["c1", "monetary"] == 30.0


def test_missing_customer_and_zero_amount_dropped_with_counts() -> None:
    frame = lines(
        [("c1", "o1", "2024-01-21", 30.0), (None, "o2", "2024-01-21", 5.0), ("c1", "o3", "2024-01-22", 0.0)]
    )
    cleaned, dropped = clean_lines(frame)
    assert dropped == {"missing_customer_id": 1, "duplicate_lines": 0, "zero_amount": 1}
    assert len(cleaned) == 1


def test_default_as_of_is_midnight_after_last_line() -> None:
    frame = lines([("c1", "o1", "2024-01-21T13:45", 1.0)])
    assert default_as_of(frame) == pd.Timestamp("2024-01-22T00:00Z")
