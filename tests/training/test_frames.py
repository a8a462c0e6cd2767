"""The pandas/Arrow edge of the feature definition: cleaning rules, as_of, codes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shopper_segments.core.errors import DataError
from shopper_segments.core.features import OTHER_CATEGORY, FeatureSpec, rfm_spec, share_name
from shopper_segments.training.dataset import DatasetSpec
from shopper_segments.training.frames import (
    _duplicated,
    clean_lines,
    compute_features,
    default_as_of,
    features_from_parquet,
    features_from_table,
)
from shopper_segments.training.loading import load_transactions
from tests.conftest import ONLINE_RETAIL_SPEC, ROOT, SAMPLE
from tests.training.test_features import AS_OF, lines


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
    assert dropped == {
        "missing_customer_id": 1,
        "duplicate_lines": 0,
        "zero_quantity": 0,
        "zero_price": 0,
        "zero_amount": 1,
    }
    assert len(cleaned) == 1


def test_default_as_of_is_midnight_after_last_line() -> None:
    frame = lines([("c1", "o1", "2024-01-21T13:45", 1.0)])
    assert default_as_of(frame) == pd.Timestamp("2024-01-22T00:00Z")


# --- the Arrow path (features_from_parquet / features_from_table) ----------------------------

SPEC8 = rfm_spec(True, ["apparel", "beauty", "books", "toys"])
GEN_AS_OF = pd.Timestamp("2024-01-02T00:00:00Z")


def generated_lines(n_lines: int, seed: int) -> pa.Table:
    """A seeded file of bench/generate.py (realistic skew), plus the awkward cases.

    Customers come unsorted; an order id is shared by two customers; some categories are
    null; returns exist; two customers have only returns.
    """
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "bench" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = module.generate(n_lines, seed).drop_columns(["product_id"])
    frame = table.to_pandas()
    rng = np.random.default_rng(seed)
    frame.loc[rng.random(len(frame)) < 0.05, "category"] = None
    extra = pd.DataFrame(
        {
            "customer_id": [
                "Zshared1",
                "Ashared2",
                "Ashared2",
                "Bonly_returns",
                "Bonly_returns",
                "Conly_ret2",
            ],
            "order_id": ["Oshared", "Oshared", "Oown", "Oret1", "Oret2", "Oret3"],
            "timestamp": pd.to_datetime(
                ["2023-05-01", "2023-06-01", "2023-07-01", "2023-08-01", "2023-08-02", "2023-09-01"], utc=True
            ),
            "amount": [10.0, 20.0, 5.0, -3.0, -4.0, -1.5],
            "category": ["toys", None, "books", "toys", None, "books"],
        }
    )
    frame = pd.concat([frame, extra], ignore_index=True)
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)  # customers unsorted
    frame["timestamp"] = frame["timestamp"].astype("datetime64[us, UTC]")
    return pa.Table.from_pandas(frame, preserve_index=False)


def groupby_reference(frame: pd.DataFrame, spec: FeatureSpec, as_of: pd.Timestamp) -> pd.DataFrame:
    """The features by an independent, idiomatic pandas groupby (as bench/agg.py's baseline)."""
    frame = frame.assign(timestamp=frame["timestamp"].astype("datetime64[ns, UTC]"))
    buys = frame[frame["amount"] > 0]
    per = buys.groupby("customer_id").agg(
        last=("timestamp", "max"), first=("timestamp", "min"), frequency=("order_id", "nunique")
    )
    out = pd.DataFrame(index=per.index)
    out["recency_days"] = (as_of - per["last"]).dt.total_seconds() / 86_400
    out["frequency"] = per["frequency"].astype(float)
    out["monetary"] = frame.groupby("customer_id")["amount"].sum().reindex(per.index)
    out["avg_order_value"] = out["monetary"] / out["frequency"]
    out["tenure_days"] = (as_of - per["first"]).dt.total_seconds() / 86_400
    if spec.categories:
        cat = buys["category"].where(buys["category"].isin(spec.categories), OTHER_CATEGORY)
        spend = buys.groupby([buys["customer_id"], cat])["amount"].sum().unstack(fill_value=0.0)
        spend = spend.reindex(columns=[*spec.categories, OTHER_CATEGORY], fill_value=0.0)
        for c in spend.columns:
            out[share_name(c)] = (spend[c] / spend.sum(axis=1)).reindex(per.index)
    return out.sort_index()[spec.names]


@pytest.mark.parametrize("row_group_size", [None, 997])  # one dictionary, or many to unify
def test_parquet_path_equals_groupby_and_dataframe_path_on_generated_lines(
    tmp_path: Path, row_group_size: int | None
) -> None:
    table = generated_lines(20_000, seed=3)
    path = tmp_path / "lines.parquet"
    pq.write_table(table, path, row_group_size=row_group_size)
    got = features_from_parquet(path, SPEC8, GEN_AS_OF)
    frame = table.to_pandas()
    expected = groupby_reference(frame, SPEC8, GEN_AS_OF)
    assert list(got.index) == list(expected.index)  # sorted, same customers
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=1e-9)
    # the same lines as a DataFrame (plain text, one chunk) give identical features
    pd.testing.assert_frame_equal(compute_features(frame, SPEC8, GEN_AS_OF), got)
    pd.testing.assert_frame_equal(features_from_table(pq.read_table(path), SPEC8, GEN_AS_OF), got)
    # the awkward cases: a shared order counts once for each customer; only-returns customers
    # are left out, and what is left out is the difference training reports
    assert got.loc["Zshared1", "frequency"] == 1 and got.loc["Ashared2", "frequency"] == 2
    assert got.loc["Ashared2", "share_other"] == pytest.approx(20 / 25)
    assert "Bonly_returns" not in got.index and "Conly_ret2" not in got.index
    only_returns = int((frame.groupby("customer_id")["amount"].max() <= 0).sum())
    assert only_returns >= 2 and frame["customer_id"].nunique() - len(got) == only_returns


def test_parquet_path_on_lines_sorted_by_order_id_equals_groupby(tmp_path: Path) -> None:
    """Sorted order ids are coded by runs, not hashed; a shared order id stays one run."""
    table = generated_lines(20_000, seed=4).sort_by("order_id")
    path = tmp_path / "sorted.parquet"
    pq.write_table(table, path, row_group_size=3_001)
    got = features_from_parquet(path, SPEC8, GEN_AS_OF)
    expected = groupby_reference(table.to_pandas(), SPEC8, GEN_AS_OF)
    assert list(got.index) == list(expected.index)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=1e-9)
    assert got.loc["Zshared1", "frequency"] == 1 and got.loc["Ashared2", "frequency"] == 2


def test_parquet_path_on_the_bundled_sample_equals_the_dataframe_path(tmp_path: Path) -> None:
    lines, _ = load_transactions(SAMPLE, DatasetSpec.from_toml(ONLINE_RETAIL_SPEC))
    clean, _ = clean_lines(lines)
    spec = rfm_spec(True)
    as_of = default_as_of(clean)
    path = tmp_path / "sample.parquet"
    pq.write_table(pa.Table.from_pandas(clean, preserve_index=False), path, row_group_size=500)
    got = features_from_parquet(path, spec, as_of)
    pd.testing.assert_frame_equal(got, compute_features(clean, spec, as_of))
    np.testing.assert_allclose(got.to_numpy(), groupby_reference(clean, spec, as_of).to_numpy(), rtol=1e-12)
    assert got.index.is_monotonic_increasing and len(got) == clean["customer_id"].nunique() - int(
        (clean.groupby("customer_id")["amount"].max() <= 0).sum()
    )


def test_arrow_path_refuses_unclean_lines(tmp_path: Path) -> None:
    table = pa.table(
        {
            "customer_id": ["a", None],
            "order_id": ["1", "2"],
            "timestamp": pa.array([1, 2], pa.timestamp("s", tz="UTC")),
            "amount": [1.0, 2.0],
        }
    )
    with pytest.raises(ValueError, match="1 lines have no customer_id"):
        features_from_table(table, rfm_spec(True), GEN_AS_OF)
    with pytest.raises(ValueError, match=r"lack the column\(s\) \['amount'\]"):
        features_from_table(table.drop_columns(["amount"]), rfm_spec(True), GEN_AS_OF)
    path = tmp_path / "no_ids.parquet"
    pq.write_table(table.drop_columns(["customer_id"]), path)
    with pytest.raises(DataError, match="column 'customer_id' not found"):
        features_from_parquet(path, rfm_spec(True), GEN_AS_OF)


def test_duplicate_lines_are_exactly_pandas_duplicated() -> None:
    rng = np.random.default_rng(7)
    n = 3_000
    frame = pd.DataFrame(
        {
            "customer_id": pd.array(rng.choice(["a", "b", "c"], n), dtype="string"),
            "order_id": pd.array(rng.choice(["o1", "o2", None], n), dtype="string"),
            "timestamp": pd.to_datetime(rng.integers(0, 4, n) * 86_400, unit="s", utc=True),
            "amount": rng.choice([1.0, 2.5, 0.0, -0.0, np.nan, -3.0], n),
            "category": pd.array(rng.choice(["x", "y", None], n), dtype="string"),
        }
    )
    key = list(frame.columns)
    expected = frame.duplicated(subset=key, keep="first").to_numpy()
    assert 0 < expected.sum() < n
    every = np.ones(n, dtype=bool)
    np.testing.assert_array_equal(_duplicated(frame, key, every), expected)
    as_text = frame.assign(timestamp=frame["timestamp"].astype("string"))  # not datetimes: compared in full
    np.testing.assert_array_equal(_duplicated(as_text, key, every), expected)
    some = rng.random(n) < 0.5  # only among the rows asked about, False elsewhere
    got = _duplicated(frame, key, some)
    np.testing.assert_array_equal(got[some], frame[some].duplicated(subset=key).to_numpy())
    assert not got[~some].any()
