"""explain=true: per-feature terms of the squared distances, in scaled and original units."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shopper_segments.app.config import Settings
from shopper_segments.app.main import create_app
from tests.app.payloads import customers, read_online_retail
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def client(sample_model: tuple[Path, dict]) -> Iterator[TestClient]:
    path, _ = sample_model
    with TestClient(
        create_app(Settings(model_root=path.parent.parent, model_dir=path.parent))
    ) as test_client:
        yield test_client


def test_contributions_sum_to_the_squared_distances(
    client: TestClient, sample_model: tuple[Path, dict]
) -> None:
    _, meta = sample_model
    histories = list(customers(read_online_retail(SAMPLE)).values())[:20]
    r = client.post("/v1/assign?explain=true", json={"as_of": meta["data"]["as_of"], "customers": histories})
    assert r.status_code == 200, r.text
    centroids = {s["id"]: s["centroid"] for s in meta["segments"]}
    for res in r.json()["results"]:
        why = res["explanation"]
        terms = [f["assigned"]["contribution"] for f in why["features"]]
        assert sum(terms) == pytest.approx(res["distance"] ** 2, rel=1e-9)
        assert why["squared_distance"] == pytest.approx(res["distance"] ** 2, rel=1e-9)
        nxt = [f["next"]["contribution"] for f in why["features"]]
        assert sum(nxt) == pytest.approx(res["next_segment"]["distance"] ** 2, rel=1e-9)
        assert sum(terms) <= sum(nxt)
        for f in why["features"]:
            assert f["feature"] in res["features"] and f["value"] == res["features"][f["feature"]]
            # Original units: the centroid is the segment's published centroid.
            assert f["assigned"]["centroid"] == pytest.approx(centroids[res["segment_id"]][f["feature"]])
            assert f["assigned"]["gap"] == pytest.approx(f["value"] - f["assigned"]["centroid"])
            assert f["assigned"]["gap_scaled"] == pytest.approx(
                f["value_scaled"] - f["assigned"]["centroid_scaled"]
            )
            assert f["outside_training_range"] is False


def test_out_of_range_features_are_named_and_body_field_works(
    client: TestClient, sample_model: tuple[Path, dict]
) -> None:
    _, meta = sample_model
    ranges = meta["feature_ranges"]
    features = {n: ranges[n]["median"] for n in meta["features"]["names"]}
    features["frequency"] = ranges["frequency"]["max"] + 50
    body = {"explain": True, "customers": [{"customer_id": "x", "features": features}]}
    why = client.post("/v1/assign", json=body).json()["results"][0]["explanation"]
    assert why["outside_training_range"] == ["frequency"]
    flagged = {f["feature"]: f["outside_training_range"] for f in why["features"]}
    assert flagged == {n: n == "frequency" for n in meta["features"]["names"]}
    # The far-out feature carries the largest term of the distance.
    top = max(why["features"], key=lambda f: f["assigned"]["contribution"])
    assert top["feature"] == "frequency"


def test_no_explanation_unless_asked(client: TestClient, sample_model: tuple[Path, dict]) -> None:
    _, meta = sample_model
    features = dict(meta["segments"][0]["centroid"])
    res = client.post("/v1/assign", json={"customers": [{"customer_id": "x", "features": features}]}).json()
    assert "explanation" not in res["results"][0]
    bad = client.post(
        "/v1/assign?explain=maybe", json={"customers": [{"customer_id": "x", "features": features}]}
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "explain"
