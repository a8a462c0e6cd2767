"""Selection with evidence: stability, elbow, the k rule; Mall Customers still chooses k = 5."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shopper_segments.training import selection
from shopper_segments.training.config import TrainConfig
from shopper_segments.training.train import train
from tests.conftest import shared_file


def blobs(n_per: int = 60, centers: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0], [8.0, 8.0]])[:centers]
    return np.vstack([rng.normal(m, 0.5, size=(n_per, 2)) for m in means])


def entry(k: int, silhouette: float, stability: float, inertia: float = 0.0) -> dict:
    return {"k": k, "silhouette": silhouette, "stability": stability, "inertia": inertia}


def test_rule_never_chooses_an_unstable_k() -> None:
    scores = [entry(2, 0.40, 0.95), entry(3, 0.60, 0.55), entry(4, 0.45, 0.85)]
    assert selection.choose_k(scores) == (4, None)


def test_rule_ties_go_to_the_smaller_k() -> None:
    assert selection.choose_k([entry(3, 0.5, 0.9), entry(2, 0.5, 0.9)]) == (2, None)


def test_rule_falls_back_to_the_most_stable_k_with_a_warning() -> None:
    k, warning = selection.choose_k([entry(2, 0.6, 0.5), entry(3, 0.4, 0.7), entry(4, 0.5, 0.6)])
    assert k == 3
    assert warning is not None and "no k reached stability 0.8" in warning


def test_elbow_is_the_knee_of_inertia() -> None:
    inertia = {2: 1000.0, 3: 600.0, 4: 200.0, 5: 170.0, 6: 150.0, 7: 140.0}
    scores = [entry(k, 0.0, 1.0, v) for k, v in inertia.items()]
    assert selection.find_elbow(scores) == 4
    assert selection.find_elbow(scores[:2]) is None
    straight = [entry(k, 0.0, 1.0, 100.0 - 10 * k) for k in range(2, 7)]
    assert selection.find_elbow(straight) is None


@pytest.mark.parametrize("algorithm", ["kmeans", "gmm", "ward"])
def test_stability_is_high_for_true_clusters_and_low_for_too_many(algorithm: str) -> None:
    Xs = blobs()
    scores, fits = selection.score_k_range(Xs, [3, 7], seed=0, n_init=2, algorithm=algorithm)
    by_k = {s["k"]: s for s in scores}
    assert by_k[3]["stability"] == pytest.approx(1.0, abs=1e-9)
    assert by_k[7]["stability"] < 0.8
    assert by_k[3]["silhouette"] > 0.8
    assert fits[3].centroids.shape == (3, 2)
    assert len(np.unique(fits[3].labels)) == 3
    again, _ = selection.score_k_range(Xs, [3, 7], seed=0, n_init=2, algorithm=algorithm)
    assert again == scores  # seeded: the same numbers every run


def test_select_records_rule_elbow_and_every_score() -> None:
    info, fit = selection.select(blobs(centers=4), [2, 3, 4, 5, 6], "kmeans", seed=1, n_init=2)
    assert info["chosen_k"] == 4 and info["warning"] is None
    assert info["elbow"]["k"] == 4
    assert [s["k"] for s in info["scores"]] == [2, 3, 4, 5, 6]
    for s in info["scores"]:
        assert {"silhouette", "calinski_harabasz", "davies_bouldin", "inertia", "stability"} <= set(s)
    assert info["stability_threshold"] == selection.STABILITY_MIN
    assert fit.centroids.shape == (4, 2)


def test_mall_customers_chooses_k5_stable_with_every_score(tmp_path: Path) -> None:
    path = shared_file("customer_tables/mall_customers.csv")
    _, meta = train(
        TrainConfig(
            input=path,
            table_columns=["Annual Income (k$)", "Spending Score (1-100)"],
            table_id="CustomerID",
            out=tmp_path,
            n_init=4,
            report=False,
        )
    )
    sel = meta["selection"]
    assert sel["chosen_k"] == 5 and sel["warning"] is None
    assert sel["rule"] == selection.SELECTION_RULE
    assert [s["k"] for s in sel["scores"]] == list(range(2, 11))
    assert all(0.0 <= s["stability"] <= 1.0 for s in sel["scores"])
    best = next(s for s in sel["scores"] if s["k"] == 5)
    assert best["silhouette"] == pytest.approx(0.555, abs=0.005)
    assert best["stability"] >= selection.STABILITY_MIN
    assert sel["elbow"]["k"] == 5
    assert meta["features"]["definition"] == "table-v1"
