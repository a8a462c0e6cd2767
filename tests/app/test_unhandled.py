"""An unexpected exception: 500 problem+json with the request id, and one JSON log line without input.

In-process (TestClient) and on a real process (``python -m app.serve`` with this module's
factory, :func:`raising_app`, which adds test-only routes that raise), whose every log line,
uvicorn's own included, is JSON.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from shopper_segments.app.config import Settings
from shopper_segments.app.logs import JsonFormatter
from shopper_segments.app.main import create_app
from tests.conftest import ROOT, free_port

SECRET = "SECRET-BODY-TEXT-7f3a"


async def _raise_async() -> None:
    raise RuntimeError("boom on the event loop")


def _raise_in_thread() -> None:  # a plain def: FastAPI runs it in the threadpool
    raise ValueError("boom in a worker thread")


async def _raise_with_input(request: Request) -> None:
    text = (await request.body()).decode()
    TypeAdapter(int).validate_python(text)  # its message would quote the body


def add_raising_routes(app: FastAPI) -> FastAPI:
    app.add_api_route("/test/raise", _raise_async, methods=["GET"])
    app.add_api_route("/test/raise-thread", _raise_in_thread, methods=["GET"])
    app.add_api_route("/test/raise-input", _raise_with_input, methods=["POST"])
    return app


def raising_app() -> FastAPI:
    """The service plus the raising routes (the real process' factory)."""
    return add_raising_routes(create_app())


@pytest.fixture
def client_and_log() -> Iterator[tuple[TestClient, io.StringIO]]:
    app = add_raising_routes(create_app(Settings()))
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("segments")
    logger.addHandler(handler)
    try:
        yield TestClient(app, raise_server_exceptions=False), out
    finally:
        logger.removeHandler(handler)


def error_lines(text: str) -> list[dict]:
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [line for line in lines if "exc_type" in line]


@pytest.mark.parametrize(
    ("method", "path", "exc_type", "message"),
    [
        ("GET", "/test/raise", "RuntimeError", "boom on the event loop"),
        ("GET", "/test/raise-thread", "ValueError", "boom in a worker thread"),
        ("POST", "/test/raise-input", "pydantic_core._pydantic_core.ValidationError", "validation error"),
    ],
)
def test_unhandled_exception_is_a_problem_500_logged_once(
    client_and_log: tuple[TestClient, io.StringIO], method: str, path: str, exc_type: str, message: str
) -> None:
    client, log = client_and_log
    response = client.request(method, path, content=SECRET, headers={"X-Request-ID": "rid-500"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "rid-500"
    problem = response.json()
    assert problem["status"] == 500 and problem["detail"] == "internal error"
    assert problem["request_id"] == "rid-500"
    [line] = error_lines(log.getvalue())
    assert line["level"] == "error" and line["logger"] == "segments"
    assert line["exc_type"] == exc_type and message in line["exc_message"]
    assert line["request_id"] == "rid-500" and line["path"] == path
    assert line["stack"].startswith("Traceback (most recent call last)")
    assert "test_unhandled.py" in line["stack"] and line["stack"].endswith(f"{line['exc_message']}\n")
    assert SECRET not in log.getvalue()


def test_request_id_is_generated_when_the_client_sends_none(
    client_and_log: tuple[TestClient, io.StringIO],
) -> None:
    client, log = client_and_log
    response = client.get("/test/raise")
    rid = response.json()["request_id"]
    assert len(rid) == 32 and response.headers["x-request-id"] == rid
    assert error_lines(log.getvalue())[0]["request_id"] == rid


def test_real_process_answers_500_problem_and_logs_only_json(
    sample_model: tuple[Path, dict], tmp_path: Path
) -> None:
    path, _ = sample_model
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "SEGMENTS_MODEL_ROOT": str(path.parent.parent), "SEGMENTS_MODEL_DIR": str(path)}
    argv = [sys.executable, "-m", "shopper_segments.app.serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [*argv, "--app", f"{__name__}:raising_app"],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            answers = [
                httpx.get(f"{url}/test/raise", headers={"X-Request-ID": "real-1"}),
                httpx.get(f"{url}/test/raise-thread", headers={"X-Request-ID": "real-2"}),
                httpx.post(f"{url}/test/raise-input", content=SECRET, headers={"X-Request-ID": "real-3"}),
            ]
            for n, response in enumerate(answers, 1):
                assert response.status_code == 500
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["request_id"] == f"real-{n}"
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is JSON
    assert {line["logger"] for line in lines} >= {"uvicorn.error", "segments", "segments.access"}
    assert [line["request_id"] for line in error_lines(text)] == ["real-1", "real-2", "real-3"]
    assert "Exception in ASGI application" not in text  # logged once, by the service
    assert SECRET not in text
