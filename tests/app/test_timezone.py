"""Naive timestamps are read in the training dataset's time zone, in files and requests alike."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from shopper_segments.app.config import Settings
from shopper_segments.app.main import create_app
from shopper_segments.training.dataset import DatasetSpec
from tests.app.payloads import customers, read_online_retail
from tests.conftest import ONLINE_RETAIL_SPEC, SAMPLE, train_sample

ZONE = "Europe/London"


@pytest.fixture(scope="module")
def london(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    dataset = DatasetSpec.from_toml(ONLINE_RETAIL_SPEC).with_overrides(timezone=ZONE)
    return train_sample(tmp_path_factory.mktemp("models"), name="london", dataset=dataset)


def test_posted_naive_times_are_read_in_the_models_zone(london: tuple[Path, dict]) -> None:
    path, meta = london
    assert meta["features"]["timezone"] == ZONE
    trained = pd.read_parquet(path / "assignments.parquet").set_index("customer_id")
    payloads = customers(read_online_retail(SAMPLE))
    with TestClient(create_app(Settings(model_root=path.parent.parent, model_dir=path))) as client:
        assert client.get("/v1/model").json()["features"]["timezone"] == ZONE
        body = {"as_of": meta["data"]["as_of"], "customers": list(payloads.values())}
        answer = client.post("/v1/assign", json=body).json()
    got = {r["customer_id"]: r for r in answer["results"] if r["status"] == "assigned"}
    assert sorted(got) == sorted(trained.index)
    for cid, row in trained.iterrows():
        assert got[cid]["segment_id"] == row["segment_id"]
        # exact: the same instants, so the same features (summer lines are an hour earlier in UTC)
        assert got[cid]["features"]["recency_days"] == row["recency_days"]
        assert got[cid]["features"]["tenure_days"] == row["tenure_days"]


def test_a_local_time_a_dst_change_repeats_or_skips_is_invalid(london: tuple[Path, dict]) -> None:
    path, meta = london
    lines = {
        "repeated": "2011-10-30 01:30:00",  # clocks went back: 01:30 happened twice
        "skipped": "2011-03-27 01:30:00",  # clocks went forward: 01:30 never happened
        "with an offset": "2011-10-30 01:30:00+01:00",  # the offset says which one
    }
    body = {
        "as_of": meta["data"]["as_of"],
        "customers": [
            {"customer_id": name, "transactions": [{"timestamp": stamp, "quantity": 1, "unit_price": 2.5}]}
            for name, stamp in lines.items()
        ],
    }
    with TestClient(create_app(Settings(model_root=path.parent.parent, model_dir=path))) as client:
        results = client.post("/v1/assign", json=body).json()["results"]
    assert [r["status"] for r in results] == ["invalid", "invalid", "assigned"]
    for r in results[:2]:
        assert r["errors"][0]["field"].endswith(".timestamp")
        assert "daylight-saving" in r["errors"][0]["message"]
