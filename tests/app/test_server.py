"""The service as a real uvicorn process: parity with training, on real data."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pandas as pd

from tests.app.payloads import batches, customers, read_online_retail
from tests.conftest import ROOT, SAMPLE, Server

BUNDLED = ROOT / "models" / "online-retail"


def parity(server: Server, model_dir: Path, raw: pd.DataFrame) -> tuple[int, int, list[str]]:
    """Post every training customer's history; count answers equal to the saved segment."""
    meta = json.loads((model_dir / "metadata.json").read_text())
    expected = pd.read_parquet(model_dir / "assignments.parquet").set_index("customer_id")["segment_id"]
    payloads = customers(raw)
    equal, mismatched = 0, []
    with httpx.Client(base_url=server.url, timeout=120) as client:
        for batch in batches([payloads[c] for c in expected.index], 400):
            r = client.post("/v1/assign", json={"as_of": meta["data"]["as_of"], "customers": batch})
            assert r.status_code == 200, r.text[:500]
            body = r.json()
            assert body["model_version"] == meta["version"]
            for res in body["results"]:
                if res["segment_id"] == expected[res["customer_id"]]:
                    equal += 1
                else:
                    mismatched.append(res["customer_id"])
    return equal, len(expected), mismatched


def test_sample_parity_through_uvicorn(sample_server: Server, sample_model: tuple[Path, dict]) -> None:
    path, _ = sample_model
    equal, total, mismatched = parity(sample_server, path, read_online_retail(SAMPLE))
    assert total > 100
    assert equal == total, mismatched


def test_uvicorn_errors_are_problem_json(sample_server: Server) -> None:
    body = {"customers": [{"customer_id": "a"}]}
    r = httpx.post(f"{sample_server.url}/v1/assign?strict=true", json=body)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "customers[0]"
    slot = httpx.post(f"{sample_server.url}/v1/assign", json=body).json()["results"][0]
    assert slot["status"] == "invalid" and slot["errors"][0]["field"] == "customers[0]"
    assert httpx.get(f"{sample_server.url}/nope").json()["status"] == 404
    assert httpx.get(f"{sample_server.url}/docs").status_code == 200
    assert "/v1/assign" in httpx.get(f"{sample_server.url}/openapi.json").json()["paths"]
