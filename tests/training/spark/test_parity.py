"""The Spark engine against the local engine on real data: same customers, features, segments, drops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shopper_segments.training.config import TrainConfig
from shopper_segments.training.dataset import DatasetSpec
from shopper_segments.training.spark.fit import train as train_on_spark
from shopper_segments.training.train import train
from tests.conftest import ROOT, shared_file
from tests.training.spark.conftest import OPTIONS

pytestmark = pytest.mark.spark

DATASETS = {
    "online_retail": ("online_retail/online_retail_2010-2011.csv.gz", "online_retail.toml"),
    "complete_journey": ("complete_journey/transactions_sample.csv.gz", "complete_journey.toml"),
}
#: What both engines must report alike (the engine, file hash and timings aside).
SAME_DATA = [
    "rows_read",
    "rows_dropped",
    "customers",
    "customers_dropped",
    "rows_used",
    "date_range",
    "as_of",
    "return_lines_kept",
]


def train_both(spark: Any, data: Path, spec: Path, out: Path) -> tuple[tuple[Path, dict], tuple[Path, dict]]:
    config = TrainConfig(
        input=data,
        dataset=DatasetSpec.from_toml(spec),
        out=out,
        name="local",
        k=4,
        seed=0,
        n_init=2,
        report=False,
        use_previous=False,
    )
    local = train(config)
    config.name = "spark"
    return local, train_on_spark(config, OPTIONS)


@pytest.mark.parametrize("name", list(DATASETS))
def test_spark_trains_what_local_trains(spark: Any, tmp_path: Path, name: str) -> None:
    data, spec = DATASETS[name]
    (local_dir, local), (spark_dir, remote) = train_both(
        spark, shared_file(data), ROOT / "training" / "datasets" / spec, tmp_path
    )
    a = pd.read_parquet(local_dir / "assignments.parquet").set_index("customer_id")
    b = pd.read_parquet(spark_dir / "assignments.parquet").set_index("customer_id")
    assert len(a) > 1000 and list(a.index) == list(b.index)  # the same customers, in the same order
    names = local["features"]["names"]
    assert names == remote["features"]["names"]
    if name == "complete_journey":
        assert local["features"]["categories"], "the categories of products.csv.gz are features"
    np.testing.assert_allclose(b[names].to_numpy(), a[names].to_numpy(), rtol=0, atol=1e-9)
    assert (a["segment_id"] == b["segment_id"]).all()
    assert [s["size"] for s in local["segments"]] == [s["size"] for s in remote["segments"]]
    for key in SAME_DATA:
        assert local["data"][key] == remote["data"][key], key
    assert sum(local["data"]["rows_dropped"].values()) > 0  # the drop rules had work to do
    assert remote["data"]["engine"]["name"] == "spark" and remote["data"]["engine"]["fit_sample"] is None
    assert remote["data"]["engine"]["partitions"] >= 2
