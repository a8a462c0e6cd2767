"""/metrics, the model version header and JSON access logs (mostly on a real uvicorn process)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from shopper_segments.app.config import Settings
from shopper_segments.app.main import create_app
from tests.app.payloads import customers, read_online_retail
from tests.conftest import SAMPLE, Server

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(server: Server) -> Samples:
    r = httpx.get(f"{server.url}/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def log_entries(server: Server) -> list[dict]:
    time.sleep(0.2)  # the server writes its log line after the response is sent
    entries = []
    for line in server.log.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    return entries


def test_metrics_count_requests_assignments_and_out_of_range(
    sample_server: Server, sample_model: tuple[Path, dict]
) -> None:
    _, meta = sample_model
    history = next(iter(customers(read_online_retail(SAMPLE)).values()))
    features = dict(meta["segments"][0]["centroid"])
    extreme = dict(features, monetary=meta["feature_ranges"]["monetary"]["max"] * 10)
    body = {
        "as_of": meta["data"]["as_of"],
        "customers": [
            history,
            {"customer_id": "f1", "features": features},
            {"customer_id": "f2", "features": extreme},
        ],
    }
    before = scrape(sample_server)
    ok = httpx.post(f"{sample_server.url}/v1/assign", json=body)
    assert ok.status_code == 200, ok.text
    assert httpx.post(f"{sample_server.url}/v1/assign", json={"customers": []}).status_code == 422
    assert httpx.get(f"{sample_server.url}/no/such/page").status_code == 404
    after = scrape(sample_server)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = {"method": "POST", "route": "/v1/assign"}
    assert delta("segments_http_requests_total", **route, status="200") == 1
    assert delta("segments_http_requests_total", **route, status="422") == 1
    assert delta("segments_http_request_duration_seconds_count", **route, status="200") == 1
    assert delta("segments_http_request_duration_seconds_sum", **route, status="200") > 0
    assert delta("segments_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assigned = {r["segment_id"]: r["segment_name"] for r in ok.json()["results"]}
    total = sum(
        delta("segments_assignments_total", segment_id=str(sid), segment_name=name)
        for sid, name in {s["id"]: s["name"] for s in meta["segments"]}.items()
    )
    assert total == 3
    for sid, name in assigned.items():
        assert delta("segments_assignments_total", segment_id=str(sid), segment_name=name) >= 1
    assert delta("segments_customers_per_request_count") == 1
    assert delta("segments_customers_per_request_sum") == 3
    assert delta("segments_inputs_out_of_range_total", feature="monetary", side="above_max") == 1
    info = [(dict(labels), v) for (name, labels), v in after.items() if name == "segments_model_info"]
    assert info == [({**info[0][0], "version": meta["version"], "k": str(len(meta["segments"]))}, 1.0)]
    assert value(after, "segments_drift_window_customers") >= 3


def test_request_id_is_echoed_and_logged_without_bodies_or_keys(
    sample_server: Server, sample_model: tuple[Path, dict]
) -> None:
    _, meta = sample_model
    features = dict(meta["segments"][0]["centroid"])
    body = {"customers": [{"customer_id": "private-customer-7731", "features": features}]}
    headers = {
        "X-Request-ID": "req-42.abc",
        "X-API-Key": "secret-key-0f9e",
        "Authorization": "Bearer tok-55aa",
    }
    r = httpx.post(f"{sample_server.url}/v1/assign?explain=true", json=body, headers=headers)
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "req-42.abc"
    generated = httpx.get(f"{sample_server.url}/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    # An id that could break log lines or headers is replaced, not echoed.
    replaced = httpx.get(f"{sample_server.url}/healthz", headers={"X-Request-ID": "a b\tc"}).headers[
        "x-request-id"
    ]
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)

    entries = log_entries(sample_server)
    mine = [e for e in entries if e.get("request_id") == "req-42.abc"]
    assert len(mine) == 1
    entry = mine[0]
    assert entry["logger"] == "segments.access" and entry["level"] == "info"
    assert (entry["method"], entry["path"], entry["route"], entry["status"]) == (
        "POST",
        "/v1/assign",
        "/v1/assign",
        200,
    )
    assert entry["duration_ms"] > 0
    assert entry["model_version"] == meta["version"]
    assert any(e.get("request_id") == generated and e["path"] == "/healthz" for e in entries)
    text = sample_server.log.read_text(encoding="utf-8")
    for secret in ("private-customer-7731", "secret-key-0f9e", "tok-55aa", "explain=true"):
        assert secret not in text


def test_answers_name_their_model_version_in_a_header(
    sample_server: Server, sample_model: tuple[Path, dict]
) -> None:
    _, meta = sample_model
    body = {"customers": [{"customer_id": "h1", "features": dict(meta["segments"][0]["centroid"])}]}
    r = httpx.post(f"{sample_server.url}/v1/assign", json=body)
    assert r.status_code == 200
    assert r.headers["x-model-version"] == r.json()["model_version"] == meta["version"]
    csv = "customer_id,order_id,timestamp,amount\nc1,o1,2011-11-01T10:00:00Z,12.5\n"
    for accept in ("application/json", "text/csv"):
        r = httpx.post(
            f"{sample_server.url}/v1/assign",
            content=csv,
            params={"as_of": meta["data"]["as_of"]},
            headers={"content-type": "text/csv", "accept": accept},
        )
        assert r.status_code == 200, r.text
        assert r.headers["x-model-version"] == meta["version"]


def test_recording_uses_label_children_bound_once_per_model_load(
    sample_model: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a model loads and a route is first seen, requests record without ``.labels()``."""
    path, meta = sample_model
    settings = Settings(model_root=path.parent.parent, model_dir=path, watch_interval_s=0)
    features = dict(meta["segments"][0]["centroid"])
    body = {"customers": [{"customer_id": "b1", "features": dict(features, monetary=1e12)}]}
    with TestClient(create_app(settings)) as client:
        metrics = client.app.state.metrics  # type: ignore[attr-defined]
        assert client.post("/v1/assign", json=body).status_code == 200  # the route's first request
        calls: list[str] = []
        for name in ("requests", "latency", "assignments", "out_of_range"):
            labels = getattr(metrics, name).labels
            monkeypatch.setattr(
                getattr(metrics, name), "labels", lambda *a, _n=name, _l=labels: calls.append(_n) or _l(*a)
            )
        for _ in range(3):
            assert client.post("/v1/assign", json=body).status_code == 200
        assert calls == []
        text = client.get("/metrics").text
        assert 'segments_inputs_out_of_range_total{feature="monetary",side="above_max"} 4.0' in text
        assert f'segments_worker_model_loaded{{version="{meta["version"]}"}} 1.0' in text
