"""Segment identities survive retraining: matched by where shared customers went (Hungarian on
overlap), by centroids without shared customers, through as_of moves and a monthly series."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shopper_segments.core.contract import ModelMetadata
from shopper_segments.core.contract_identity import Identity
from shopper_segments.core.contract_parts import FeaturesSpec, Segment
from shopper_segments.core.errors import ArtifactError
from shopper_segments.core.features import table_spec
from shopper_segments.core.model import SegmentModel
from shopper_segments.training import identity, stability
from shopper_segments.training.centroid_check import MATCH_MAX_DISTANCE
from shopper_segments.training.cli import main
from shopper_segments.training.config import TrainConfig
from shopper_segments.training.dataset import ColumnMap, DatasetSpec
from shopper_segments.training.loading import load_transactions
from shopper_segments.training.migration import chain_rows, format_chain, format_migration, walk_chain
from shopper_segments.training.train import prepare, train
from tests.conftest import ONLINE_RETAIL_SPEC, shared_file, train_sample

SPEC = table_spec(["a", "b"])
CENTRES = {0: [0.0, 0.0], 1: [5.0, 5.0], 4: [0.0, 5.0]}


def table_model(centroids: list[list[float]]) -> SegmentModel:
    """A table model whose scaler is the identity: scaled space = original units."""
    return SegmentModel(SPEC, np.zeros(2), np.ones(2), np.asarray(centroids, dtype=np.float64))


def previous(
    segments: dict[int, list[float]],
    members: dict[int, list[str]] | None = None,
    next_free: int | None = None,
) -> identity.Previous:
    """Only what matching reads of a previous model's metadata (built without validation)."""
    meta = ModelMetadata.model_construct(
        version="prev-1",
        features=FeaturesSpec.model_construct(names=["a", "b"]),
        segments=[
            Segment.model_construct(id=i, name=f"S{i}", centroid={"a": c[0], "b": c[1]}, centroid_scaled=c)
            for i, c in segments.items()
        ],
        identity=Identity.model_construct(next_free_id=next_free) if next_free is not None else None,
    )
    rows = [(c, sid) for sid, ids in (members or {}).items() for c in ids]
    assignments = pd.DataFrame(rows, columns=["customer_id", "segment_id"])
    return identity.Previous(Path("prev"), meta, assignments)


def customers(at: dict[str, list[float]]) -> pd.DataFrame:
    """New training customers (id -> features) for the overlap."""
    return pd.DataFrame.from_dict(at, orient="index", columns=["a", "b"]).rename_axis("customer_id")


def near(centre: list[float], ids: list[str]) -> dict[str, list[float]]:
    return {c: [centre[0] + 0.01 * i, centre[1]] for i, c in enumerate(ids)}


def ids_of(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def pair_of(ids: identity.Identities, previous_id: int) -> dict:
    return next(p for p in ids.info["pairs"] if p["previous_id"] == previous_id)


def test_customers_decide_not_centroids_nor_labels() -> None:
    """The new centroids are shuffled and far from the old ones: the customers still say who is who."""
    members = {0: ids_of("a", 20), 1: ids_of("b", 20), 4: ids_of("c", 20)}
    prev = previous(CENTRES, members)
    new = table_model([[50.0, 50.0], [-50.0, 0.0], [0.0, -50.0]])
    at = near([50.0, 50.0], members[4]) | near([-50.0, 0.0], members[0]) | near([0.0, -50.0], members[1])
    ids = identity.match(prev, new, customers(at))
    assert ids.ids == [4, 0, 1]
    assert ids.kept_names == {0: "S4", 1: "S0", 2: "S1"}
    assert ids.info["method"] == "shared_customers" and ids.info["shared_customers"] == 60
    assert ids.info["new_ids"] == [] and ids.info["vanished"] == []
    for p in ids.info["pairs"]:
        assert p["kept"] and p["overlap_share"] == 1.0 and p["shared_customers"] == 20
        assert p["distance"] > MATCH_MAX_DISTANCE and "centroid check" in p["reason"]


def test_a_split_keeps_the_id_on_the_larger_part_and_a_spread_segment_vanishes() -> None:
    members = {0: ids_of("a", 30), 1: ids_of("b", 30), 4: ids_of("c", 30)}
    prev = previous(CENTRES, members)
    centres = [[0.0, 0.0], [5.0, 5.0], [9.0, 9.0], [0.0, 5.0]]
    new = table_model(centres)
    at = near(centres[0], members[0][:18]) | near(centres[2], members[0][18:])  # 60 / 40 split
    at |= (
        near(centres[1], members[1][:9])
        | near(centres[2], members[1][9:18])
        | near(centres[3], members[1][18:])
    )
    at |= near(centres[3], members[4])
    ids = identity.match(prev, new, customers(at))
    assert ids.ids[0] == 0 and ids.ids[3] == 4
    assert pair_of(ids, 0)["overlap_share"] == pytest.approx(0.6) and pair_of(ids, 0)["kept"]
    gone = pair_of(ids, 1)  # 30% / 30% / 40%, its largest part joins S4: nothing holds most of it
    assert not gone["kept"] and gone["overlap_share"] == pytest.approx(0.3) and not gone["mutual_best"]
    assert gone["reason"] == (
        "only 30% of its shared customers went there, 100% came from it; "
        "40% of its 30 shared customers went to id 4"
    )
    assert ids.info["vanished"] == [{"id": 1, "name": "S1"}]
    assert ids.info["new_ids"] == [5, 6] and sorted(ids.ids) == [0, 4, 5, 6]  # max previous id was 4


def test_mutual_best_keeps_a_segment_that_gained_more_than_it_kept() -> None:
    """Half of S0 went to a new segment that holds almost nobody else of before: a convincing pair."""
    members = {0: ids_of("a", 40), 1: ids_of("b", 40)}
    prev = previous({0: [0.0, 0.0], 1: [5.0, 5.0]}, members)
    new = table_model([[0.0, 0.0], [5.0, 5.0], [9.0, 0.0]])
    at = (
        near([0.0, 0.0], members[0][:18])
        | near([9.0, 0.0], members[0][18:28])
        | near([5.0, 5.0], members[0][28:])
    )
    at |= near([5.0, 5.0], members[1])
    ids = identity.match(prev, new, customers(at))
    kept = pair_of(ids, 0)
    assert kept["label"] == 0 and kept["overlap_share"] == pytest.approx(0.45) and kept["mutual_best"]
    assert kept["source_share"] == 1.0 and kept["kept"] and kept["reason"].startswith("mutual best")
    assert ids.ids == [0, 1, 2]


def test_without_shared_customers_centroids_decide_and_a_far_one_vanishes() -> None:
    prev = previous({0: [0.0, 0.0], 3: [5.0, 5.0]}, {0: ["x"], 3: ["y"]})  # nobody of these is new
    new = table_model([[0.1, 0.0], [20.0, 20.0], [-20.0, 9.0]])
    ids = identity.match(prev, new, customers(near([0.1, 0.0], ids_of("n", 5))))
    assert ids.info["method"] == "centroid_distance" and ids.info["shared_customers"] == 0
    assert ids.ids == [0, 4, 5]
    assert ids.kept_names == {0: "S0"}
    assert ids.info["vanished"] == [{"id": 3, "name": "S3"}]
    assert "centroid distance" in pair_of(ids, 3)["reason"] and not pair_of(ids, 3)["kept"]


def test_too_few_shared_customers_leave_it_to_centroids() -> None:
    prev = previous({0: [0.0, 0.0], 3: [5.0, 5.0]}, {0: ids_of("a", 20), 3: ids_of("b", 20)})
    new = table_model([[5.0, 5.1], [0.1, 0.0]])
    at = near([0.1, 0.0], ids_of("b", 3) + ids_of("n", 30)) | near(
        [5.0, 5.1], ids_of("m", 30) + ids_of("a", 6)
    )
    ids = identity.match(prev, new, customers(at))  # 9 shared customers, all in the "wrong" segment
    assert ids.info["method"] == "centroid_distance" and ids.info["shared_customers"] == 9
    assert ids.ids == [3, 0]
    assert pair_of(ids, 0)["reason"].startswith("only 9 shared customers: centroid distance 0.10 <= 1.5")


def test_a_segment_of_newcomers_takes_the_id_its_profile_had() -> None:
    """S1's customers all moved on (to S0's place); the new segment at S1's place is all newcomers."""
    members = {0: ids_of("a", 50), 1: ids_of("b", 20)}
    prev = previous({0: [0.0, 0.0], 1: [5.0, 5.0]}, members)
    new = table_model([[5.2, 5.0], [0.0, 0.0]])
    at = near([0.0, 0.0], members[0] + members[1]) | near([5.2, 5.0], ids_of("n", 25) + members[0][:2])
    ids = identity.match(prev, new, customers(at))
    assert ids.ids == [1, 0]
    assert "newcomers' segment (7% of its customers" in pair_of(ids, 1)["reason"]


def test_new_ids_never_reuse_an_id_of_the_chain() -> None:
    prev = previous({0: [0.0, 0.0], 1: [5.0, 5.0]}, next_free=9)  # ids 2..8 were used before
    ids = identity.match(prev, table_model([[0.0, 0.0], [5.0, 5.0], [40.0, 0.0]]))
    assert ids.ids == [0, 1, 9] and ids.info["next_free_id"] == 10


def write_chain(root: Path, n: int) -> list[Path]:
    """``n`` versions' metadata, each naming the one before as its predecessor."""
    paths = []
    for i in range(n):
        path = root / f"v{i:02d}"
        path.mkdir(parents=True)
        ident = (
            {"previous_version": f"v{i - 1:02d}", "previous_path": "/nowhere", "new_ids": [i]} if i else None
        )
        segments = [{"id": 0, "name": "A"}, {"id": i, "name": f"S{i}"}] if i else [{"id": 0, "name": "A"}]
        meta = {"version": path.name, "data": {"as_of": f"2011-{i % 12 + 1:02d}-01"}, "segments": segments}
        (path / "metadata.json").write_text(json.dumps(meta | {"identity": ident}))
        paths.append(path)
    return paths


def test_the_chain_walks_back_through_predecessors_present_up_to_twelve(tmp_path: Path) -> None:
    paths = write_chain(tmp_path / "shop", 14)
    last = json.loads((paths[-1] / "metadata.json").read_text())
    assert [m["version"] for m in walk_chain(paths[-1], last)] == [f"v{i:02d}" for i in range(2, 14)]
    assert [m["version"] for m in walk_chain(paths[-1], last, limit=3)] == ["v11", "v12", "v13"]
    (paths[9] / "metadata.json").unlink()  # a removed version ends the chain there
    rows = chain_rows(walk_chain(paths[-1], last))
    assert [r["version"] for r in rows] == ["v10", "v11", "v12", "v13"]
    assert rows[-1]["new"] == [13] and rows[-1]["names"] == {0: "A", 13: "S13"}
    assert format_chain(rows)[-1] == "names: 0 A, 13 S13"


def test_fresh_names_never_collide_with_kept_ones() -> None:
    assert identity.unique_names(["Loyal", "New", "Lost"], {0: "New", 2: "Lost"}) == [
        "New",
        "New (2)",
        "Lost",
    ]


def acquired_in_one_quarter(path: Path, prefix: str = "c") -> Path:
    """300 customers of three kinds, all acquired in Q1 2011, lines until 2011-06-30 (seeded)."""
    rng = np.random.default_rng(7)
    start, first_end, end = (pd.Timestamp(t).value for t in ("2011-01-01", "2011-03-31", "2011-06-30"))
    rows = []
    for kind, (orders, amount) in enumerate([(12, 200.0), (2, 20.0), (5, 60.0)]):
        for c in range(100):
            first = rng.integers(start, first_end)
            times = np.sort(np.r_[first, rng.integers(first, end, orders - 1)])
            for o, t in enumerate(times):
                value = round(amount * rng.uniform(0.8, 1.2), 2)
                rows.append(
                    (f"{prefix}{kind}-{c}", f"{kind}-{c}-{o}", pd.Timestamp(int(t)).isoformat(), value)
                )
    pd.DataFrame(rows, columns=["customer_id", "order_id", "timestamp", "amount"]).to_csv(path, index=False)
    return path


def train_at(data: Path, out: Path, as_of: str) -> tuple[Path, dict]:
    return train(
        TrainConfig(
            input=data,
            dataset=DatasetSpec(columns=ColumnMap(order_id="order_id", amount="amount")),
            out=out,
            name="q1",
            k=3,
            n_init=2,
            as_of=pd.Timestamp(as_of, tz="UTC"),
            report=False,
        )
    )


def old_ruler_tenure_gaps(first: dict, second_path: Path, second: dict) -> list[float]:
    """|previous tenure centroid mapped through the new scaler - new tenure centroid| per kept pair."""
    tenure = np.log1p(pd.read_parquet(second_path / "assignments.parquet")["tenure_days"].to_numpy())
    j = second["features"]["names"].index("tenure_days")
    new = {s["id"]: s["centroid_scaled"][j] for s in second["segments"]}
    gaps = []
    for seg in first["segments"]:
        mapped = (np.log1p(seg["centroid"]["tenure_days"]) - tenure.mean()) / tenure.std()
        gaps.append(abs(mapped - new[seg["id"]]))
    return gaps


@pytest.mark.parametrize("shared", [True, False], ids=["same customers", "no shared customers"])
def test_tenure_whose_scale_moves_with_as_of_keeps_every_identity(tmp_path: Path, shared: bool) -> None:
    """The reported failure: customers acquired within three months, as_of moved six months.

    On one ruler (the new scaler) tenure alone puts every old centroid many units from its new
    self; matching by customers, or (without shared customers) comparing as_of features in each
    model's own scale, keeps every id and name.
    """
    first_data = acquired_in_one_quarter(tmp_path / "q1.csv")
    second_data = first_data if shared else acquired_in_one_quarter(tmp_path / "other.csv", prefix="x")
    _, first = train_at(first_data, tmp_path, "2011-07-01")
    second_path, second = train_at(second_data, tmp_path, "2012-01-01")
    ident = second["identity"]
    assert ident["method"] == ("shared_customers" if shared else "centroid_distance")
    assert ident["own_scale_features"] == ["recency_days", "tenure_days"]
    assert {s["id"]: s["name"] for s in second["segments"]} == {s["id"]: s["name"] for s in first["segments"]}
    assert ident["new_ids"] == [] and ident["vanished"] == []
    assert all(p["kept"] and p["distance"] < MATCH_MAX_DISTANCE for p in ident["pairs"])
    if shared:
        assert all(p["overlap_share"] > 0.9 for p in ident["pairs"])
    assert min(old_ruler_tenure_gaps(first, second_path, second)) > 3 * MATCH_MAX_DISTANCE


def assert_same_ids_and_names(first: dict, second: dict) -> dict:
    ident = second["identity"]
    assert ident["previous_version"] == first["version"] and ident["previous_default"] is True
    assert ident["method"] == "shared_customers"
    assert ident["new_ids"] == [] and ident["vanished"] == []
    assert {s["id"]: s["name"] for s in second["segments"]} == {s["id"]: s["name"] for s in first["segments"]}
    mig = ident["migration"]
    assert mig["customers_in_both"] == first["data"]["customers"] == ident["shared_customers"]
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
                k_min=2,
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
    assert sum(p["kept"] for p in ident["pairs"]) + len(ident["new_ids"]) == 4
    assert len(ident["pairs"]) == 3 and ident["next_free_id"] == 3 + len(ident["new_ids"])
    assert min(ident["new_ids"]) == 3  # ids 0..2 existed: an extra segment is id 3 or more


def test_an_altered_previous_model_is_refused(tmp_path: Path) -> None:
    path, _ = train_sample(tmp_path, k=3)
    (path / "assignments.parquet").write_bytes(b"not parquet")
    with pytest.raises(ArtifactError, match=r"assignments\.parquet is missing or altered"):
        train_sample(tmp_path, k=3)  # refused before fitting


def assert_mostly_staying_segments_kept(first: dict, second: dict) -> None:
    """Every previous segment most of whose shared customers share one new segment keeps id and name."""
    names = {s["id"]: s["name"] for s in second["segments"]}
    by_label = {s["label"]: s["id"] for s in second["segments"]}
    for pair in second["identity"]["pairs"]:
        if pair["overlap_share"] > 0.5:
            assert pair["kept"], pair
        if pair["kept"]:
            assert by_label[pair["label"]] == pair["previous_id"]
            assert names[pair["previous_id"]] == pair["previous_name"]
            assert {s["id"]: s["name"] for s in first["segments"]}[pair["previous_id"]] == pair[
                "previous_name"
            ]


@pytest.mark.slow
def test_online_retail_split_first_half_then_whole_year(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = shared_file("online_retail/online_retail_2010-2011.csv.gz")
    common = ["--input", str(data), "--dataset", str(ONLINE_RETAIL_SPEC), "--out", str(tmp_path)]
    common += ["--name", "or", "--k", "5", "--n-init", "3", "--no-report"]
    assert main(["fit", *common, "--until", "2011-07-01", "--as-of", "2011-07-01"]) == 0
    assert main(["fit", *common]) == 0
    out = capsys.readouterr().out
    first, second = (json.loads(p.read_text()) for p in sorted((tmp_path / "or").glob("*/metadata.json")))
    assert first["data"]["date_range"][1] < "2011-07-01"
    ident = second["identity"]
    assert ident["previous_version"] == first["version"] and ident["method"] == "shared_customers"
    mig = ident["migration"]
    assert mig["customers_in_both"] == first["data"]["customers"] == ident["shared_customers"]
    assert mig["only_previous"] == 0  # nobody of H1 disappears
    assert mig["only_new"] == second["data"]["customers"] - first["data"]["customers"]
    assert sum(map(sum, mig["counts"])) == mig["customers_in_both"]
    assert_mostly_staying_segments_kept(first, second)
    kept = [p for p in ident["pairs"] if p["kept"]]
    assert len(kept) >= 4, "the whole year keeps at least four of the first half's five segments"
    assert "migration of the" in out and "prev\\new" in out and "kept" in out
    print("\n".join(format_migration(ident)))  # shown with pytest -s


MONTH_ENDS = ["2011-07-01", "2011-08-01", "2011-09-01", "2011-10-01", "2011-11-01", "2011-12-01", None]


@pytest.mark.slow
def test_online_retail_monthly_retrains_keep_recognisable_segments_and_report_the_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trained at the end of each month from 2011-06 to 2011-12, each on all lines so far, each
    with the previous as predecessor: the file is read once, the steps run in-process."""
    data = shared_file("online_retail/online_retail_2010-2011.csv.gz")
    # k is given: its stability score is recorded, not used; 5 bootstrap fits instead of 40 keep it fast.
    monkeypatch.setattr(stability, "STABILITY_RESAMPLES", 5)
    dataset = DatasetSpec.from_toml(ONLINE_RETAIL_SPEC)
    loaded = load_transactions(data, dataset)
    metas: list[dict] = []
    for i, end in enumerate(MONTH_ENDS):
        at = pd.Timestamp(end, tz="UTC") if end else None
        config = TrainConfig(input=data, dataset=dataset, out=tmp_path, name="monthly", k=5, n_init=2)
        config.until, config.as_of, config.report = at, at, i == len(MONTH_ENDS) - 1
        path, meta = train(config, partial(prepare, loaded=loaded))
        if metas:
            assert meta["identity"]["previous_version"] == metas[-1]["version"]
            assert meta["identity"]["method"] == "shared_customers"
            assert_mostly_staying_segments_kept(metas[-1], meta)
        metas.append(meta)
    rows = chain_rows(walk_chain(path, metas[-1]))
    assert [r["version"] for r in rows] == [m["version"] for m in metas]
    assert [r["as_of"] for r in rows][:2] == ["2011-07-01", "2011-08-01"]
    kept = [len(r["kept"]) for r in rows[1:]]
    assert min(kept) >= 4, kept
    html = (path / "report.html").read_text(encoding="utf-8")
    assert "Segment ids across versions" in html and all(m["version"] in html for m in metas)
    assert "figures/lineage.png" in json.loads((path / "report.json").read_text())["figures"]
    print("\n".join(format_chain(rows)))  # shown with pytest -s
