"""A Spark-trained model in the service, Spark bulk scoring against the local one, assign_udf."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from shopper_segments.core.errors import OutputError
from shopper_segments.training.bulk import score_file
from shopper_segments.training.config import TrainConfig
from shopper_segments.training.dataset import DatasetSpec
from shopper_segments.training.loading import load_transactions
from shopper_segments.training.spark.fit import train as train_on_spark
from shopper_segments.training.spark.score import assign_udf, score
from tests.app.payloads import customers, read_online_retail
from tests.conftest import ONLINE_RETAIL_SPEC, SAMPLE, start_server, stop_server
from tests.training.spark.conftest import OPTIONS

pytestmark = pytest.mark.spark

DATASET = DatasetSpec.from_toml(ONLINE_RETAIL_SPEC)


@pytest.fixture(scope="module")
def spark_model(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The bundled sample trained on Spark with tests.conftest.train_sample's settings."""
    config = TrainConfig(
        input=SAMPLE,
        dataset=DATASET,
        out=tmp_path_factory.mktemp("spark-models"),
        name="sample",
        seed=0,
        n_init=3,
        k_max=6,
        report=False,
    )
    return train_on_spark(config, OPTIONS)


def test_the_service_serves_a_spark_trained_model_as_local_training_made_it(
    spark_model: tuple[Path, dict], sample_model: tuple[Path, dict], tmp_path: Path
) -> None:
    path, meta = spark_model
    local_path, local_meta = sample_model  # the same data and settings, trained in one process
    expected = pd.read_parquet(path / "assignments.parquet").set_index("customer_id")
    local = pd.read_parquet(local_path / "assignments.parquet").set_index("customer_id")
    assert meta["selection"]["chosen_k"] == local_meta["selection"]["chosen_k"]
    assert (expected["segment_id"] == local["segment_id"]).all() and list(expected.index) == list(local.index)
    server = start_server(path.parent.parent, path, tmp_path / "uvicorn.log")
    try:
        assert httpx.get(f"{server.url}/v1/model", timeout=30).json()["version"] == meta["version"]
        payloads = customers(read_online_retail(SAMPLE))
        body = {"as_of": meta["data"]["as_of"], "customers": [payloads[c] for c in expected.index]}
        r = httpx.post(f"{server.url}/v1/assign", json=body, timeout=120)
    finally:
        stop_server(server)
    assert r.status_code == 200, r.text[:500]
    assert [res["segment_id"] for res in r.json()["results"]] == expected["segment_id"].tolist()


def _same_results(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a, b = (f.sort_values("customer_id").reset_index(drop=True) for f in (a, b))
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for column in a.columns:
        x, y = a[column], b[column]
        if pd.api.types.is_numeric_dtype(x) and column != "customer_id":
            np.testing.assert_allclose(
                y.astype("float64").to_numpy(), x.astype("float64").to_numpy(), atol=1e-9, err_msg=column
            )
        else:
            assert x.astype("string").fillna("").tolist() == y.astype("string").fillna("").tolist(), column


def test_spark_assign_writes_what_local_assign_writes(spark_model: tuple[Path, dict], tmp_path: Path) -> None:
    path, _ = spark_model
    local = score_file(path, SAMPLE, tmp_path / "local.parquet", DATASET, progress=False)
    remote = score(path, SAMPLE, tmp_path / "spark.parquet", DATASET, options=OPTIONS)
    _same_results(pd.read_parquet(tmp_path / "local.parquet"), pd.read_parquet(tmp_path / "spark.parquet"))
    for key in ("rows_read", "rows_dropped", "customers", "no_purchases", "segment_counts", "as_of"):
        assert getattr(local, key) == getattr(remote, key), key
    with pytest.raises(OutputError, match="exists"):
        score(path, SAMPLE, tmp_path / "spark.parquet", DATASET, options=OPTIONS)


def test_assign_udf_in_a_users_pipeline(spark: Any, spark_model: tuple[Path, dict]) -> None:
    path, _ = spark_model
    lines, _ = load_transactions(SAMPLE, DATASET)
    lines = lines[lines["customer_id"].notna()].drop(columns="drop")
    frame = spark.createDataFrame(lines.astype({"customer_id": str, "order_id": str, "product_id": str}))
    f = assign_udf(path)
    expected = pd.read_parquet(path / "assignments.parquet").set_index("customer_id")["segment_id"]
    whole = frame.repartition(3, "customer_id").mapInArrow(f.batches, f.schema).toArrow().to_pandas()
    assigned = whole[whole["status"] == "assigned"].set_index("customer_id")
    assert len(assigned) == len(expected)
    assert (assigned["segment_id"].reindex(expected.index) == expected).all()
    few = expected.index[:20].tolist()
    grouped = (
        frame.filter(frame.customer_id.isin(few))
        .groupBy("customer_id")
        .applyInArrow(f.assign_table, f.schema)
    )
    by_group = grouped.toArrow().to_pandas().set_index("customer_id")["segment_id"]
    assert by_group.reindex(few).tolist() == expected.loc[few].tolist()
