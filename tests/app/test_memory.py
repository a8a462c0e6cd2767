"""When a large request's freed memory goes back to the system (app.memory)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shopper_segments.app import memory
from shopper_segments.app.config import Settings
from shopper_segments.app.main import GC_THRESHOLDS, create_app
from shopper_segments.app.memory import ALWAYS_BYTES, EVERY_S, LARGE_BODY_BYTES, due


def test_small_bodies_never_release() -> None:
    assert not due(LARGE_BODY_BYTES - 1, now=1e9, last=float("-inf"))


def test_large_bodies_release_at_most_once_per_interval() -> None:
    assert due(LARGE_BODY_BYTES, now=100.0, last=float("-inf"))
    assert not due(LARGE_BODY_BYTES, now=100.0 + EVERY_S / 2, last=100.0)
    assert due(2 * LARGE_BODY_BYTES, now=100.0 + EVERY_S, last=100.0)


def test_very_large_bodies_always_release() -> None:
    assert due(ALWAYS_BYTES, now=100.0, last=100.0)


def test_a_burst_claims_one_release_within_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_last_release", float("-inf"))
    calls = [memory.claim_release(LARGE_BODY_BYTES) for _ in range(5)]  # a burst of 1 MB batches
    calls.append(memory.claim_release(ALWAYS_BYTES))
    calls.append(memory.claim_release(LARGE_BODY_BYTES - 1))
    assert sum(calls) == 2 and calls[0] and calls[5]


def test_serving_collects_young_objects_less_often(sample_model: tuple[Path, dict]) -> None:
    """The lifespan sets the collector's thresholds (a batch's objects are not walked again and again)."""
    path, _ = sample_model
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        with TestClient(create_app(Settings(model_root=path.parent.parent, model_dir=path))):
            assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > 700
    finally:
        gc.set_threshold(*before)
