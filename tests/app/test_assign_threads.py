"""Large JSON assign bodies leave the event loop for at most ``assign_threads`` threads at once."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopper_segments.app.config import Settings
from shopper_segments.app.main import create_app
from shopper_segments.app.routes import assign


def overlap_of(model_dir: Path, threads: int, monkeypatch: pytest.MonkeyPatch) -> tuple[int, set[int]]:
    """The most answers computed at once while 6 large requests arrive together, and their threads."""
    running = peak = 0
    idents: set[int] = set()
    lock = threading.Lock()
    real = assign.answer_assign

    def counted(*args: Any) -> Any:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            idents.add(threading.get_ident())
        time.sleep(0.05)  # long enough for the others to be waiting
        try:
            return real(*args)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(assign, "answer_assign", counted)
    settings = Settings(
        model_root=model_dir.parent.parent, model_dir=model_dir, inline_body_bytes=0, assign_threads=threads
    )
    app = create_app(settings)
    line = {"order_id": "1", "timestamp": "2011-11-01T10:00:00Z", "amount": 10.0}
    body = {"as_of": "2011-12-10T00:00:00Z", "customers": [{"customer_id": "a", "transactions": [line]}]}

    async def run() -> list[int]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                answers = await asyncio.gather(*(client.post("/v1/assign", json=body) for _ in range(6)))
        return [r.status_code for r in answers]

    assert asyncio.run(run()) == [200] * 6
    return peak, idents


def test_one_thread_by_default(sample_model: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.model_fields["assign_threads"].default == 1
    peak, idents = overlap_of(sample_model[0], 1, monkeypatch)
    assert peak == 1 and threading.get_ident() not in idents  # off the event loop, one at a time


def test_more_threads_when_configured(
    sample_model: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    peak, _ = overlap_of(sample_model[0], 3, monkeypatch)
    assert peak == 3
