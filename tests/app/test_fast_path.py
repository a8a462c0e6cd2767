"""The lean serving path equals the training path and scikit-learn, on every real customer."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shopper_segments.app.histories import history_lines, to_ns
from shopper_segments.core.artifact import load_model
from shopper_segments.core.features import FeatureSpec, feature_matrix, rfm_spec
from shopper_segments.core.model import SegmentModel
from shopper_segments.core.transforms import transform_features
from shopper_segments.training.dataset import DatasetSpec
from shopper_segments.training.frames import (
    clean,
    clean_lines,
    compute_features,
    default_as_of,
    features_from_parquet,
    top_categories,
)
from shopper_segments.training.loading import load_transactions
from tests.conftest import ONLINE_RETAIL_SPEC, ROOT, shared_file

FAR = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
BUNDLED = ROOT / "models" / "online-retail"


def as_requests(lines: pd.DataFrame) -> list[tuple[int, dict[str, Any]]]:
    """Canonical lines as the plain customers the parser hands to the service.

    Every line with a customer id, as loaded: duplicates, zero amounts and returns kept.
    """
    lines = lines[lines["customer_id"].notna()]
    out = []
    for k, (cid, rows) in enumerate(lines.groupby("customer_id", sort=True)):
        txs = [
            {
                "order_id": None if pd.isna(o) else o,
                "timestamp": ts.isoformat(),  # text, as a client posts it
                "amount": float(a),
                "quantity": None,
                "unit_price": None,
                "category": None if pd.isna(c) else c,
                "product_id": None if pd.isna(p) else p,
            }
            for o, ts, a, c, p in zip(
                rows["order_id"],
                rows["timestamp"],
                rows["amount"],
                rows["category"] if "category" in rows else [None] * len(rows),
                rows["product_id"],
                strict=True,
            )
        ]
        out.append((k, {"customer_id": cid, "transactions": txs}))
    return out


def serving_features(
    lines: pd.DataFrame, spec: FeatureSpec, as_of: pd.Timestamp
) -> tuple[list[str], np.ndarray]:
    customers = as_requests(lines)
    found = history_lines(customers, spec, as_of.to_pydatetime(), FAR)
    assert not any(found.errors)
    X, has_purchase = feature_matrix(found.lines, spec, to_ns(as_of.to_pydatetime()))
    assert has_purchase.all()
    # the customers the service answers no_purchases are exactly those training leaves out
    cleaned = clean(lines)
    assert found.status.count("no_purchases") == len(cleaned.customer_ids) - len(found.ok)
    totals: dict[str, int] = {}
    for d in found.dropped:
        for code, n in d.items():
            totals[code] = totals.get(code, 0) + n
    # (the same number; the codes differ here, as these lines carry amounts, not quantity x price)
    assert sum(totals.values()) == sum(v for k, v in cleaned.dropped.items() if k != "missing_customer_id")
    return [customers[k][1]["customer_id"] for k in found.ok], X


def assert_paths_agree(lines: pd.DataFrame, spec: FeatureSpec, as_of: pd.Timestamp) -> pd.DataFrame:
    clean, _ = clean_lines(lines)
    offline = compute_features(clean, spec, as_of)
    ids, online = serving_features(lines, spec, as_of)
    assert ids == list(offline.index)
    np.testing.assert_array_equal(online, offline.to_numpy(np.float64))
    # training's feature step on a Parquet file of the same lines (several row groups)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lines.parquet"
        pq.write_table(pa.Table.from_pandas(clean, preserve_index=False), path, row_group_size=40_000)
        pd.testing.assert_frame_equal(features_from_parquet(path, spec, as_of), offline)
    return offline


def test_online_retail_every_customer_same_features_and_segment_as_sklearn() -> None:
    path = shared_file("online_retail/online_retail_2010-2011.csv.gz")
    lines, _ = load_transactions(path, DatasetSpec.from_toml(ONLINE_RETAIL_SPEC))
    meta, pipeline, model = load_model(BUNDLED)
    spec = model.spec
    offline = assert_paths_agree(lines, spec, pd.Timestamp(meta["data"]["as_of"]))
    assert len(offline) == meta["data"]["customers"]
    X = offline.to_numpy(np.float64)
    expected = pipeline.predict(transform_features(X, spec))
    np.testing.assert_array_equal(model.assign(X).segment_index, expected)
    # one customer at a time, as a request carries it, against predict on a one-row DataFrame
    frame = pd.DataFrame(transform_features(X[:200], spec), columns=spec.names)
    for r in range(200):
        one = model.assign(X[r : r + 1]).segment_index[0]
        assert one == pipeline.predict(frame.iloc[[r]].to_numpy())[0] == expected[r]


def test_complete_journey_with_categories_same_features_and_segment(tmp_path: Path) -> None:
    path = shared_file("complete_journey/transactions_sample.csv.gz")
    shared_file("complete_journey/products.csv.gz")
    dataset = DatasetSpec.from_toml(ROOT / "training/datasets/complete_journey.toml")
    lines, _ = load_transactions(path, dataset)
    clean, _ = clean_lines(lines)
    spec = rfm_spec(True, top_categories(clean, 8))
    assert len(spec.categories) == 8
    offline = assert_paths_agree(lines, spec, default_as_of(clean))
    from sklearn.cluster import KMeans
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    Xt = transform_features(offline.to_numpy(np.float64), spec)
    pipeline = Pipeline([("scaler", StandardScaler()), ("kmeans", KMeans(5, n_init=2, random_state=0))])
    pipeline.fit(Xt)
    joblib.dump(pipeline, tmp_path / "p.joblib")
    model = SegmentModel.from_pipeline(spec, joblib.load(tmp_path / "p.joblib"))
    np.testing.assert_array_equal(
        model.assign(offline.to_numpy(np.float64)).segment_index, pipeline.predict(Xt)
    )


@pytest.mark.parametrize("n_lines", [1, 10, 200])
def test_small_and_large_inputs_take_the_same_definition(n_lines: int) -> None:
    rng = np.random.default_rng(n_lines)
    frame = pd.DataFrame(
        {
            "customer_id": pd.array([f"c{i}" for i in rng.integers(0, 7, n_lines)], dtype="string"),
            "order_id": pd.array([f"o{i}" for i in rng.integers(0, 15, n_lines)], dtype="string"),
            "timestamp": pd.to_datetime(rng.integers(1.6e9, 1.7e9, n_lines), unit="s", utc=True).astype(
                "datetime64[ns, UTC]"
            ),
            "amount": rng.choice([-5.0, 3.5, 10.0, 99.99], n_lines),
            "category": pd.array(rng.choice(["a", "b", "z"], n_lines), dtype="string"),
            "product_id": pd.array(rng.choice(["p1", "p2"], n_lines), dtype="string"),
        }
    )
    frame = pd.concat([frame, frame.head(3)], ignore_index=True)  # exact duplicates
    assert_paths_agree(frame, rfm_spec(True, ["a", "b"]), pd.Timestamp("2024-01-01T00:00Z"))
