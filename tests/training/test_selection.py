"""Selection with evidence: the k rule in the actionable range, a better k outside it, stability
reproducible across seeds; Mall Customers still chooses k = 5."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shopper_segments.core import transforms
from shopper_segments.core.errors import DataError
from shopper_segments.training import k_rule, selection
from shopper_segments.training.config import TrainConfig
from shopper_segments.training.dataset import DatasetSpec
from shopper_segments.training.summary import format_summary
from shopper_segments.training.train import prepare, train
from tests.conftest import ONLINE_RETAIL_SPEC, SAMPLE, shared_file


def blobs(n_per: int = 60, centers: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0], [8.0, 8.0]])[:centers]
    return np.vstack([rng.normal(m, 0.5, size=(n_per, 2)) for m in means])


@pytest.mark.parametrize("algorithm", ["kmeans", "gmm", "ward"])
def test_stability_is_high_for_true_clusters_and_low_for_too_many(algorithm: str) -> None:
    Xs = blobs()
    scores, fits = selection.score_k_range(Xs, [3, 7], seed=0, n_init=2, algorithm=algorithm)
    by_k = {s["k"]: s for s in scores}
    assert by_k[3]["stability"] == pytest.approx(1.0, abs=1e-9)
    assert by_k[3]["segment_stability"] == pytest.approx([1.0, 1.0, 1.0])
    assert by_k[7]["stability"] < k_rule.STABILITY_MIN
    assert min(by_k[7]["segment_stability"]) < 0.75  # some of the 7 pieces of 3 blobs dissolve
    assert by_k[3]["silhouette"] > 0.8
    assert fits[3].centroids.shape == (3, 2)
    assert len(np.unique(fits[3].labels)) == 3
    again, _ = selection.score_k_range(Xs, [3, 7], seed=0, n_init=2, algorithm=algorithm)
    assert again == scores  # seeded: the same numbers every run


def test_k_values_widen_the_range_and_stop_at_the_data() -> None:
    Xs = blobs()
    assert selection.k_values(Xs, None, (4, 8)) == list(range(2, 11))
    assert selection.k_values(Xs, None, (5, 12)) == list(range(3, 15))
    assert selection.k_values(Xs, None, (2, 3)) == [2, 3, 4, 5]
    assert selection.k_values(Xs, 3, (4, 8)) == [3]
    few = np.repeat(np.eye(3), 10, axis=0)  # 3 distinct profiles
    assert selection.k_values(few, None, (4, 8)) == [2, 3]
    with pytest.raises(DataError, match="2 customers are too few"):
        selection.k_values(Xs[:2], None, (4, 8))


def test_select_records_rule_flags_and_the_better_k_outside(tmp_path: Path) -> None:
    info, fit = selection.select(blobs(centers=3), list(range(2, 9)), "kmeans", seed=1, n_init=2)
    assert 4 <= info["chosen_k"] <= 8
    assert info["better_outside_k"] == 3
    assert "k=3, outside the actionable range 4..8, separates clearly better" in info["better_outside_note"]
    assert [s["in_range"] for s in info["scores"]] == [False, False, True, True, True, True, True]
    assert info["rule"] == selection.selection_rule((4, 8))
    assert fit.centroids.shape == (info["chosen_k"], 2)


def test_the_summary_names_a_better_k_outside_the_range(tmp_path: Path) -> None:
    """A customer table of three well separated groups: k is chosen in 4..8, and fit says k=3 is better."""
    rng = np.random.default_rng(3)
    centers = [(20.0, 20.0), (60.0, 80.0), (100.0, 20.0)]
    rows = np.vstack([rng.normal(c, 3.0, size=(40, 2)) for c in centers])
    table = pd.DataFrame({"id": range(len(rows)), "income": rows[:, 0], "score": rows[:, 1]})
    table.to_csv(tmp_path / "three.csv", index=False)
    config = TrainConfig(
        input=tmp_path / "three.csv",
        table_columns=["income", "score"],
        table_id="id",
        out=tmp_path,
        n_init=2,
        report=False,
    )
    path, meta = train(config)
    sel = meta["selection"]
    assert 4 <= sel["chosen_k"] <= 8 and sel["better_outside_k"] == 3
    summary = format_summary(path, meta)
    assert "NOTE: k=3, outside the actionable range 4..8, separates clearly better: silhouette" in summary
    assert " out" in summary and " in  <" in summary


def test_two_seeds_give_the_same_k_and_stabilities_within_0_1() -> None:
    """The bundled Online Retail sample (150 real customers): seeds 42 and 7 agree."""
    prep = prepare(TrainConfig(input=SAMPLE, dataset=DatasetSpec.from_toml(ONLINE_RETAIL_SPEC)))
    Xt = transforms.transform_features(prep.X.to_numpy(np.float64), prep.spec)
    Xs = (Xt - Xt.mean(axis=0)) / Xt.std(axis=0)
    ks = selection.k_values(Xs, None, (4, 8))
    runs = [selection.select(Xs, ks, "kmeans", seed, n_init=4)[0] for seed in (42, 7)]
    assert runs[0]["chosen_k"] == runs[1]["chosen_k"]
    for a, b in zip(runs[0]["scores"], runs[1]["scores"], strict=True):
        assert a["k"] == b["k"]
        assert abs(a["stability"] - b["stability"]) < 0.1, (a["k"], a["stability"], b["stability"])


def test_mall_customers_chooses_k5_stable_with_every_score(tmp_path: Path) -> None:
    path = shared_file("customer_tables/mall_customers.csv")
    model_dir, meta = train(
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
    assert sel["rule"] == selection.selection_rule((4, 8))
    assert [s["k"] for s in sel["scores"]] == list(range(2, 11))
    assert [s["k"] for s in sel["scores"] if s["in_range"]] == [4, 5, 6, 7, 8]
    assert all(0.0 <= s["stability"] <= 1.0 for s in sel["scores"])
    best = next(s for s in sel["scores"] if s["k"] == 5)
    assert best["silhouette"] == pytest.approx(0.555, abs=0.005)
    assert best["stability"] >= k_rule.STABILITY_MIN
    assert len(best["segment_stability"]) == 5 and min(best["segment_stability"]) >= 0.75
    assert sel["elbow"]["k"] == 5
    assert meta["features"]["definition"] == "table-v1"
    summary = format_summary(model_dir, meta).splitlines()
    for seg in meta["segments"]:  # whole names (up to 52 characters here), each with its stability
        row = next(line for line in summary if line.startswith(f"{seg['id']:>3} {seg['name']} "))
        assert f" {best['segment_stability'][seg['label']]:.2f} " in row
