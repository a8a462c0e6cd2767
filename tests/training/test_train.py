"""Training end to end on real data: Online Retail, Complete Journey, Mall Customers, date-only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shopper_segments.core.artifact import load_model
from shopper_segments.training.cli import main
from tests.conftest import ONLINE_RETAIL_SPEC, SAMPLE, shared_file, train_sample


def test_sample_model_directory_records_provenance(sample_model: tuple[Path, dict]) -> None:
    path, meta = sample_model
    # Report files (report.html, report.json, figures/) may sit beside the artifacts.
    assert {"assignments.parquet", "metadata.json", "pipeline.joblib"} <= {p.name for p in path.iterdir()}
    assert (path.parent / "LATEST").read_text().strip() == meta["version"]
    data = meta["data"]
    assert data["rows_read"] == 12_304
    assert data["rows_dropped"]["missing_customer_id"] == 300
    assert data["customers"] == 150 - data["customers_dropped"]["no_purchases"]
    assert len(data["sha256"]) == 64
    assert meta["features"]["names"] == [
        "recency_days",
        "frequency",
        "monetary",
        "avg_order_value",
        "tenure_days",
    ]
    scores = meta["selection"]["scores"]  # chosen in 4..6 (k_max=6), scored over 2..8
    assert [s["k"] for s in scores] == list(range(2, 9))
    assert [s["k"] for s in scores if s["in_range"]] == [4, 5, 6]
    assert 4 <= meta["selection"]["chosen_k"] <= 6
    assert sum(s["size"] for s in meta["segments"]) == data["customers"]
    assert len({s["name"] for s in meta["segments"]}) == len(meta["segments"])
    assert meta["libraries"]["scikit-learn"]
    loaded_meta, _pipeline, model = load_model(path)
    assert loaded_meta["version"] == meta["version"]
    assignments = pd.read_parquet(path / "assignments.parquet")
    assert len(assignments) == data["customers"]
    X = assignments[meta["features"]["names"]].to_numpy(np.float64)
    assert (model.assign(X).segment_index == assignments["segment_id"].to_numpy()).all()


def test_training_is_deterministic(tmp_path: Path, sample_model: tuple[Path, dict]) -> None:
    _, again = train_sample(tmp_path)
    _, first = sample_model
    assert again["selection"]["chosen_k"] == first["selection"]["chosen_k"]
    assert [s["size"] for s in again["segments"]] == [s["size"] for s in first["segments"]]
    np.testing.assert_allclose(
        [s["centroid_scaled"] for s in again["segments"]], [s["centroid_scaled"] for s in first["segments"]]
    )


def test_given_k_and_names_override(tmp_path: Path) -> None:
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"0": "VIP shoppers"}))
    _, meta = train_sample(tmp_path, k=3, names_file=names)
    assert meta["selection"]["chosen_k"] == 3
    assert [s["k"] for s in meta["selection"]["scores"]] == [3]
    assert meta["segments"][0]["name"] == "VIP shoppers"


def test_date_only_file_trains_without_money(tmp_path: Path) -> None:
    raw = pd.read_csv(SAMPLE, dtype=str).dropna(subset=["CustomerID"])
    dates = raw[["CustomerID", "InvoiceDate"]].rename(columns={"CustomerID": "shopper", "InvoiceDate": "day"})
    dates["day"] = dates["day"].str[:10]
    dates.to_csv(tmp_path / "visits.csv", index=False)
    code = main(
        [
            "fit",
            "--input",
            str(tmp_path / "visits.csv"),
            "--customer-id-col",
            "shopper",
            "--timestamp-col",
            "day",
            "--out",
            str(tmp_path / "m"),
            "--name",
            "visits",
            "--k-max",
            "4",
        ]
    )
    assert code == 0
    meta = json.loads(next((tmp_path / "m" / "visits").glob("*/metadata.json")).read_text())
    assert meta["features"]["names"] == ["recency_days", "frequency", "tenure_days"]
    assert meta["features"]["has_money"] is False
    assert "without monetary features" in meta["data"]["note"]


@pytest.mark.slow
def test_online_retail_full_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_file("online_retail/online_retail_2010-2011.csv.gz")
    code = main(
        [
            "fit",
            "--input",
            str(path),
            "--dataset",
            str(ONLINE_RETAIL_SPEC),
            "--out",
            str(tmp_path),
            "--name",
            "or",
            "--k-max",
            "5",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "135,080  missing_customer_id" in out
    meta = json.loads(next((tmp_path / "or").glob("*/metadata.json")).read_text())
    data = meta["data"]
    assert data["rows_read"] == 541_909
    assert data["rows_dropped"]["missing_customer_id"] == 135_080
    assert data["customers"] == 4_338  # the standard RFM benchmark's customer count
    assert data["return_lines_kept"] > 8_000


def test_complete_journey_trains_with_category_shares(journey_model: tuple[Path, dict]) -> None:
    path, meta = journey_model
    names = meta["features"]["names"]
    shares = [n for n in names if n.startswith("share_")]
    assert len(shares) == 5 and shares[-1] == "share_other"  # the spec's [categories] top = 4, plus other
    assert "share_GROCERY" in names
    assert meta["data"]["rows_dropped"]["zero_amount"] == 528
    assignments = pd.read_parquet(path / "assignments.parquet")
    np.testing.assert_allclose(assignments[shares].sum(axis=1), 1.0)
    assert "share_GROCERY" in (path / "report.html").read_text(encoding="utf-8")
