"""bench/serving.py and its floors: the floors take the request's shape, the table's ratios are right."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from shopper_segments.app.schemas import AssignRequest, Customer, Transaction

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path[:0] = [str(BENCH), str(BENCH / "floors")]

import fastapi_async  # noqa: E402
import fastapi_sync  # noqa: E402
import loadtest  # noqa: E402
import serving  # noqa: E402
import shape  # noqa: E402
import starlette_fixed  # noqa: E402


@pytest.mark.parametrize(
    ("floor", "ours"),
    [(shape.AssignRequest, AssignRequest), (shape.Customer, Customer), (shape.Transaction, Transaction)],
)
def test_the_floor_shape_has_the_request_fields(floor: type[BaseModel], ours: type[BaseModel]) -> None:
    assert list(floor.model_fields) == list(ours.model_fields)
    assert {n: f.is_required() for n, f in floor.model_fields.items()} == {
        n: f.is_required() for n, f in ours.model_fields.items()
    }
    assert floor.model_config.get("extra") == ours.model_config.get("extra") == "forbid"


@pytest.mark.parametrize("module", [fastapi_async, fastapi_sync])
def test_validate_only_floors_validate_the_bench_body(module: Any) -> None:
    body = loadtest.history_body(3)
    with TestClient(module.app) as client:
        ok = client.post("/v1/assign", content=body, headers={"content-type": "application/json"})
        assert ok.status_code == 200 and ok.json() == {"ok": True, "customers": 3}
        assert client.post("/v1/assign", json={"customers": []}).status_code == 422
        data = orjson.loads(body)
        data["customers"][0]["transactions"][0]["timestamp"] = "not a time"
        assert client.post("/v1/assign", json=data).status_code == 422
        data = orjson.loads(body)
        data["customers"][0]["unknown"] = 1
        assert client.post("/v1/assign", json=data).status_code == 422


def test_starlette_floor_answers_a_fixed_body() -> None:
    with TestClient(starlette_fixed.app) as client:
        r = client.post("/v1/assign", content=b"anything")
        assert r.status_code == 200 and r.content == starlette_fixed.FIXED


def test_commands_start_the_floors_plainly_and_ours_as_make_serve_with_explicit_workers() -> None:
    floor = serving.command("fastapi_async", 8001)
    assert floor[1:4] == ["-m", "uvicorn", "--app-dir"] and "fastapi_async:app" in floor
    assert "--no-access-log" in floor
    ours = serving.command("ours_2w", 8002)
    assert ours[1:3] == ["-m", "shopper_segments.app.serve"]
    assert ours[ours.index("--workers") + 1] == "2"
    assert serving.command("ours_1w", 8003)[-2:] == ["--workers", "1"]


def _row(server: str, case: str, c: int, rps: float, p99: float, n: int = 1) -> dict[str, Any]:
    return {
        "case": case,
        "customers": n,
        "concurrency": c,
        "server": server,
        "what": server,
        "rps": rps,
        "customers_per_s": rps * n,
        "p50_ms": p99 / 2,
        "p99_ms": p99,
        "errors": 0,
        "load_1min": [0.5],
    }


def test_ratios_and_targets_compare_within_a_case() -> None:
    rows = [
        _row("starlette", "one", 16, 8000, 2.0),
        _row("fastapi_async", "one", 16, 2000, 8.0),
        _row("fastapi_sync", "one", 16, 1000, 30.0),
        _row("ours_1w", "one", 16, 2500, 6.0),
        _row("ours_2w", "one", 16, 4000, 5.0),
        _row("fastapi_sync", "batch", 16, 5, 2000.0, 1000),
        _row("fastapi_async", "batch", 16, 10, 1500.0, 1000),
        _row("ours_1w", "batch", 16, 12, 1400.0, 1000),
    ]
    results = {"ratios": serving.ratios(rows), "rows": rows}
    got = {(r["case"], r["ours"], r["floor"]): r for r in results["ratios"]}
    assert got[("one", "ours_1w", "fastapi_async")]["rps_ratio"] == pytest.approx(1.25)
    assert got[("one", "ours_1w", "fastapi_async")]["p99_ratio"] == pytest.approx(0.75)
    assert got[("one", "ours_2w", "ours_1w")]["rps_ratio"] == pytest.approx(1.6)
    assert got[("batch", "ours_1w", "fastapi_sync")]["rps_ratio"] == pytest.approx(2.4)
    assert ("batch", "ours_1w", "starlette") not in got  # no such floor in that case
    verdict = {t: ok for t, _, ok in serving.targets(results)}
    assert verdict["one customer c=16, 1 worker: >= 1.0x FastAPI async rps, p99 <= its p99"] is True
    assert verdict["stretch: one customer c=16: >= 0.5x Starlette fixed answer"] is False  # 0.31x
    assert verdict["batch of 1,000: >= 2x sync floor and >= 1.5x async floor (customers/s)"] is False  # 1.2x
    assert verdict["2 workers vs 1, one customer c=16: >= 1.7x"] is False


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_a_short_run_against_a_real_floor_process(tmp_path: Path) -> None:
    rows = serving.run(1, 1, ["starlette"], cases=[("one", 1, 4)], warmup=0, out=tmp_path)
    (row,) = rows
    assert row["server"] == "starlette" and row["errors"] == 0
    assert row["rps"] > 100 and 0 < row["p50_ms"] <= row["p99_ms"]
    assert (tmp_path / "body_1.json").exists() and (tmp_path / "starlette.log").exists()
