"""Reading CSV (plain or gzip'd) and Parquet files, and normalizing ids."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from shopper_segments.core.errors import DataError
from shopper_segments.training.dataset import ColumnMap, DatasetSpec
from shopper_segments.training.io import normalize_ids
from shopper_segments.training.loading import load_transactions


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_ids_written_as_floats_lose_only_a_trailing_integer_dot_zero() -> None:
    raw = pd.Series(["17850.0", " 12 ", "", None, "A1.0", "5.00", "1.0.0", "3.0", "x"], dtype="string")
    got = normalize_ids(raw).tolist()
    assert got == ["17850", "12", pd.NA, pd.NA, "A1.0", "5.00", "1.0.0", "3", "x"]


def test_wrong_column_mapping_names_the_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "c,o,t,a\n1,1,2024-01-01,1\n")
    spec = DatasetSpec(ColumnMap(customer_id="customer", order_id="o", timestamp="t", amount="a"))
    with pytest.raises(DataError, match=r"\['customer'\] not found"):
        load_transactions(path, spec)


def test_parquet_and_gzip_csv_read_the_same(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"c": ["1", "2"], "o": ["a", "b"], "t": ["2024-01-01", "2024-01-03"], "a": [1.5, 2.0]}
    )
    frame.to_parquet(tmp_path / "t.parquet")
    with gzip.open(tmp_path / "t.csv.gz", "wt") as handle:
        frame.to_csv(handle, index=False)
    spec = DatasetSpec(ColumnMap(customer_id="c", order_id="o", timestamp="t", amount="a"))
    a, _ = load_transactions(tmp_path / "t.parquet", spec)
    b, _ = load_transactions(tmp_path / "t.csv.gz", spec)
    pd.testing.assert_frame_equal(a, b)
