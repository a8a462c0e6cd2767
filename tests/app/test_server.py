"""The service as a real uvicorn process: errors, unknown paths and the docs.

Parity with training through uvicorn: tests/app/test_bulk_parity.py.
"""

from __future__ import annotations

import httpx

from tests.conftest import Server


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
