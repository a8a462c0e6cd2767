"""The service serves whichever algorithm a model was trained with (real uvicorn)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.app.payloads import customers, read_online_retail
from tests.conftest import SAMPLE, Server, serve_model


@pytest.fixture(scope="module")
def ward_server(
    ward_model: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Path, dict]]:
    """Like conftest's ``gmm_server``, for the session's Ward model."""
    yield from serve_model(ward_model, tmp_path_factory)


def post_all(server: Server, path: Path, meta: dict) -> tuple[list[dict], pd.DataFrame]:
    expected = pd.read_parquet(path / "assignments.parquet").set_index("customer_id")
    payloads = customers(read_online_retail(SAMPLE))
    body = {"as_of": meta["data"]["as_of"], "customers": [payloads[c] for c in expected.index]}
    r = httpx.post(f"{server.url}/v1/assign", json=body, timeout=120)
    assert r.status_code == 200, r.text[:500]
    return r.json()["results"], expected


def test_mixture_model_serves_probabilities_that_sum_to_one(gmm_server: tuple[Server, Path, dict]) -> None:
    server, path, meta = gmm_server
    model = httpx.get(f"{server.url}/v1/model").json()
    assert model["algorithm"] == "gmm"
    results, expected = post_all(server, path, meta)
    ids = sorted(s["id"] for s in meta["segments"])
    sums = []
    for res in results:
        probs = res["probabilities"]
        assert sorted(p["segment_id"] for p in probs) == ids
        sums.append(sum(p["probability"] for p in probs))
        best = max(probs, key=lambda p: p["probability"])
        assert best["segment_id"] == res["segment_id"] and best["segment_name"] == res["segment_name"]
        saved = expected.loc[res["customer_id"], [f"probability_{i}" for i in ids]].to_numpy(np.float64)
        np.testing.assert_allclose([p["probability"] for p in probs], saved, atol=1e-9)
    np.testing.assert_allclose(sums, 1.0, atol=1e-9)
    assert len(results) == len(expected) > 100
    assert [r["segment_id"] for r in results] == expected["segment_id"].tolist()


def test_ward_model_serves_nearest_centroid_without_probabilities(
    ward_server: tuple[Server, Path, dict],
) -> None:
    server, path, meta = ward_server
    assert json.loads((path / "metadata.json").read_text())["algorithm"] == "ward"
    results, expected = post_all(server, path, meta)
    assert all("probabilities" not in r for r in results)
    assert [r["segment_id"] for r in results] == expected["segment_id"].tolist()
    for r in results:
        assert r["next_segment"] is None or r["distance"] <= r["next_segment"]["distance"]
