"""Real files posted as they stand: bulk CLI, CSV upload and JSON give training's answers.

A real uvicorn process; every customer of the file with a customer id (no other row
left out) is posted, line for line; zero prices, returns and duplicates included.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from shopper_segments.core.results import format_dropped, result_columns
from shopper_segments.core.rfm import RFM_COLUMNS
from shopper_segments.training.bulk import score_file
from shopper_segments.training.dataset import DatasetSpec
from tests.app.payloads import ONLINE_RETAIL, batches, customers, read_rows
from tests.conftest import ONLINE_RETAIL_SPEC, ROOT, SAMPLE, Server, shared_file, start_server, stop_server

BUNDLED = ROOT / "models" / "online-retail"


def json_answers(server: Server, rows: pd.DataFrame, as_of: str) -> pd.DataFrame:
    """Every customer posted as JSON in batches of 400; the answers as result columns."""
    payloads = list(customers(rows).values())
    out = []
    with httpx.Client(base_url=server.url, timeout=300) as client:
        for batch in batches(payloads, 400):
            r = client.post("/v1/assign", json={"as_of": as_of, "customers": batch})
            assert r.status_code == 200, r.text[:500]
            for res in r.json()["results"]:
                nxt = res["next_segment"] or {}
                out.append(
                    {
                        "customer_id": res["customer_id"],
                        "status": res["status"],
                        "segment_id": res["segment_id"],
                        "segment_name": res["segment_name"],
                        "distance": res["distance"],
                        "next_segment_id": nxt.get("segment_id"),
                        "next_segment_name": nxt.get("segment_name"),
                        "next_distance": nxt.get("distance"),
                        **(res["features"] or {}),
                        **{c: res[c] for c in RFM_COLUMNS},
                        "lines_dropped": format_dropped(res["lines_dropped"]),
                        "errors": "; ".join(e["message"] for e in res["errors"]),
                    }
                )
    return pd.DataFrame(out)


def upload_answers(server: Server, rows: pd.DataFrame, as_of: str, per_request: int = 1000) -> pd.DataFrame:
    """The file's rows as CSV uploads (whole customers per request), answered as CSV."""
    ids = rows["customer_id"].unique()
    parts = []
    with httpx.Client(base_url=server.url, timeout=300) as client:
        for start in range(0, len(ids), per_request):
            part = rows[rows["customer_id"].isin(ids[start : start + per_request])]
            r = client.post(
                f"/v1/assign?as_of={as_of}",
                content=part.to_csv(index=False).encode(),
                headers={"content-type": "text/csv", "accept": "text/csv"},
            )
            assert r.status_code == 200, r.text[:500]
            parts.append(pd.read_csv(io.StringIO(r.text), dtype={"customer_id": str}, keep_default_na=False))
    return pd.concat(parts)


def assert_same(bulk: pd.DataFrame, other: pd.DataFrame, names: list[str], what: str) -> None:
    """Every customer: status, segment, next segment, distances, features and drop counts equal."""
    cols = result_columns(names)
    a = bulk.set_index("customer_id").sort_index()
    b = other.set_index("customer_id").sort_index()
    assert list(a.index) == list(b.index), what
    for col in cols[1:]:
        x, y = a[col], b[col]
        if col in ("status", "segment_name", "next_segment_name", "rfm_segment", "lines_dropped", "errors"):
            assert (x.fillna("").astype(str) == y.fillna("").astype(str)).all(), (what, col)
        else:
            xf, yf = pd.to_numeric(x, errors="coerce").astype(float), pd.to_numeric(y, errors="coerce")
            # ids exact; floats to the last bits (sums over a customer's lines in another order)
            tol = 0 if col.endswith("segment_id") else 1e-12
            np.testing.assert_allclose(
                xf.to_numpy(), yf.astype(float).to_numpy(), rtol=tol, atol=0, err_msg=f"{what} {col}"
            )


def check_parity(
    server: Server,
    model_dir: Path,
    src: Path,
    tmp_path: Path,
    dataset: Path = ONLINE_RETAIL_SPEC,
    rows: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Bulk output of ``src``, after checking that JSON and upload answers of ``rows`` equal it.

    ``rows``: the file's rows as a client posts them (default: Online Retail's columns).
    """
    meta = json.loads((model_dir / "metadata.json").read_text())
    as_of = meta["data"]["as_of"].replace("+00:00", "Z")
    score_file(model_dir, src, tmp_path / "bulk.csv", DatasetSpec.from_toml(dataset))
    bulk = pd.read_csv(tmp_path / "bulk.csv", dtype={"customer_id": str}, keep_default_na=False)
    rows = read_rows(src, ONLINE_RETAIL) if rows is None else rows
    names = meta["features"]["names"]
    assert_same(bulk, json_answers(server, rows, as_of), names, "json")
    assert_same(bulk, upload_answers(server, rows, as_of), names, "upload")
    training = pd.read_parquet(model_dir / "assignments.parquet").set_index("customer_id")
    assigned = bulk[bulk["status"] == "assigned"].set_index("customer_id")
    assert sorted(assigned.index) == sorted(training.index)
    assert (assigned.loc[training.index, "segment_id"].astype(int) == training["segment_id"]).all()
    for col in RFM_COLUMNS:  # the RFM scores and grid name of training's own assignments
        assert (assigned.loc[training.index, col].astype(str) == training[col].astype(str)).all(), col
    return bulk


def test_sample_posted_as_it_stands_gets_training_answers(
    sample_server: Server, sample_model: tuple[Path, dict], tmp_path: Path
) -> None:
    path, meta = sample_model
    bulk = check_parity(sample_server, path, SAMPLE, tmp_path)
    assert (bulk["status"] == "assigned").sum() == meta["data"]["customers"]
    assert (bulk["status"] == "no_purchases").sum() == meta["data"]["customers_dropped"]["no_purchases"]
    assert (bulk["status"] == "invalid").sum() == 0


@pytest.fixture(scope="module")
def bundled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The bundled model served, for the full Online Retail file (skipped before starting without it)."""
    shared_file("online_retail/online_retail_2010-2011.csv.gz")
    server = start_server(ROOT / "models", BUNDLED, tmp_path_factory.mktemp("logs") / "uvicorn.log")
    yield server
    stop_server(server)


@pytest.mark.slow
def test_online_retail_posted_as_it_stands_gets_training_answers(
    bundled_server: Server, tmp_path: Path
) -> None:
    src = shared_file("online_retail/online_retail_2010-2011.csv.gz")
    model_dir = BUNDLED / (BUNDLED / "LATEST").read_text().strip()
    bulk = check_parity(bundled_server, model_dir, src, tmp_path)
    counts = bulk["status"].value_counts().to_dict()
    zero_price = bulk["lines_dropped"].str.contains("zero_price").sum()
    print(f"\nOnline Retail posted as it stands: {counts}; customers with a zero-price line: {zero_price}")
    assert counts.get("assigned") == 4338 and counts.get("invalid", 0) == 0
    assert zero_price > 0  # the free-item lines that were refused before are in the posts


JOURNEY = {
    "household_id": "customer_id",
    "basket_id": "order_id",
    "transaction_timestamp": "timestamp",
    "sales_value": "amount",
    "product_id": "product_id",
}


def test_complete_journey_with_categories_posted_as_it_stands(
    journey_model: tuple[Path, dict], tmp_path: Path
) -> None:
    """The grocery sample: every household's lines as they stand, with the category a shop's
    catalogue gives each product (the department of products.csv.gz), as training looks it up."""
    src = shared_file("complete_journey/transactions_sample.csv.gz")
    products = shared_file("complete_journey/products.csv.gz")
    spec = ROOT / "training" / "datasets" / "complete_journey.toml"
    model_dir, meta = journey_model
    assert len(meta["features"]["categories"]) == DatasetSpec.from_toml(spec).top_categories == 4
    rows = read_rows(src, JOURNEY)
    catalogue = pd.read_csv(products, dtype=str, usecols=["product_id", "department"])
    rows["category"] = rows["product_id"].map(
        catalogue.drop_duplicates("product_id").set_index("product_id")["department"]
    )
    server = start_server(model_dir.parent.parent, model_dir, tmp_path / "uvicorn.log")
    try:
        bulk = check_parity(server, model_dir, src, tmp_path, spec, rows)
    finally:
        stop_server(server)
    counts = bulk["status"].value_counts().to_dict()
    dropped = bulk["lines_dropped"].str.contains("zero_amount").sum()
    print(f"\nComplete Journey posted as it stands: {counts}; households with a zero-amount line: {dropped}")
    assert counts.get("assigned") == meta["data"]["customers"] and counts.get("invalid", 0) == 0
    assert counts.get("no_purchases", 0) == meta["data"]["customers_dropped"]["no_purchases"] > 0
