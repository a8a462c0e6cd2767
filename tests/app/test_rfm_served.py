"""RFM columns online (real uvicorn) and in bulk output equal training's; an ``rfm`` model is served."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from shopper_segments.core.rfm import GRID_NAMES, RFM_COLUMNS
from shopper_segments.training.bulk import score_file
from shopper_segments.training.dataset import DatasetSpec
from tests.app.payloads import customers, read_online_retail
from tests.conftest import ONLINE_RETAIL_SPEC, SAMPLE, Server, start_server, stop_server, train_sample


@pytest.fixture(scope="module")
def rfm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path, dict]]:
    root = tmp_path_factory.mktemp("models-rfm")
    path, meta = train_sample(root, name="rfm", algorithm="rfm")
    server = start_server(root, path, tmp_path_factory.mktemp("logs") / "uvicorn.log")
    yield server, path, meta
    stop_server(server)


def post_json(server: Server, meta: dict, ids: list[str]) -> pd.DataFrame:
    """Every training customer's raw lines posted as JSON; the answers indexed by customer."""
    payloads = customers(read_online_retail(SAMPLE))
    body = {"as_of": meta["data"]["as_of"], "customers": [payloads[c] for c in ids]}
    r = httpx.post(f"{server.url}/v1/assign", json=body, timeout=120)
    assert r.status_code == 200, r.text[:500]
    return pd.DataFrame(r.json()["results"]).set_index("customer_id")


def post_csv(server: Server, meta: dict) -> pd.DataFrame:
    """The sample file's lines as a CSV upload answered as CSV."""
    rows = read_online_retail(SAMPLE)
    as_of = meta["data"]["as_of"].replace("+00:00", "Z")
    r = httpx.post(
        f"{server.url}/v1/assign?as_of={as_of}",
        content=rows.to_csv(index=False).encode(),
        headers={"content-type": "text/csv", "accept": "text/csv"},
        timeout=120,
    )
    assert r.status_code == 200, r.text[:500]
    return pd.read_csv(io.StringIO(r.text), dtype={"customer_id": str}).set_index("customer_id")


def assert_rfm_equal(answers: pd.DataFrame, training: pd.DataFrame, what: str) -> None:
    got = answers.loc[training.index]
    for col in RFM_COLUMNS[:3]:
        assert (got[col].astype(int) == training[col].astype(int)).all(), (what, col)
    assert (got["rfm_segment"] == training["rfm_segment"]).all(), what


def test_served_rfm_columns_equal_the_training_assignments(
    sample_server: Server, sample_model: tuple[Path, dict], tmp_path: Path
) -> None:
    path, meta = sample_model
    training = pd.read_parquet(path / "assignments.parquet").set_index("customer_id")
    assert training["rfm_segment"].nunique() >= 5  # a spread of grid cells, not one
    assert_rfm_equal(post_json(sample_server, meta, list(training.index)), training, "json")
    assert_rfm_equal(post_csv(sample_server, meta), training, "csv")
    assert_rfm_equal(bulk_output(path, tmp_path / "bulk.csv"), training, "bulk")
    model = httpx.get(f"{sample_server.url}/v1/model").json()
    assert model["rfm"]["edges"] == meta["rfm"]["edges"]


def test_unassigned_customers_have_null_rfm_columns(sample_server: Server) -> None:
    body = {"customers": [{"customer_id": "x", "features": {"recency_days": 1.0}}]}
    r = httpx.post(f"{sample_server.url}/v1/assign", json=body, timeout=30)
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert result["status"] == "invalid"
    assert [result[c] for c in RFM_COLUMNS] == [None] * 4


def bulk_output(path: Path, out: Path) -> pd.DataFrame:
    """``segments assign`` of the sample file with ``path``'s model, as CSV."""
    score_file(path, SAMPLE, out, DatasetSpec.from_toml(ONLINE_RETAIL_SPEC), progress=False)
    return pd.read_csv(out, dtype={"customer_id": str}).set_index("customer_id")


def test_rfm_model_serves_the_grid(rfm_server: tuple[Server, Path, dict], tmp_path: Path) -> None:
    server, path, meta = rfm_server
    listed = httpx.get(f"{server.url}/v1/segments").json()["segments"]
    assert [s["name"] for s in listed] == [GRID_NAMES[s["id"]] for s in listed]
    assert len(listed) == len(meta["segments"]) >= 5
    assert httpx.get(f"{server.url}/v1/model").json()["algorithm"] == "rfm"
    training = pd.read_parquet(path / "assignments.parquet").set_index("customer_id")
    answers = post_json(server, meta, list(training.index))
    assert (answers["segment_name"] == answers["rfm_segment"]).all()
    assert (answers.loc[training.index, "segment_id"] == training["segment_id"]).all()
    assert_rfm_equal(answers, training, "json")
    assert_rfm_equal(post_csv(server, meta), training, "csv")
    bulk = bulk_output(path, tmp_path / "bulk.csv")
    assert_rfm_equal(bulk, training, "bulk")
    assert (bulk.loc[training.index, "segment_id"] == training["segment_id"]).all()
