"""bench/asgi_cost.py: the requests it makes are the ones it divides by, and --parts times what it wraps."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

from shopper_segments.app.config import Settings

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path[:0] = [str(BENCH)]

import asgi_cost  # noqa: E402
import loadtest  # noqa: E402


class CountingApp:
    """An ASGI app that answers every request with 200 and counts them."""

    def __init__(self) -> None:
        self.requests = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            return
        self.requests += 1
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


@pytest.mark.parametrize(("n", "concurrent"), [(100, 1), (7, 3), (40, 16), (3000, 16), (5000, 64)])
def test_measure_makes_exactly_the_requests_parts_divide_by(n: int, concurrent: int) -> None:
    app = CountingApp()
    seconds = asyncio.run(asgi_cost.measure(app, b"{}", n, concurrent))
    assert app.requests == asgi_cost.requests_made(n, concurrent)
    assert seconds > 0


def test_parts_time_the_function_they_wrap_and_return_its_result(monkeypatch: pytest.MonkeyPatch) -> None:
    for module_name, name, _ in asgi_cost.PARTS:  # each wrapped function is put back after the test
        module = importlib.import_module(module_name)
        monkeypatch.setattr(module, name, getattr(module, name))
    from shopper_segments.app.routes import assign

    body, settings = loadtest.history_body(2), Settings()
    expected = assign.asked_of(body, settings, False, False)
    spent = asgi_cost.time_parts()
    assert assign.asked_of(body, settings, False, False) == expected
    parse = next(what for _, name, what in asgi_cost.PARTS if name == "asked_of")
    assert spent[parse] > 0
    assert all(seconds == 0 for what, seconds in spent.items() if what != parse)
