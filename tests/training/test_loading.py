"""Loading transaction files through column mappings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shopper_segments.core.errors import DataError
from shopper_segments.training.dataset import ColumnMap, DatasetSpec
from shopper_segments.training.loading import load_transactions
from tests.conftest import ONLINE_RETAIL_SPEC, SAMPLE


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_online_retail_sample_maps_and_normalizes_ids() -> None:
    lines, report = load_transactions(SAMPLE, DatasetSpec.from_toml(ONLINE_RETAIL_SPEC))
    assert report.rows_read == 12_304
    ids = lines["customer_id"].dropna()
    assert not ids.str.endswith(".0").any()  # "17850.0" -> "17850"
    assert lines["customer_id"].isna().sum() == 300
    assert str(lines["timestamp"].dtype) == "datetime64[ns, UTC]"
    cancelled = lines[lines["order_id"].str.startswith("C")]
    assert (cancelled["amount"] < 0).all()


def test_amount_from_quantity_times_unit_price(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "cid,inv,when,q,p\n1,A,2024-01-01,3,2.5\n1,B,2024-01-02,-1,2.5\n")
    spec = DatasetSpec(
        ColumnMap(customer_id="cid", order_id="inv", timestamp="when", quantity="q", unit_price="p")
    )
    lines, _ = load_transactions(path, spec)
    assert lines["amount"].tolist() == [7.5, -2.5]


def test_bad_rows_reported_with_line_numbers(tmp_path: Path) -> None:
    rows = ["c,o,t,a"] + [f"{i},{i},2024-01-01,1.0" for i in range(200)] + ["5,x,not-a-date,1.0"]
    path = write(tmp_path / "t.csv", "\n".join(rows) + "\n")
    spec = DatasetSpec(ColumnMap(customer_id="c", order_id="o", timestamp="t", amount="a"))
    lines, report = load_transactions(path, spec)
    assert len(lines) == 200
    assert report.bad_rows == {"timestamp does not parse": 1}
    assert report.bad_examples == ["line 202: timestamp does not parse"]


def test_too_many_bad_rows_fail_with_a_clear_message(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "c,o,t,a\n1,1,2024-01-01,abc\n2,2,2024-01-01,1\n")
    spec = DatasetSpec(ColumnMap(customer_id="c", order_id="o", timestamp="t", amount="a"))
    with pytest.raises(DataError, match=r"line 2: amount is not a number"):
        load_transactions(path, spec)


def test_categories_looked_up_by_product(tmp_path: Path) -> None:
    write(tmp_path / "products.csv", "product_id,department\n10,GROCERY\n11,DRUG GM\n")
    path = write(tmp_path / "t.csv", "h,b,ts,v,p\n1,1,2024-01-01,2.0,10\n1,1,2024-01-01,1.0,99\n")
    spec = DatasetSpec(
        ColumnMap(customer_id="h", order_id="b", timestamp="ts", amount="v", product_id="p"),
        categories_file="products.csv",
        categories_column="department",
    )
    lines, report = load_transactions(path, spec)
    assert lines["category"].tolist()[0] == "GROCERY"
    assert pd.isna(lines["category"].tolist()[1])
    assert report.category_missing == 1


def test_the_spec_sets_how_many_categories_become_features(tmp_path: Path) -> None:
    from shopper_segments.training.config import TrainConfig
    from shopper_segments.training.dataset import DEFAULT_TOP_CATEGORIES

    spec = tmp_path / "shop.toml"
    spec.write_text('[categories]\nfile = "p.csv"\ncolumn = "dept"\ntop = 3\n')
    dataset = DatasetSpec.from_toml(spec)
    assert dataset.top_categories == 3
    assert TrainConfig(input=tmp_path, dataset=dataset).categories_kept == 3
    assert (
        TrainConfig(input=tmp_path, dataset=dataset, top_categories=6).categories_kept == 6
    )  # the option wins
    assert TrainConfig(input=tmp_path).categories_kept == DEFAULT_TOP_CATEGORIES
    for bad in ("0", "2.5", '"four"', "true"):
        spec.write_text(f'[categories]\ncolumn = "dept"\ntop = {bad}\n')
        with pytest.raises(DataError, match=r"\[categories\] top must be a whole number >= 1"):
            DatasetSpec.from_toml(spec)
