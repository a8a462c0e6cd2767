"""The service in-process (TestClient runs the real lifespan on a tmp model)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from shopper_segments.app.config import Settings
from shopper_segments.app.main import create_app
from tests.app.payloads import customers, read_online_retail
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def client(sample_model: tuple[Path, dict]) -> Iterator[TestClient]:
    path, _ = sample_model
    settings = Settings(model_root=path.parent.parent, model_dir=path.parent)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def sample_customers() -> dict[str, dict]:
    return customers(read_online_retail(SAMPLE))


def test_health_and_readiness(client: TestClient, sample_model: tuple[Path, dict]) -> None:
    version = sample_model[1]["version"]
    assert client.get("/healthz").json() == {"status": "alive", "model_version": version}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["model_version"] == sample_model[1]["version"]


def test_not_ready_without_a_model(tmp_path: Path) -> None:
    settings = Settings(model_root=tmp_path, model_dir=tmp_path / "missing")
    with TestClient(create_app(settings)) as c:
        health = c.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "alive", "model_version": None}
        r = c.get("/readyz")
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert (
            c.post("/v1/assign", json={"customers": [{"customer_id": "a", "features": {}}]}).status_code
            == 503
        )


def test_segments_and_model(client: TestClient, sample_model: tuple[Path, dict]) -> None:
    _, meta = sample_model
    segs = client.get("/v1/segments").json()
    assert segs["model_version"] == meta["version"]
    assert [s["name"] for s in segs["segments"]] == [s["name"] for s in meta["segments"]]
    assert sum(s["size"] for s in segs["segments"]) == meta["data"]["customers"]
    model = client.get("/v1/model").json()
    assert model["selection"]["chosen_k"] == meta["selection"]["chosen_k"]
    assert model["artifacts"].keys() >= {"pipeline.joblib", "assignments.parquet"}


def test_assign_matches_training_assignments(
    client: TestClient, sample_model: tuple[Path, dict], sample_customers: dict[str, dict]
) -> None:
    path, meta = sample_model
    expected = pd.read_parquet(path / "assignments.parquet").set_index("customer_id")
    body = {"as_of": meta["data"]["as_of"], "customers": [sample_customers[c] for c in expected.index]}
    r = client.post("/v1/assign", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model_version"] == meta["version"]
    got = {x["customer_id"]: x for x in out["results"]}
    for cid, row in expected.iterrows():
        assert got[cid]["segment_id"] == row["segment_id"], cid
        assert got[cid]["features"]["monetary"] == pytest.approx(row["monetary"])
        assert got[cid]["next_segment"]["distance"] >= got[cid]["distance"]


def test_precomputed_features_give_the_same_segment(
    client: TestClient, sample_model: tuple[Path, dict]
) -> None:
    path, meta = sample_model
    row = pd.read_parquet(path / "assignments.parquet").iloc[0]
    feats = {n: float(row[n]) for n in meta["features"]["names"]}
    r = client.post("/v1/assign", json={"customers": [{"customer_id": "x", "features": feats}]})
    assert r.status_code == 200
    assert r.json()["results"][0]["segment_id"] == row["segment_id"]


def test_default_as_of_is_now(client: TestClient) -> None:
    body = {
        "customers": [
            {
                "customer_id": "a",
                "transactions": [{"order_id": "1", "timestamp": "2024-01-01T00:00:00Z", "amount": 10.0}],
            }
        ]
    }
    r = client.post("/v1/assign", json=body)
    assert r.status_code == 200
    assert r.json()["results"][0]["features"]["recency_days"] > 300


@pytest.mark.parametrize(
    ("customer", "field", "message"),
    [
        (
            {
                "customer_id": "a",
                "transactions": [{"order_id": "1", "timestamp": "2011-01-01", "amount": -5}],
            },
            "customers[0].transactions",
            "no purchase line",
        ),
        (
            {"customer_id": "a", "transactions": [{"order_id": "1", "timestamp": "2012-01-01", "amount": 5}]},
            "customers[0].transactions[0].timestamp",
            "after as_of",
        ),
        (
            {
                "customer_id": "a",
                "transactions": [{"order_id": "1", "timestamp": "1969-01-01T00:00:00Z", "amount": 5}],
            },
            "customers[0].transactions[0].timestamp",
            "before 1970",
        ),
        (
            {"customer_id": "a", "transactions": [{"order_id": "1", "timestamp": "yesterday", "amount": 5}]},
            "customers[0].transactions[0].timestamp",
            "ISO 8601",
        ),
        (
            {"customer_id": "a", "transactions": [{"order_id": "1", "timestamp": "2011-01-01"}]},
            "customers[0].transactions[0].amount",
            "is required",
        ),
        (
            {"customer_id": "", "transactions": [{"order_id": "1", "timestamp": "2011-01-01", "amount": 1}]},
            "customers[0].customer_id",
            "at least 1 character",
        ),
        ({"customer_id": "a", "transactions": []}, "customers[0].transactions", "at least 1 item"),
        (
            {"customer_id": "a", "features": {"recency_days": 1, "colour": 2}},
            "customers[0].features.colour",
            "not a feature",
        ),
    ],
)
def test_bad_input_names_the_field(client: TestClient, customer: dict, field: str, message: str) -> None:
    """strict=true refuses the request; without it the customer's slot names the same field."""
    body = {"as_of": "2011-12-10T00:00:00Z", "customers": [customer], "strict": True}
    r = client.post("/v1/assign", json=body)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    errors = r.json()["errors"]
    hit = [e for e in errors if e["field"] == field]
    assert hit, errors
    assert message in hit[0]["message"]
    slot = client.post("/v1/assign", json={**body, "strict": False}).json()["results"][0]
    if message == "no purchase line":
        assert slot["status"] == "no_purchases"
    else:
        assert slot["status"] == "invalid" and any(e["field"] == field for e in slot["errors"])


def test_duplicate_customer_ids_rejected(client: TestClient) -> None:
    c = {"customer_id": "a", "transactions": [{"order_id": "1", "timestamp": "2011-01-01", "amount": 1}]}
    r = client.post("/v1/assign", json={"as_of": "2011-12-10T00:00:00Z", "customers": [c, c]})
    assert [res["status"] for res in r.json()["results"]] == ["assigned", "invalid"]
    r = client.post("/v1/assign?strict=true", json={"as_of": "2011-12-10T00:00:00Z", "customers": [c, c]})
    assert r.status_code == 422
    assert r.json()["errors"][0] == {
        "field": "customers[1].customer_id",
        "message": "duplicates customers[0]",
    }


def test_malformed_json_is_a_422_problem(client: TestClient) -> None:
    r = client.post("/v1/assign", content=b'{"customers": [', headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body"
    assert "malformed JSON" in r.json()["errors"][0]["message"]


def test_customer_limit(sample_model: tuple[Path, dict]) -> None:
    path, _ = sample_model
    settings = Settings(model_root=path.parent.parent, model_dir=path, max_customers=2)
    feats = {"recency_days": 1, "frequency": 1, "monetary": 1, "avg_order_value": 1, "tenure_days": 1}
    with TestClient(create_app(settings)) as c:
        body = {"customers": [{"customer_id": str(i), "features": feats} for i in range(3)]}
        r = c.post("/v1/assign", json=body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "customers"
    assert "limit is 2" in r.json()["errors"][0]["message"]
