"""RFM scores and the named grid: hand-computed edges and names, training columns, ``--algorithm rfm``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from shopper_segments.core import rfm
from shopper_segments.core.artifact import load_verified
from shopper_segments.core.contract_parts import Rfm
from shopper_segments.core.errors import DataError
from shopper_segments.training.config import TrainConfig
from shopper_segments.training.dataset import DatasetSpec
from shopper_segments.training.report import figures_rfm
from shopper_segments.training.report.context import load_context
from shopper_segments.training.report.plotting import Note
from shopper_segments.training.train import train
from tests.conftest import ONLINE_RETAIL_SPEC, shared_file, train_sample

NAMES = ["recency_days", "frequency", "monetary", "tenure_days"]
# Ten customers; by hand (score = 1 + floor(5 * customers strictly worse / 10)):
RECENCY = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89]  # distinct: two per score, lower is better
FREQUENCY = [10, 6, 4, 1, 3, 2, 1, 2, 1, 1]  # four 1s (nobody worse: F1), 2s have 4 worse: F3, no F2
MONETARY = [500, 400, 300, 20, 250, 90, 60, 120, 30, 10]
EDGES = {
    "recency_days": [44.5, 17.0, 6.5, 2.5],  # R2 from 34 (55 above it), R3 from 13, R4 from 5, R5 from 2
    "frequency": [1.5, 1.5, 2.5, 5.0],  # F2 and F3 both start at 2; F4 at 3; F5 at 6
    "monetary": [25.0, 75.0, 185.0, 350.0],
}
SCORES = [
    (5, 5, 5, "Champions"),
    (5, 5, 5, "Champions"),
    (4, 4, 4, "Loyal"),
    (4, 1, 1, "Promising"),
    (3, 4, 4, "Loyal"),
    (3, 3, 3, "Need attention"),
    (2, 1, 2, "Hibernating"),
    (2, 3, 3, "At risk"),
    (1, 1, 2, "Hibernating"),
    (1, 1, 1, "Lost"),
]


def hand_matrix() -> np.ndarray:
    tenure = np.arange(10, dtype=np.float64) * 7
    return np.column_stack([RECENCY, FREQUENCY, MONETARY, tenure]).astype(np.float64)


def test_the_grid_names_every_rf_cell_exactly_once() -> None:
    seen: dict[tuple[int, int], list[str]] = {}
    for r_scores, f_scores, name in rfm.GRID:
        for r in r_scores:
            for f in f_scores:
                seen.setdefault((r, f), []).append(name)
    assert sorted(seen) == [(r, f) for r in range(1, 6) for f in range(1, 6)]
    assert all(len(names) == 1 for names in seen.values()), seen
    table = rfm.grid_table()
    assert table.shape == (5, 5) and (table >= 0).all()
    assert sorted(set(table.ravel().tolist()) | {rfm.GRID_NAMES.index(rfm.LOST)}) == list(range(11))
    assert table[4, 4] == rfm.GRID_NAMES.index("Champions")
    assert table[0, 4] == rfm.GRID_NAMES.index("Can't lose")


def test_a_grid_naming_a_cell_twice_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rfm, "GRID", (*rfm.GRID, ((5,), (5,), "Champions")))
    with pytest.raises(ValueError, match="R=5 F=5 is named twice"):
        rfm.grid_table()


def test_hand_computed_edges_scores_and_names() -> None:
    X = hand_matrix()
    section = rfm.fit(X, NAMES)
    assert section is not None
    assert section["edges"] == EDGES
    Rfm.model_validate(section)  # what the metadata holds parses as the contract's section
    cols = rfm.columns(X, NAMES, section)
    got = list(zip(cols["rfm_r"], cols["rfm_f"], cols["rfm_m"], cols["rfm_segment"], strict=True))
    assert got == SCORES


def test_new_customers_are_scored_against_the_training_edges() -> None:
    edges = EDGES["recency_days"]
    # Beyond the training range, on an edge (at or below a recency edge passes it), between values.
    assert rfm.scores(np.array([0.0, 500.0, 17.0, 17.5, 2.5]), edges, higher_is_better=False).tolist() == [
        5,
        1,
        3,
        2,
        5,
    ]
    assert rfm.scores(np.array([1.0, 1.5, 2.0, 1000.0, 0.0]), EDGES["frequency"]).tolist() == [1, 3, 3, 5, 1]


def test_ties_share_one_score_and_unreached_scores_have_null_edges() -> None:
    assert rfm.fit_edges(np.array([1, 1, 1, 1, 1, 1, 1, 2, 3, 4])) == [1.5, 1.5, 1.5, 2.5]
    assert rfm.fit_edges(np.full(6, 3.0)) == [None, None, None, None]
    assert rfm.scores(np.array([3.0, 100.0]), [None, None, None, None]).tolist() == [1, 1]
    assert rfm.fit(hand_matrix()[:, [0, 1]], NAMES[:2]) is None  # no monetary: no scores


def test_the_contract_refuses_unordered_edges_and_a_null_before_a_number() -> None:
    section = {"edges": dict(EDGES), "tie_rule": rfm.TIE_RULE, "grid": rfm.GRID_RULE}
    with pytest.raises(ValidationError, match="recency_days: edges are not finite and ordered"):
        Rfm.model_validate({**section, "edges": {**EDGES, "recency_days": [2.5, 6.5, 17.0, 44.5]}})
    with pytest.raises(ValidationError, match="monetary: a null edge comes before a number"):
        Rfm.model_validate({**section, "edges": {**EDGES, "monetary": [25.0, None, 185.0, 350.0]}})


def test_training_writes_the_edges_and_the_rfm_columns(sample_model: tuple[Path, dict]) -> None:
    path, meta = sample_model
    table = pd.read_parquet(path / "assignments.parquet")
    names = meta["features"]["names"]
    X = table[names].to_numpy(np.float64)
    assert meta["rfm"]["edges"] == rfm.fit(X, names)["edges"]  # type: ignore[index]
    expected = rfm.columns(X, names, meta["rfm"])
    for column in rfm.RFM_COLUMNS:
        assert table[column].tolist() == expected[column], column
    assert set(table["rfm_r"]) == {1, 2, 3, 4, 5}
    assert set(table["rfm_segment"]) <= set(rfm.GRID_NAMES)


def test_rfm_algorithm_segments_are_the_grid_cells(tmp_path: Path) -> None:
    path, meta = train_sample(tmp_path, name="grid", algorithm="rfm")
    table = pd.read_parquet(path / "assignments.parquet")
    assert meta["algorithm"] == "rfm" and meta["identity"] is None
    assert (table["segment_name"] == table["rfm_segment"]).all()
    segments = meta["segments"]
    assert [s["name"] for s in segments] == [rfm.GRID_NAMES[s["id"]] for s in segments]
    counts = table["rfm_segment"].value_counts()
    assert {s["name"]: s["size"] for s in segments} == counts.to_dict()
    assert meta["selection"]["chosen_k"] == len(segments) == table["rfm_segment"].nunique()
    # The saved model (as the service loads it) gives every training customer its grid cell.
    _, _, model = load_verified(path)
    result = model.assign(table[meta["features"]["names"]].to_numpy(np.float64))
    ids = np.array([s["id"] for s in segments])
    assert (ids[result.segment_index] == table["segment_id"].to_numpy()).all()
    assert (result.next_index != result.segment_index).all()


def test_rfm_algorithm_refuses_k_and_compare(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no k to choose or compare"):
        train_sample(tmp_path, name="grid", algorithm="rfm", compare=True)
    with pytest.raises(DataError, match="no k to choose or compare"):
        train_sample(tmp_path, name="grid", algorithm="rfm", k=4)


@pytest.mark.slow
def test_rfm_algorithm_on_online_retail(tmp_path: Path) -> None:
    config = TrainConfig(
        input=shared_file("online_retail/online_retail_2010-2011.csv.gz"),
        dataset=DatasetSpec.from_toml(ONLINE_RETAIL_SPEC),
        out=tmp_path,
        name="online-retail-rfm",
        algorithm="rfm",
        report=False,
    )
    _, meta = train(config)
    names = {s["name"] for s in meta["segments"]}
    assert names == set(rfm.GRID_NAMES)  # 4,300+ customers fill every grid name
    assert sum(s["size"] for s in meta["segments"]) == meta["data"]["customers"]


def test_report_crosstab_counts_the_assignments(sample_model: tuple[Path, dict]) -> None:
    path, _ = sample_model
    ctx = load_context(path)
    counts = figures_rfm.crosstab_counts(ctx)
    assert counts is not None
    table = pd.read_parquet(path / "assignments.parquet")
    direct = pd.crosstab(table["segment_id"], table["rfm_segment"])
    for i, seg_id in enumerate(ctx.ids):
        for j, name in enumerate(rfm.GRID_NAMES):
            expected = direct.loc[seg_id, name] if name in direct.columns else 0
            assert counts[i, j] == expected, (seg_id, name)
    html = (path / "report.html").read_text(encoding="utf-8")
    assert "Segments against the RFM grid" in html and "rfm_crosstab.png" in html
    assert (path / "figures" / "rfm_crosstab.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_without_rfm_features_says_so(sample_model: tuple[Path, dict]) -> None:
    ctx = load_context(sample_model[0])
    item = figures_rfm.crosstab(replace(ctx, meta={**ctx.meta, "rfm": None}))
    assert isinstance(item, Note) and "no RFM scores" in item.text


def test_columns_name_every_score_triple_as_grid_index_does() -> None:
    """rfm.columns names cells from a precomputed cube: the same names as grid_index on all 125."""
    section = {
        "edges": {
            "recency_days": [40.0, 30.0, 20.0, 10.0],
            "frequency": [2, 3, 4, 5],
            "monetary": [2, 3, 4, 5],
        }
    }
    r, f, m = np.indices((5, 5, 5)).reshape(3, -1)  # score - 1
    X = np.column_stack([45.0 - 10 * r, f + 1.0, m + 1.0])  # each value scores r+1, f+1, m+1
    cols = rfm.columns(X, list(rfm.RFM_FEATURES), section)
    assert cols["rfm_r"] == (r + 1).tolist() and cols["rfm_m"] == (m + 1).tolist()
    scores = np.column_stack([r, f, m]) + 1
    assert cols["rfm_segment"] == [rfm.GRID_NAMES[i] for i in rfm.grid_index(scores).tolist()]
    assert cols["rfm_segment"].count(rfm.LOST) == 1
