"""JSON POST /v1/assign answered at the ASGI level: the same answers as the route, the same guards."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from shopper_segments.app import hotpath
from shopper_segments.app.config import Settings
from shopper_segments.app.main import create_app

LINE = {"order_id": "1", "timestamp": "2011-06-01T10:00:00Z", "amount": 5.0}
GOOD = {"as_of": "2011-12-10T00:00:00Z", "customers": [{"customer_id": "a", "transactions": [LINE]}]}
BODIES: dict[str, tuple[str, bytes]] = {
    "one customer": ("", orjson.dumps(GOOD)),
    "explained": ("?explain=true", orjson.dumps(GOOD)),
    "an invalid customer beside a good one": (
        "",
        orjson.dumps({**GOOD, "customers": [*GOOD["customers"], {"customer_id": "b", "transactions": [{}]}]}),
    ),
    "strict refusal": ("?strict=1", orjson.dumps({**GOOD, "customers": [{"customer_id": "b"}]})),
    "a bad query flag": ("?explain=maybe", orjson.dumps(GOOD)),
    "malformed JSON": ("", b'{"customers": [}'),
    "empty body": ("", b""),
    "features": ("", b'{"as_of": "2011-12-10", "customers": [{"customer_id": "f", "features": {"x": 1}}]}'),
}


def settings_for(sample_model: tuple[Path, dict], **kw: Any) -> Settings:
    path, _ = sample_model
    return Settings(model_root=path.parent.parent, model_dir=path, **kw)


def post_all(settings: Settings, hot: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, httpx.Response]:
    """Every body of BODIES posted to an app, through the hot path or (``hot=False``) the route."""
    taken: list[str] = []
    real = hotpath.answer

    async def spy(*args: Any) -> None:
        taken.append("hot")
        await real(*args)

    monkeypatch.setattr(hotpath, "answer", spy)
    if not hot:
        monkeypatch.setattr(hotpath, "plain_json_length", lambda scope, settings: None)
    app = create_app(settings)

    async def run() -> dict[str, httpx.Response]:
        out = {}
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                for name, (query, body) in BODIES.items():
                    headers = {"content-type": "application/json"}
                    out[name] = await client.post(f"/v1/assign{query}", content=body, headers=headers)
        return out

    answers = asyncio.run(run())
    assert len(taken) == (len(BODIES) if hot else 0)
    monkeypatch.undo()
    return answers


def test_the_hot_path_answers_as_the_route(
    sample_model: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(sample_model)
    hot, routed = post_all(settings, True, monkeypatch), post_all(settings, False, monkeypatch)
    statuses = {name: r.status_code for name, r in hot.items()}
    assert statuses == {name: r.status_code for name, r in routed.items()}
    assert statuses["one customer"] == 200 and statuses["malformed JSON"] == 422
    assert statuses["strict refusal"] == 422 and statuses["a bad query flag"] == 422
    for name in BODIES:
        a, b = hot[name], routed[name]
        assert a.headers["content-type"] == b.headers["content-type"], name
        assert a.headers.get("x-model-version") == b.headers.get("x-model-version"), name
        assert len(a.headers["x-request-id"]) == 32 and a.headers.get_list("x-request-id") == [
            a.headers["x-request-id"]
        ]
        assert a.json() == b.json(), name  # answers, or problem details naming the same fields
    assert "explanation" in hot["explained"].json()["results"][0]


def scope_with(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/v1/assign", "headers": headers}


@pytest.mark.parametrize(
    ("headers", "keys", "taken"),
    [
        ([(b"content-type", b"application/json"), (b"content-length", b"10")], [], 10),
        (
            [(b"content-type", b"application/merge-patch+json; charset=utf-8"), (b"content-length", b"5")],
            [],
            5,
        ),
        ([(b"content-type", b"text/csv"), (b"content-length", b"10")], [], None),  # the upload route
        ([(b"content-length", b"10")], [], None),  # no content type: the route's 415
        ([(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")], [], None),
        ([(b"content-type", b"application/json"), (b"content-length", b"2000000")], [], None),  # 413
        ([(b"content-type", b"application/json"), (b"content-length", b"-1")], [], None),
        ([(b"content-type", b"application/json"), (b"content-length", b"10")], ["k" * 20], None),
    ],
)
def test_only_requests_needing_no_other_rule_take_the_hot_path(
    sample_model: tuple[Path, dict], headers: list[tuple[bytes, bytes]], keys: list[str], taken: int | None
) -> None:
    settings = settings_for(sample_model, max_body_bytes=1_000_000, api_keys=keys)
    assert hotpath.plain_json_length(scope_with(headers), settings) == taken


def call(settings: Settings, messages: list[dict[str, Any]], length: int) -> tuple[int, dict[str, Any], dict]:
    """The hot path's answer to a request whose body arrives as ``messages`` (then nothing)."""
    app = create_app(settings)
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        async with app.router.lifespan_context(app):
            queue = list(messages)

            async def receive() -> dict[str, Any]:
                if queue:
                    return queue.pop(0)
                await asyncio.Event().wait()  # a client that stopped sending
                raise AssertionError("unreachable")

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % length)]
            scope = {**scope_with(headers), "query_string": b"", "raw_path": b"/v1/assign"}
            await app(scope, receive, send)

    asyncio.run(run())
    start = sent[0]
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], headers, json.loads(body)


def test_a_stalled_body_is_a_408_that_closes(sample_model: tuple[Path, dict]) -> None:
    settings = settings_for(sample_model, body_timeout_s=0.05)
    status, headers, body = call(settings, [{"type": "http.request", "body": b"{", "more_body": True}], 100)
    assert status == 408 and headers["connection"] == "close" and "x-request-id" in headers
    assert body["errors"] == [{"field": "body", "message": "did not arrive within 0.05 s"}]


def test_more_bytes_than_the_limit_are_a_413(sample_model: tuple[Path, dict]) -> None:
    settings = settings_for(sample_model, max_body_bytes=1024)
    chunk = {"type": "http.request", "body": b" " * 600, "more_body": True}
    status, headers, body = call(settings, [chunk, chunk], 1000)
    assert status == 413 and headers["connection"] == "close"
    assert body["errors"][0]["field"] == "body"


def test_a_client_gone_is_logged_once_as_400(
    sample_model: tuple[Path, dict], caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(sample_model)
    with caplog.at_level(logging.INFO, logger="segments"):
        status, _, _ = call(settings, [{"type": "http.disconnect"}], 100)
    assert status == 400
    access = [r for r in caplog.records if r.name == "segments.access"]
    assert [(r.route, r.status) for r in access] == [("/v1/assign", 400)]  # type: ignore[attr-defined]
