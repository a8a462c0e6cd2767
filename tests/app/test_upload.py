"""POST /v1/assign with CSV or Parquet bodies: errors name the line; JSON stays JSON."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from shopper_segments.app.config import Settings
from shopper_segments.app.main import create_app
from shopper_segments.training.io import normalize_ids
from tests.conftest import SAMPLE

CSV = {"content-type": "text/csv"}


def canonical(raw: pd.DataFrame) -> pd.DataFrame:
    """Online Retail rows under the canonical upload column names."""
    return pd.DataFrame(
        {
            "customer_id": normalize_ids(raw["CustomerID"]),
            "order_id": raw["InvoiceNo"],
            "timestamp": raw["InvoiceDate"],
            "quantity": raw["Quantity"],
            "unit_price": raw["UnitPrice"],
            "product_id": raw["StockCode"],
        }
    )


@pytest.fixture(scope="module")
def client(sample_model: tuple[Path, dict]) -> Iterator[TestClient]:
    path, _ = sample_model
    settings = Settings(model_root=path.parent.parent, model_dir=path.parent, max_body_bytes=64 * 1024)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def lines() -> pd.DataFrame:
    """The first 40 lines of a few sample customers with purchases, as text."""
    raw = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    raw = raw[(raw["CustomerID"] != "") & (raw["Quantity"].astype(float) > 0)]
    return canonical(raw).head(40).reset_index(drop=True)


def post_csv(client: TestClient, frame: pd.DataFrame, query: str = "?as_of=2011-12-10T00:00:00Z") -> dict:
    r = client.post(f"/v1/assign{query}", content=frame.to_csv(index=False), headers=CSV)
    return {"status": r.status_code, **r.json()}


def test_csv_and_parquet_uploads_answer_like_json(client: TestClient, lines: pd.DataFrame) -> None:
    via_csv = post_csv(client, lines)
    assert via_csv["status"] == 200
    typed = lines.assign(
        timestamp=pd.to_datetime(lines["timestamp"]),
        quantity=lines["quantity"].astype(float),
        unit_price=lines["unit_price"].astype(float),
    )
    buf = io.BytesIO()
    typed.to_parquet(buf)
    r = client.post(
        "/v1/assign?as_of=2011-12-10T00:00:00Z",
        content=buf.getvalue(),
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert r.status_code == 200 and r.json() == {k: v for k, v in via_csv.items() if k != "status"}
    body = {
        "as_of": "2011-12-10T00:00:00Z",
        "customers": [
            {
                "customer_id": cid,
                "transactions": [
                    {
                        "order_id": o,
                        "timestamp": t,
                        "quantity": float(q),
                        "unit_price": float(p),
                        "product_id": s,
                    }
                    for o, t, q, p, s in rows[
                        ["order_id", "timestamp", "quantity", "unit_price", "product_id"]
                    ].itertuples(index=False)
                ],
            }
            for cid, rows in lines.groupby("customer_id", sort=False)
        ],
    }
    as_json = client.post("/v1/assign", json=body).json()
    assert as_json == {k: v for k, v in via_csv.items() if k != "status"}


def test_csv_answer_when_accepted(client: TestClient, lines: pd.DataFrame) -> None:
    r = client.post(
        "/v1/assign?as_of=2011-12-10T00:00:00Z&explain=true",
        content=lines.to_csv(index=False),
        headers={**CSV, "accept": "text/csv"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    answer = pd.read_csv(io.StringIO(r.text), dtype={"customer_id": str})
    json_answer = post_csv(client, lines)["results"]
    assert answer["customer_id"].tolist() == [c["customer_id"] for c in json_answer]
    assert answer["segment_id"].tolist() == [c["segment_id"] for c in json_answer]
    assert answer["distance"].tolist() == [c["distance"] for c in json_answer]
    assert answer["monetary"].tolist() == [c["features"]["monetary"] for c in json_answer]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"row": 3, "column": "quantity", "value": "lots"}, "line 5: quantity", "not a number"),
        ({"row": 2, "column": "timestamp", "value": "yesterday"}, "line 4: timestamp", "ISO 8601"),
        ({"row": 2, "column": "timestamp", "value": "1323475200"}, "line 4: timestamp", "epoch"),
        (
            {"row": 1, "column": "timestamp", "value": "2012-03-01 10:00:00"},
            "line 3: timestamp",
            "after as_of",
        ),
    ],
)
def test_bad_lines_are_named(
    client: TestClient, lines: pd.DataFrame, change: dict, field: str, message: str
) -> None:
    bad = lines.copy()
    bad.loc[change["row"], change["column"]] = change["value"]
    answer = post_csv(client, bad, "?as_of=2011-12-10T00:00:00Z&strict=true")
    assert answer["status"] == 422
    assert answer["errors"][0]["field"] == field, answer
    assert message in answer["errors"][0]["message"]
    # without strict, the customer of that line is answered invalid, with the same line named
    answered = post_csv(client, bad)
    assert answered["status"] == 200
    slots = [r for r in answered["results"] if r["status"] == "invalid"]
    assert len(slots) == 1 and slots[0]["errors"][0]["field"] == field
    assert answered["summary"]["assigned"] == len(answered["results"]) - 1


def test_rows_without_a_customer_id_and_zero_lines_are_dropped_and_counted(
    client: TestClient, lines: pd.DataFrame
) -> None:
    bad = lines.copy()
    bad.loc[4, "customer_id"] = ""
    bad.loc[6, "quantity"] = "0"
    answer = post_csv(client, bad)
    assert answer["status"] == 200
    assert answer["summary"]["lines_dropped"] == {"missing_customer_id": 1, "zero_quantity": 1}
    assert sum(r["lines_dropped"].get("zero_quantity", 0) for r in answer["results"]) == 1


def test_header_and_body_errors(client: TestClient, lines: pd.DataFrame) -> None:
    typo = post_csv(client, lines.rename(columns={"quantity": "qty"}))
    assert (
        typo["status"] == 422
        and typo["errors"][0]["field"] == "header"
        and "'qty'" in typo["errors"][0]["message"]
    )
    no_id = post_csv(client, lines.drop(columns="customer_id"))
    assert no_id["errors"][0] == {"field": "header", "message": "column 'customer_id' is required"}
    returns = lines.head(3).assign(customer_id="R1", quantity="-2")
    only_returns = post_csv(client, returns, "?as_of=2011-12-10T00:00:00Z&strict=true")
    assert only_returns["errors"][0]["field"] == "lines 2, 3, 4"
    assert "no purchase line" in only_returns["errors"][0]["message"]
    assert post_csv(client, returns)["results"][0]["status"] == "no_purchases"
    for header in (b"customer_id,timestamp\n", b"customer_id,timestamp", b"customer_id,timestamp\r\n"):
        empty = client.post("/v1/assign", content=header, headers=CSV).json()
        assert empty["errors"] == [{"field": "body", "message": "has no data rows"}], header
    parquet = client.post(
        "/v1/assign", content=b"not parquet", headers={"content-type": "application/x-parquet"}
    )
    assert parquet.status_code == 422 and parquet.json()["errors"][0]["field"] == "body"
    big = pd.concat([lines] * 60)
    too_big = client.post("/v1/assign", content=big.to_csv(index=False), headers=CSV)
    assert too_big.status_code == 413


def test_json_requests_still_reach_the_json_route(client: TestClient, lines: pd.DataFrame) -> None:
    r = client.post(
        "/v1/assign", content=lines.to_csv(index=False), headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
    # one operation documents the three bodies (the upload route itself stays out of the schema)
    body = client.get("/openapi.json").json()["paths"]["/v1/assign"]["post"]["requestBody"]
    assert set(body["content"]) == {"application/json", "text/csv", "application/vnd.apache.parquet"}
