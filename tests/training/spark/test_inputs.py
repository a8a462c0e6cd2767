"""Directories and globs as --input: the local engine (pyarrow datasets) and Spark read them alike."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from shopper_segments.core.errors import DataError
from shopper_segments.training.config import TrainConfig
from shopper_segments.training.dataset import DatasetSpec
from shopper_segments.training.inputs import input_files, input_sha256
from shopper_segments.training.loading import load_transactions
from shopper_segments.training.spark import fit as spark_fit
from shopper_segments.training.train import prepare
from tests.conftest import ONLINE_RETAIL_SPEC, SAMPLE
from tests.training.spark.conftest import OPTIONS

DATASET = DatasetSpec.from_toml(ONLINE_RETAIL_SPEC)


def split_sample(directory: Path, parquet: bool = False) -> Path:
    """The bundled sample as two files (CSV as written, or Parquet of its text columns)."""
    directory.mkdir()
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as handle:
        header, *rows = handle.read().splitlines(keepends=True)
    half = len(rows) // 2
    text = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False, na_values=[""]) if parquet else None
    for i, part in enumerate((rows[:half], rows[half:])):
        if text is not None:
            (text.iloc[:half] if i == 0 else text.iloc[half:]).to_parquet(directory / f"part-{i}.parquet")
        else:
            (directory / f"part-{i}.csv").write_text(header + "".join(part), encoding="utf-8")
    (directory / "_SUCCESS").write_text("")  # a Spark writer's marker: not data
    return directory


def config(path: Path) -> TrainConfig:
    return TrainConfig(input=path, dataset=DATASET, k=3, report=False)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_directory_and_a_glob_load_as_the_single_file(tmp_path: Path, kind: str) -> None:
    directory = split_sample(tmp_path / "parts", parquet=kind == "parquet")
    assert [p.name for p in input_files(directory)] == [f"part-0.{kind}", f"part-1.{kind}"]
    whole = prepare(config(SAMPLE))
    for given in (directory, directory / f"*.{kind}"):
        parts = prepare(config(given))
        pd.testing.assert_frame_equal(parts.X, whole.X)
        assert parts.summary["rows_dropped"] == whole.summary["rows_dropped"]
        assert parts.summary["rows_read"] == whole.summary["rows_read"]
    assert input_sha256(directory) == input_sha256(directory / f"*.{kind}") != input_sha256(SAMPLE)


def test_bad_rows_of_several_files_name_the_file_and_line(tmp_path: Path) -> None:
    directory = split_sample(tmp_path / "parts")
    second = directory / "part-1.csv"
    text = second.read_text(encoding="utf-8").splitlines(keepends=True)
    text[3], n = re.subn(r",\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,", ",not a date,", text[3])  # line 4's InvoiceDate
    assert n == 1 and text[3].rstrip().split(",")[-2]  # one date replaced; the line has a customer id
    second.write_text("".join(text), encoding="utf-8")
    _, report = load_transactions(directory, DATASET)
    assert report.bad_rows == {"timestamp does not parse": 1}
    assert report.bad_examples == ["line part-1.csv:4: timestamp does not parse"]


def test_inputs_that_match_nothing_or_mix_kinds_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no CSV or Parquet files"):
        input_files(tmp_path / "empty")
    with pytest.raises(DataError, match="no CSV or Parquet files"):
        input_files(tmp_path / "nothing-*.csv")
    mixed = split_sample(tmp_path / "mixed")
    pd.DataFrame({"a": [1]}).to_parquet(mixed / "other.parquet")
    with pytest.raises(DataError, match="mixes CSV and Parquet"):
        input_files(mixed)


@pytest.mark.spark
def test_spark_reads_a_directory_as_the_local_engine_reads_the_file(spark: Any, tmp_path: Path) -> None:
    directory = split_sample(tmp_path / "parts")
    whole = prepare(config(SAMPLE))
    parts = spark_fit.prepare(config(directory), OPTIONS)
    pd.testing.assert_frame_equal(parts.X, whole.X, check_index_type=False, atol=1e-9, rtol=0)
    for key in ("rows_read", "rows_dropped", "customers", "customers_dropped", "as_of", "monthly"):
        assert parts.summary[key] == whole.summary[key], key
    renamed = TrainConfig(input=directory, dataset=DATASET.with_overrides(customer_id="Customer"), k=3)
    with pytest.raises(DataError, match=r"column\(s\) \['Customer'\] not found"):
        spark_fit.prepare(renamed, OPTIONS)
