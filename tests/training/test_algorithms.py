"""K-means, Gaussian mixture and Ward models: trained, saved, loaded, compared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestCentroid

from shopper_segments.core.artifact import load_model
from shopper_segments.core.transforms import transform_features
from shopper_segments.training import algorithms
from tests.conftest import train_sample

STEP = {"kmeans": KMeans, "gmm": GaussianMixture, "ward": NearestCentroid}


@pytest.mark.parametrize("algorithm", ["gmm", "ward"])
def test_trained_model_serves_as_its_pipeline_predicts(
    request: pytest.FixtureRequest, algorithm: str
) -> None:
    path, meta = request.getfixturevalue(f"{algorithm}_model")  # conftest: k=3 on the sample
    assert meta["algorithm"] == algorithm
    loaded_meta, pipeline, model = load_model(path)  # checksums verified for every artifact
    assert set(loaded_meta["artifacts"]) >= {"pipeline.joblib", "assignments.parquet"}
    assert isinstance(pipeline.steps[-1][1], STEP[algorithm])
    assert model.algorithm == algorithm and model.n_segments == 3
    assignments = pd.read_parquet(path / "assignments.parquet")
    X = assignments[meta["features"]["names"]].to_numpy(np.float64)
    result = model.assign(X)
    predicted = pipeline.predict(transform_features(X, model.spec))
    assert (result.segment_index == predicted).all()
    assert (
        np.asarray([s["id"] for s in meta["segments"]])[result.segment_index] == assignments["segment_id"]
    ).all()
    if algorithm == "gmm":
        assert result.probabilities is not None
        np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0, atol=1e-9)
        assert (result.probabilities.argmax(axis=1) == result.segment_index).all()
        columns = [f"probability_{s['id']}" for s in meta["segments"]]
        np.testing.assert_allclose(assignments[columns].sum(axis=1), 1.0, atol=1e-9)
    else:
        assert result.probabilities is None
        d2 = ((model.scale(X)[:, None, :] - model.centroids_[None]) ** 2).sum(axis=2)
        assert (result.segment_index == d2.argmin(axis=1)).all()  # Ward: nearest centroid


def test_ward_above_the_fit_limit_builds_its_tree_on_a_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(algorithms, "WARD_MAX_FIT", 50)
    rng = np.random.default_rng(3)
    Xs = np.vstack([rng.normal(0, 0.3, (100, 2)), rng.normal(5, 0.3, (100, 2))])
    fit = algorithms.Fitter("ward", Xs, seed=0, n_init=1).fit(2)
    assert len(fit.labels) == 200  # every customer labelled, by the nearest centroid
    assert sorted(np.bincount(fit.labels)) == [100, 100]


def test_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown algorithm 'dbscan'"):
        algorithms.Fitter("dbscan", np.zeros((4, 2)), 0, 1)


def test_compare_records_all_three_side_by_side(tmp_path: Path) -> None:
    path, meta = train_sample(tmp_path, compare=True, k_max=4, n_init=2)
    rows = meta["selection"]["comparison"]["algorithms"]
    assert [r["algorithm"] for r in rows] == ["kmeans", "gmm", "ward"]
    for row in rows:
        at_k = next(s for s in row["scores"] if s["k"] == row["chosen_k"])
        assert row["silhouette"] == at_k["silhouette"] and row["stability"] == at_k["stability"]
        assert [s["k"] for s in row["scores"]] == [2, 3, 4, 5, 6]  # k in 4..4, two either side scored
        assert row["chosen_k"] == 4
    kmeans_row = rows[0]
    assert kmeans_row["scores"] == meta["selection"]["scores"]  # the served model is kmeans
    assert meta["algorithm"] == "kmeans"
    assert load_model(path)[2].algorithm == "kmeans"
