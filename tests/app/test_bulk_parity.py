"""Bulk CLI, CSV upload and JSON assign give the same answers (real uvicorn, real data)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.app.payloads import batches, customers, read_online_retail
from tests.conftest import ONLINE_RETAIL_SPEC, ROOT, SAMPLE, Server, shared_file, start_server, stop_server
from training.bulk import score_file
from training.dataset import DatasetSpec

BUNDLED = ROOT / "models" / "online-retail"


def buyers_only(raw: pd.DataFrame) -> pd.DataFrame:
    """Rows of customers with a purchase line (the others have no features, everywhere)."""
    return raw[raw.groupby("CustomerID")["Quantity"].transform("max") > 0]


def json_answers(server: Server, raw: pd.DataFrame, as_of: str) -> pd.DataFrame:
    payloads = list(customers(raw).values())
    rows = []
    with httpx.Client(base_url=server.url, timeout=300) as client:
        for batch in batches(payloads, 400):
            r = client.post("/v1/assign", json={"as_of": as_of, "customers": batch})
            assert r.status_code == 200, r.text[:500]
            for res in r.json()["results"]:
                nxt = res["next_segment"]
                rows.append(
                    {
                        "customer_id": res["customer_id"],
                        "segment_id": res["segment_id"],
                        "segment_name": res["segment_name"],
                        "distance": res["distance"],
                        "next_segment_id": nxt["segment_id"],
                        "next_distance": nxt["distance"],
                        **res["features"],
                    }
                )
    return pd.DataFrame(rows).set_index("customer_id").sort_index()


def upload_answers(server: Server, raw: pd.DataFrame, as_of: str, per_request: int = 1000) -> pd.DataFrame:
    """CSV uploads of canonical lines (whole customers per request), answered as CSV."""
    canon = pd.DataFrame(
        {
            "customer_id": raw["CustomerID"],
            "order_id": raw["InvoiceNo"],
            "timestamp": raw["InvoiceDate"],
            "quantity": raw["Quantity"],
            "unit_price": raw["UnitPrice"],
            "product_id": raw["StockCode"],
        }
    )
    ids = canon["customer_id"].unique()
    parts = []
    with httpx.Client(base_url=server.url, timeout=300) as client:
        for start in range(0, len(ids), per_request):
            part = canon[canon["customer_id"].isin(ids[start : start + per_request])]
            r = client.post(
                f"/v1/assign?as_of={as_of}",
                content=part.to_csv(index=False).encode(),
                headers={"content-type": "text/csv", "accept": "text/csv"},
            )
            assert r.status_code == 200, r.text[:500]
            parts.append(pd.read_csv(io.StringIO(r.text), dtype={"customer_id": str}))
    return pd.concat(parts).set_index("customer_id").sort_index()


def assert_same(bulk: pd.DataFrame, other: pd.DataFrame, what: str) -> float:
    """Every customer, segment, distance and feature equal; returns the % equal segments."""
    assert list(bulk.index) == list(other.index), what
    equal = float((bulk["segment_id"] == other["segment_id"]).mean() * 100)
    assert equal == 100.0, what
    for col in other.columns:
        if col.endswith("segment_name"):
            assert (bulk[col] == other[col]).all(), (what, col)
        else:
            assert (bulk[col].astype(float) == other[col].astype(float)).all(), (what, col)
    return equal


def check_parity(server: Server, model_dir: Path, src: Path, tmp_path: Path) -> tuple[int, float, float]:
    meta = json.loads((model_dir / "metadata.json").read_text())
    as_of = meta["data"]["as_of"].replace("+00:00", "Z")
    score_file(model_dir, src, tmp_path / "bulk.parquet", DatasetSpec.from_toml(ONLINE_RETAIL_SPEC))
    bulk = pd.read_parquet(tmp_path / "bulk.parquet").set_index("customer_id").sort_index()
    raw = buyers_only(read_online_retail(src))
    via_json = json_answers(server, raw, as_of)
    via_upload = upload_answers(server, raw, as_of)
    return len(bulk), assert_same(bulk, via_json, "json"), assert_same(bulk, via_upload, "upload")


def test_sample_bulk_upload_and_json_agree(
    sample_server: Server, sample_model: tuple[Path, dict], tmp_path: Path
) -> None:
    path, meta = sample_model
    n, json_equal, upload_equal = check_parity(sample_server, path, SAMPLE, tmp_path)
    assert n == meta["data"]["customers"]
    assert json_equal == upload_equal == 100.0


@pytest.fixture(scope="module")
def bundled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(ROOT / "models", BUNDLED, tmp_path_factory.mktemp("logs") / "uvicorn.log")
    yield server
    stop_server(server)


@pytest.mark.slow
def test_online_retail_bulk_upload_and_json_agree(bundled_server: Server, tmp_path: Path) -> None:
    src = shared_file("online_retail/online_retail_2010-2011.csv.gz")
    model_dir = BUNDLED / (BUNDLED / "LATEST").read_text().strip()
    n, json_equal, upload_equal = check_parity(bundled_server, model_dir, src, tmp_path)
    print(f"\nOnline Retail: {n} customers; bulk=JSON {json_equal:.1f}%, bulk=upload {upload_equal:.1f}%")
    assert n == 4338
