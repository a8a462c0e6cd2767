"""Segment identities survive retraining: Hungarian matching, new and vanished ids, migration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shopper_segments.core.contract import ModelMetadata
from shopper_segments.core.contract_parts import FeaturesSpec, Segment
from shopper_segments.core.errors import ArtifactError
from shopper_segments.core.features import table_spec
from shopper_segments.core.model import SegmentModel
from shopper_segments.training import identity
from shopper_segments.training.cli import main
from shopper_segments.training.config import TrainConfig
from shopper_segments.training.train import train
from tests.conftest import ONLINE_RETAIL_SPEC, shared_file, train_sample

SPEC = table_spec(["a", "b"])


def table_model(centroids: list[list[float]]) -> SegmentModel:
    """A table model whose scaler is the identity: scaled space = original units."""
    return SegmentModel(SPEC, np.zeros(2), np.ones(2), np.asarray(centroids, dtype=np.float64))


def previous(segments: list[tuple[int, str, list[float]]]) -> identity.Previous:
    """Only what matching reads of a previous model's metadata (built without validation)."""
    meta = ModelMetadata.model_construct(
        version="prev-1",
        features=FeaturesSpec.model_construct(names=["a", "b"]),
        segments=[
            Segment.model_construct(id=i, name=n, centroid={"a": c[0], "b": c[1]}) for i, n, c in segments
        ],
    )
    return identity.Previous(Path("prev"), meta, pd.DataFrame({"customer_id": [], "segment_id": []}))


def test_matching_follows_centroids_not_labels() -> None:
    prev = previous([(0, "Low", [0.0, 0.0]), (1, "High", [5.0, 5.0]), (4, "Mid", [0.0, 5.0])])
    new = table_model([[5.1, 4.9], [0.1, 5.2], [-0.2, 0.1]])  # same segments, shuffled labels
    ids = identity.match(prev, new)
    assert ids.ids == [1, 4, 0]
    assert ids.kept_names == {0: "High", 1: "Mid", 2: "Low"}
    assert ids.info["new_ids"] == [] and ids.info["vanished"] == []
    assert ids.info["matched_on"] == ["a", "b"]


def test_new_segment_gets_the_next_id_and_a_far_one_vanishes() -> None:
    prev = previous([(0, "Low", [0.0, 0.0]), (3, "High", [5.0, 5.0])])
    new = table_model([[0.1, 0.0], [20.0, 20.0], [-20.0, 9.0]])
    ids = identity.match(prev, new)
    assert ids.ids == [0, 4, 5]  # max previous id 3, then 4, 5
    assert ids.kept_names == {0: "Low"}
    assert ids.info["new_ids"] == [4, 5]
    assert ids.info["vanished"] == [{"id": 3, "name": "High"}]  # nearest new centroid is too far


def test_fresh_names_never_collide_with_kept_ones() -> None:
    assert identity.unique_names(["Loyal", "New", "Lost"], {0: "New", 2: "Lost"}) == [
        "New",
        "New (2)",
        "Lost",
    ]


def test_migration_counts_customers_present_in_both() -> None:
    prev = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "segment_id": [0, 0, 1, 1]})
    cur = pd.DataFrame({"customer_id": ["a", "b", "c", "e"], "segment_id": [0, 2, 1, 2]})
    mig = identity.migration(prev, cur)
    assert mig["previous_ids"] == [0, 1] and mig["new_ids"] == [0, 1, 2]
    assert mig["counts"] == [[1, 0, 1], [0, 1, 0]]
    assert (mig["customers_in_both"], mig["only_previous"], mig["only_new"], mig["kept_segment"]) == (
        3,
        1,
        1,
        2,
    )


def assert_same_ids_and_names(first: dict, second: dict) -> dict:
    ident = second["identity"]
    assert ident["previous_version"] == first["version"] and ident["previous_default"] is True
    assert ident["new_ids"] == [] and ident["vanished"] == []
    assert {s["id"]: s["name"] for s in second["segments"]} == {s["id"]: s["name"] for s in first["segments"]}
    mig = ident["migration"]
    assert mig["customers_in_both"] == first["data"]["customers"]
    assert mig["kept_segment"] >= 0.9 * mig["customers_in_both"]  # labels differ; ids follow segments
    return ident


@pytest.mark.parametrize("seeds", [(0, 7), (3, 11)])
def test_retraining_with_another_seed_keeps_every_id_and_name(tmp_path: Path, seeds: tuple[int, int]) -> None:
    first_path, first = train_sample(tmp_path, seed=seeds[0], k=4)
    _, second = train_sample(tmp_path, seed=seeds[1], k=4)  # same out and name: LATEST is the previous
    ident = assert_same_ids_and_names(first, second)
    old = pd.read_parquet(first_path / "assignments.parquet")
    assert sorted(old["segment_id"].unique()) == ident["migration"]["previous_ids"]


def test_mall_customers_retrained_with_another_seed_keeps_k_ids_and_names(tmp_path: Path) -> None:
    path = shared_file("customer_tables/mall_customers.csv")
    runs = [
        train(
            TrainConfig(
                input=path,
                table_columns=["Annual Income (k$)", "Spending Score (1-100)"],
                table_id="CustomerID",
                out=tmp_path,
                seed=seed,
                n_init=3,
                k_max=7,
                report=False,
            )
        )[1]
        for seed in (1, 2)
    ]
    assert runs[0]["selection"]["chosen_k"] == runs[1]["selection"]["chosen_k"] == 5
    assert_same_ids_and_names(*runs)


def test_no_previous_and_explicit_previous(tmp_path: Path) -> None:
    first_path, first = train_sample(tmp_path / "a", k=3)
    _, alone = train_sample(tmp_path / "a", k=3, use_previous=False)
    assert alone["identity"] is None
    _, other = train_sample(tmp_path / "b", k=4, previous=first_path)
    ident = other["identity"]
    assert ident["previous_default"] is False and ident["previous_version"] == first["version"]
    assert len(ident["matches"]) + len(ident["new_ids"]) == 4
    assert max(ident["new_ids"]) == 3  # ids 0..2 existed: the one extra segment is id 3


def test_an_altered_previous_model_is_refused(tmp_path: Path) -> None:
    path, _ = train_sample(tmp_path, k=3)
    (path / "assignments.parquet").write_bytes(b"not parquet")
    with pytest.raises(ArtifactError, match=r"assignments\.parquet is missing or altered"):
        train_sample(tmp_path, k=3)  # refused before fitting


@pytest.mark.slow
def test_online_retail_split_first_half_then_whole_year(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = shared_file("online_retail/online_retail_2010-2011.csv.gz")
    common = ["--input", str(data), "--dataset", str(ONLINE_RETAIL_SPEC), "--out", str(tmp_path)]
    common += ["--name", "or", "--k-max", "6", "--n-init", "3", "--no-report"]
    assert main(["fit", *common, "--until", "2011-07-01", "--as-of", "2011-07-01"]) == 0
    assert main(["fit", *common]) == 0
    out = capsys.readouterr().out
    first_meta, second_meta = (
        json.loads(p.read_text()) for p in sorted((tmp_path / "or").glob("*/metadata.json"))
    )
    assert first_meta["data"]["date_range"][1] < "2011-07-01"
    ident = second_meta["identity"]
    assert ident["previous_version"] == first_meta["version"]
    mig = ident["migration"]
    assert mig["customers_in_both"] == first_meta["data"]["customers"]  # nobody of H1 disappears
    assert mig["only_previous"] == 0
    assert mig["only_new"] == second_meta["data"]["customers"] - first_meta["data"]["customers"]
    assert sum(map(sum, mig["counts"])) == mig["customers_in_both"]
    names = {s["id"]: s["name"] for s in first_meta["segments"]}
    for m in ident["matches"]:
        assert names[m["id"]] == m["name"]
        assert next(s for s in second_meta["segments"] if s["id"] == m["id"])["name"] == m["name"]
    assert ident["matches"], "the whole year keeps at least one of the first half's segments"
    assert "migration of the" in out and "prev\\new" in out
    print("\n".join(identity.format_migration(ident)))  # shown with pytest -s
