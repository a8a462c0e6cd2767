"""GET /v1/drift: PSI of a rolling window of assigned customers against training."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from shopper_segments.app.config import Settings
from shopper_segments.app.drift import DriftMonitor, Reference
from shopper_segments.app.main import create_app
from shopper_segments.core.features import FeatureSpec
from shopper_segments.training.config import TrainConfig
from shopper_segments.training.dataset import DatasetSpec
from shopper_segments.training.frames import clean_lines, compute_features
from shopper_segments.training.loading import load_transactions
from shopper_segments.training.train import train
from tests.app.payloads import batches, customers, read_online_retail
from tests.conftest import ONLINE_RETAIL_SPEC, SAMPLE, shared_file


@contextmanager
def client_for(model_dir: Path, **settings: Any) -> Iterator[TestClient]:
    app = create_app(Settings(model_root=model_dir.parent.parent, model_dir=model_dir, **settings))
    with TestClient(app) as test_client:
        yield test_client


def everyone(raw: pd.DataFrame) -> list[dict]:
    """Every customer of the file as posted (the service answers no_purchases where it must)."""
    return list(customers(raw).values())


def post_all(client: TestClient, items: list[dict], as_of: str) -> int:
    """Post ``items`` in batches; the number of customers assigned (those the drift window holds)."""
    assigned = 0
    for batch in batches(items, 500):
        r = client.post("/v1/assign", json={"as_of": as_of, "customers": batch})
        assert r.status_code == 200, r.text[:300]
        assigned += r.json()["summary"]["assigned"]
    return assigned


def test_training_customers_do_not_drift_and_a_later_as_of_does(sample_model: tuple[Path, dict]) -> None:
    path, meta = sample_model
    items = everyone(read_online_retail(SAMPLE))
    window = meta["data"]["customers"]  # the training customers: those with a purchase
    with client_for(path, drift_window=window, drift_min_customers=100) as client:
        empty = client.get("/v1/drift").json()
        assert (empty["window_customers"], empty["enough_data"], empty["drift"]) == (0, False, False)
        assert post_all(client, items, meta["data"]["as_of"]) == window
        same = client.get("/v1/drift").json()
        assert same["window_customers"] == window and same["enough_data"]
        # The training customers themselves: the same bins, so every PSI is ~0.
        assert max(f["psi"] for f in same["features"]) < 1e-6
        assert same["segments"]["psi"] < 1e-6 and same["drift"] is False and same["drifted"] == []
        later = (pd.Timestamp(meta["data"]["as_of"]) + pd.Timedelta(days=180)).isoformat()
        post_all(client, items, later)  # replaces the whole window
        shifted = client.get("/v1/drift").json()
        assert shifted["drift"] is True
        psi = {f["feature"]: f["psi"] for f in shifted["features"]}
        assert psi["recency_days"] > 1.0 and "recency_days" in shifted["drifted"]
        assert psi["monetary"] < 1e-6  # spend did not move
        metrics = client.get("/metrics").text
        assert "segments_drift_alert 1.0" in metrics
        assert f'segments_drift_feature_psi{{feature="recency_days"}} {psi["recency_days"]}' in metrics


def test_too_few_customers_never_flag(sample_model: tuple[Path, dict]) -> None:
    path, meta = sample_model
    items = everyone(read_online_retail(SAMPLE))[:20]
    later = (pd.Timestamp(meta["data"]["as_of"]) + pd.Timedelta(days=300)).isoformat()
    with client_for(path, drift_min_customers=100) as client:
        assigned = post_all(client, items, later)
        report = client.get("/v1/drift").json()
    assert assigned > 0 and report["window_customers"] == assigned and not report["enough_data"]
    assert report["drift"] is False and all(not f["drift"] for f in report["features"])


def reference_of(model_dir: Path) -> Reference:
    """The drift reference of a model as the service builds it when it loads the model."""
    with client_for(model_dir) as client:
        return Reference.of(client.app.state.segmenter.current)  # type: ignore[attr-defined]


@pytest.mark.parametrize("shared", [False, True], ids=["memory", "shared-file"])
def test_ring_buffer_keeps_the_last_customers(
    sample_model: tuple[Path, dict], shared: bool, tmp_path: Path
) -> None:
    path, meta = sample_model
    ref = reference_of(path)
    monitor = DriftMonitor(size=5, threshold=0.2, min_customers=1, shared_dir=tmp_path if shared else None)
    names = meta["features"]["names"]
    for start in range(0, 12, 3):
        X = np.arange(start, start + 3, dtype=float)[:, None] * np.ones(len(names))
        monitor.record(ref, X, np.full(3, start % 2, dtype=np.int64))
    assert monitor.report(ref)["window_customers"] == 5
    X, labels = monitor.window(ref)
    assert sorted(X[:, 0].tolist()) == [7.0, 8.0, 9.0, 10.0, 11.0]
    assert sorted(labels.tolist()) == [0, 0, 1, 1, 1]  # batches 6-8 (label 0) and 9-11 (label 1)
    monitor.close()


def test_workers_sharing_a_directory_share_one_window(
    sample_model: tuple[Path, dict], tmp_path: Path
) -> None:
    """Two monitors on one directory (two workers of one server): one window, one report."""
    path, _ = sample_model
    ref = reference_of(path)
    first, second = (DriftMonitor(10, 0.2, 1, shared_dir=tmp_path) for _ in range(2))
    rng = np.random.default_rng(0)
    X = rng.uniform(ref.low, ref.high, size=(14, len(ref.names)))
    labels = rng.integers(0, len(ref.segment_ids), size=14)
    first.record(ref, X[:4], labels[:4])
    second.record(ref, X[4:7], labels[4:7])
    # a worker's customers wait in its memory until its flusher writes them (app.batched)
    assert first.report(ref)["window_customers"] == 4
    assert second.report(ref)["window_customers"] == 7  # its report wrote its own first
    first.flush()
    assert first.report(ref) == second.report(ref)
    assert first.report(ref)["window_customers"] == 7
    first.record(ref, X[7:], labels[7:])  # 14 customers into a window of 10: the first 4 go
    first.flush()
    held_X, held_labels = second.window(ref)
    assert sorted(map(tuple, held_X.tolist())) == sorted(map(tuple, X[4:].tolist()))
    assert sorted(held_labels.tolist()) == sorted(labels[4:].tolist())
    # a worker on a new version starts the window anew, for both
    reloaded = dataclasses.replace(ref, version="another-version")
    second.record(reloaded, X[:2], labels[:2])
    second.flush()
    assert first.report(ref)["window_customers"] == 0
    assert first.report(reloaded)["window_customers"] == 2
    first.reset()
    assert second.report(reloaded)["window_customers"] == 0
    first.close()
    second.close()


def test_a_flush_writes_waiting_customers_in_order_of_versions(
    sample_model: tuple[Path, dict], tmp_path: Path
) -> None:
    """Customers of an old version, then of a reloaded one, wait together: the window ends new."""
    path, _ = sample_model
    ref = reference_of(path)
    reloaded = dataclasses.replace(ref, version="another-version")
    worker, reader = (DriftMonitor(10, 0.2, 1, shared_dir=tmp_path) for _ in range(2))
    X = np.tile(ref.low, (5, 1))
    worker.record(ref, X[:3], np.zeros(3, dtype=np.int64))
    worker.record(reloaded, X[3:], np.ones(2, dtype=np.int64))
    assert reader.report(reloaded)["window_customers"] == 0  # nothing written yet
    worker.flush()
    assert reader.report(reloaded)["window_customers"] == 2
    assert reader.report(ref)["window_customers"] == 0
    worker.close()
    reader.close()


@pytest.mark.slow
def test_held_out_customers_do_not_drift_and_shifted_spend_does(tmp_path: Path) -> None:
    src = shared_file("online_retail/online_retail_2010-2011.csv.gz")
    raw = pd.read_csv(src, dtype=str, keep_default_na=False)
    ids = np.sort(raw.loc[raw["CustomerID"] != "", "CustomerID"].unique())
    held = set(np.random.default_rng(0).choice(ids, size=len(ids) * 2 // 5, replace=False))
    is_held = raw["CustomerID"].isin(held)
    raw[~is_held].to_csv(tmp_path / "train.csv", index=False)
    raw[is_held].to_csv(tmp_path / "held.csv", index=False)
    config = TrainConfig(
        input=tmp_path / "train.csv",
        dataset=DatasetSpec.from_toml(ONLINE_RETAIL_SPEC),
        out=tmp_path / "models",
        name="drift",
        seed=0,
        n_init=2,
        k=4,
        as_of=pd.Timestamp("2011-12-10", tz="UTC"),
    )
    path, _ = train(config)
    lines, _ = clean_lines(load_transactions(tmp_path / "held.csv", config.dataset)[0])
    as_of = pd.Timestamp("2011-12-10", tz="UTC")
    held = feature_customers(compute_features(lines, features_spec(path), as_of))
    assert len(held) > 1500
    with client_for(path, drift_window=len(held), drift_min_customers=500) as client:
        post_all(client, held, as_of.isoformat())
        unshifted = client.get("/v1/drift").json()
    assert unshifted["enough_data"] and unshifted["drift"] is False, unshifted
    assert max(f["psi"] for f in unshifted["features"]) < 0.1
    assert unshifted["segments"]["psi"] < 0.1
    # The same held-out customers, each line bought three times over: spend shifts.
    tripled = lines.assign(amount=lines["amount"] * 3)
    shifted_items = feature_customers(compute_features(tripled, features_spec(path), as_of))
    with client_for(path, drift_window=len(held), drift_min_customers=500) as client:
        post_all(client, shifted_items, as_of.isoformat())
        shifted = client.get("/v1/drift").json()
    psi = {f["feature"]: f["psi"] for f in shifted["features"]}
    assert shifted["drift"] is True
    assert {"monetary", "avg_order_value"} <= set(shifted["drifted"])
    assert psi["monetary"] > 0.2 and psi["recency_days"] < 0.1
    print(f"\nheld-out customers {len(held)}")
    print(f"held-out PSI {unshifted['features']} segments {unshifted['segments']['psi']:.4f}")
    print(f"shifted PSI {shifted['features']} segments {shifted['segments']['psi']:.4f}")


def features_spec(model_dir: Path) -> FeatureSpec:
    return FeatureSpec.from_dict(json.loads((model_dir / "metadata.json").read_text())["features"])


def feature_customers(X: pd.DataFrame) -> list[dict]:
    """Customers given by their features (computed with the one feature definition)."""
    return [
        {"customer_id": str(cid), "features": dict(zip(X.columns, row, strict=True))}
        for cid, row in zip(X.index, X.to_numpy().tolist(), strict=True)
    ]


def test_the_reference_is_the_stored_bins_and_a_new_version_starts_a_new_window(
    sample_model: tuple[Path, dict],
) -> None:
    path, meta = sample_model
    with client_for(path) as client:
        loaded = client.app.state.segmenter.current  # type: ignore[attr-defined]
    stored = Reference.of(loaded)
    assert stored is loaded.derived.reference  # built once, when the model loaded
    for name in meta["features"]["names"]:
        assert stored.bins[name]["edges"].tolist() == meta["feature_bins"][name]["edges"]
        assert stored.bins[name]["proportions"].tolist() == meta["feature_bins"][name]["proportions"]
    monitor = DriftMonitor(size=100, threshold=0.2, min_customers=1)
    X = np.ones((7, len(stored.names)))
    monitor.record(stored, X, np.zeros(7, dtype=np.int64))
    assert monitor.report(stored)["window_customers"] == 7
    reloaded = dataclasses.replace(stored, version="another-version")
    assert monitor.report(reloaded)["window_customers"] == 0  # not the served version's window
    monitor.record(reloaded, X[:2], np.zeros(2, dtype=np.int64))
    assert monitor.report(reloaded)["window_customers"] == 2
