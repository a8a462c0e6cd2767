"""Bulk scoring (python -m training assign): streaming, sharding, exact answers, errors."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from shopper_segments.core.errors import DataError
from shopper_segments.core.results import result_columns
from shopper_segments.training.bulk import score_file
from shopper_segments.training.cli import main as cli_main
from shopper_segments.training.dataset import DatasetSpec
from tests.conftest import ONLINE_RETAIL_SPEC, ROOT, SAMPLE

SPEC = DatasetSpec.from_toml(ONLINE_RETAIL_SPEC)


def read_out(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, dtype={"customer_id": str})
    return frame.set_index("customer_id").sort_index()


def test_bulk_equals_training_assignments(sample_model: tuple[Path, dict], tmp_path: Path) -> None:
    path, meta = sample_model
    report = score_file(path, SAMPLE, tmp_path / "out.csv", SPEC, shards=3)
    listed = read_out(tmp_path / "out.csv")
    # customers without a purchase are listed, without a segment, never left out
    absent = listed[listed["status"] == "no_purchases"]
    assert len(absent) == report.no_purchases and absent["segment_id"].isna().all()
    out = listed[listed["status"] == "assigned"]
    expected = pd.read_parquet(path / "assignments.parquet").set_index("customer_id").sort_index()
    assert list(out.index) == list(expected.index)
    assert (out["segment_id"] == expected["segment_id"]).all()
    assert (out["segment_name"] == expected["segment_name"]).all()
    for name in meta["features"]["names"]:
        assert (out[name] == expected[name]).all(), name
    # The same cleaning counts as training, although lines were split over shards.
    assert report.rows_read == meta["data"]["rows_read"]
    for reason, count in meta["data"]["rows_dropped"].items():
        assert report.rows_dropped.get(reason, 0) == count, reason
    assert report.no_purchases == meta["data"]["customers_dropped"]["no_purchases"]
    assert sum(report.segment_counts.values()) == len(out) == report.customers


def test_shards_and_block_size_do_not_change_answers(sample_model: tuple[Path, dict], tmp_path: Path) -> None:
    path, _ = sample_model
    score_file(path, SAMPLE, tmp_path / "one.parquet", SPEC, shards=1)
    # 8 KB blocks: ~100 chunks, so every customer's lines arrive in many pieces.
    report = score_file(path, SAMPLE, tmp_path / "many.parquet", SPEC, shards=17, block_bytes=8 << 10)
    assert report.shards == 17
    one, many = read_out(tmp_path / "one.parquet"), read_out(tmp_path / "many.parquet")
    pd.testing.assert_frame_equal(one, many)
    one = one[one["status"] == "assigned"]
    assert one["distance"].gt(0).all() and (one["next_distance"] >= one["distance"]).all()


def test_parquet_input_gives_the_csv_answers(sample_model: tuple[Path, dict], tmp_path: Path) -> None:
    path, _ = sample_model
    raw = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False, na_values=[""])
    raw.to_parquet(tmp_path / "in.parquet")
    score_file(path, SAMPLE, tmp_path / "a.csv", SPEC)
    score_file(path, tmp_path / "in.parquet", tmp_path / "b.csv", SPEC)
    pd.testing.assert_frame_equal(read_out(tmp_path / "a.csv"), read_out(tmp_path / "b.csv"))


def _with_bad_quantities(tmp_path: Path, rows: list[int], name: str = "bad.csv") -> Path:
    raw = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    raw.loc[rows, "Quantity"] = "many"
    out = tmp_path / name
    raw.to_csv(out, index=False)
    return out


def test_bad_rows_are_reported_with_their_line(sample_model: tuple[Path, dict], tmp_path: Path) -> None:
    path, _ = sample_model
    raw = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    with_id = raw.index[raw["CustomerID"] != ""]
    rows = [int(with_id[10]), int(with_id[9000])]
    src = _with_bad_quantities(tmp_path, rows)
    report = score_file(path, src, tmp_path / "out.csv", SPEC, block_bytes=16 << 10)
    assert report.rows_dropped["bad: quantity is not a number"] == 2
    # File line = row index + 2 (header, 1-based), also in later chunks.
    assert report.bad_row_examples == [f"line {r + 2}: quantity is not a number" for r in rows]


def test_too_many_bad_rows_fail_naming_lines(sample_model: tuple[Path, dict], tmp_path: Path) -> None:
    path, _ = sample_model
    raw = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    rows = [int(i) for i in raw.index[raw["CustomerID"] != ""][:500]]
    src = _with_bad_quantities(tmp_path, rows)
    with pytest.raises(DataError, match=r"500 of \d+ rows with a customer id are bad.*line 2: quantity"):
        score_file(path, src, tmp_path / "out.csv", SPEC)
    assert not (tmp_path / "out.csv").exists()


def test_lines_after_as_of_fail(sample_model: tuple[Path, dict], tmp_path: Path) -> None:
    path, _ = sample_model
    with pytest.raises(DataError, match=r"line \d+.*after as_of 2011-06-01"):
        score_file(path, SAMPLE, tmp_path / "out.csv", SPEC, as_of=pd.Timestamp("2011-06-01", tz="UTC"))


def test_as_of_override_moves_recency(sample_model: tuple[Path, dict], tmp_path: Path) -> None:
    path, meta = sample_model
    score_file(path, SAMPLE, tmp_path / "a.csv", SPEC)
    later = pd.Timestamp(meta["data"]["as_of"]) + pd.Timedelta(days=30)
    score_file(path, SAMPLE, tmp_path / "b.csv", SPEC, as_of=later)
    a, b = read_out(tmp_path / "a.csv"), read_out(tmp_path / "b.csv")
    assert ((b["recency_days"] - a["recency_days"]).round(9) == 30).all()
    assert (b["monetary"] == a["monetary"]).all()


def test_cli_assign_and_its_errors(
    sample_model: tuple[Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, meta = sample_model
    out = tmp_path / "out.parquet"
    cmd = [sys.executable, "-m", "training", "assign", "--model", str(path.parent), "--input", str(SAMPLE)]
    cmd += ["--dataset", str(ONLINE_RETAIL_SPEC), "--output", str(out), "--progress"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "customers scored" in done.stdout and "pass 2: score" in done.stderr
    frame = pd.read_parquet(out)
    assert list(frame.columns) == result_columns(meta["features"]["names"])  # the one result description
    # the error path in-process (the process's exit code is main's return value)
    bad = [*cmd[3:-3], "--customer-id-col", "Customer", "--output", str(tmp_path / "x.csv")]
    assert cli_main(bad) == 2
    assert "column(s) ['Customer'] not found" in capsys.readouterr().err


def test_generator_is_seeded_and_scores(sample_model: tuple[Path, dict], tmp_path: Path) -> None:
    path, _ = sample_model
    script = ROOT / "scripts" / "generate_transactions.py"
    for name in ("a.csv", "b.csv"):
        args = [
            sys.executable,
            str(script),
            "--lines",
            "20000",
            "--customers",
            "500",
            "--out",
            str(tmp_path / name),
        ]
        subprocess.run(args, check=True, capture_output=True, timeout=120)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    with (tmp_path / "a.csv").open("rb") as src, gzip.open(tmp_path / "a.csv.gz", "wb") as dst:
        dst.write(src.read())
    report = score_file(path, tmp_path / "a.csv.gz", tmp_path / "out.csv", SPEC, shards=4)
    assert report.rows_read >= 20_000
    assert report.rows_dropped["duplicate_lines"] > 0 and report.rows_dropped["missing_customer_id"] > 0
    assert 100 < report.customers <= 500


def _split(tmp_path: Path, suffix: str) -> tuple[Path, int, Path]:
    """The sample in two files of ``suffix`` under tmp_path/parts (a customer's lines in both),
    with a bad quantity in the second; the bad row's line in that file; the same as one CSV."""
    raw = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    half = len(raw) // 2
    second = raw.iloc[half:].copy()
    bad = int(second.index[second["CustomerID"] != ""][3])
    second.loc[bad, "Quantity"] = "many"
    parts = tmp_path / "parts"
    parts.mkdir()
    for name, frame in (("a", raw.iloc[:half]), ("b", second)):
        if suffix == ".parquet":
            frame.to_parquet(parts / f"{name}.parquet", index=False)
        else:
            frame.to_csv(parts / f"{name}{suffix}", index=False)
    (parts / "_SUCCESS").write_text("")  # what Spark writers leave: not data
    whole = tmp_path / "whole.csv"
    pd.concat([raw.iloc[:half], second]).to_csv(whole, index=False)
    first_line = 0 if suffix == ".parquet" else 2
    return parts, bad - half + first_line, whole


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_directory_or_glob_of_files_scores_as_their_lines_together(
    sample_model: tuple[Path, dict], tmp_path: Path, suffix: str
) -> None:
    path, _ = sample_model
    parts, bad_line, whole = _split(tmp_path, suffix)
    one = score_file(path, whole, tmp_path / "one.csv", SPEC, shards=3)
    by_dir = score_file(path, parts, tmp_path / "dir.csv", SPEC, shards=5)
    by_glob = score_file(path, Path(f"{parts}/*{suffix}"), tmp_path / "glob.csv", SPEC, shards=2)
    expected = read_out(tmp_path / "one.csv")
    for name in ("dir.csv", "glob.csv"):
        pd.testing.assert_frame_equal(read_out(tmp_path / name), expected)
    for report in (by_dir, by_glob):
        assert report.rows_read == one.rows_read and report.rows_dropped == one.rows_dropped
        assert report.bad_row_examples == [f"line b{suffix}:{bad_line}: quantity is not a number"]


def test_an_input_glob_matching_nothing_is_refused(sample_model: tuple[Path, dict], tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no CSV or Parquet files"):
        score_file(sample_model[0], tmp_path / "none-*.csv", tmp_path / "out.csv", SPEC)


@pytest.mark.parametrize("name", ["out.txt", "out.csv.gz", "out"])
def test_an_output_name_without_a_known_format_is_refused(
    sample_model: tuple[Path, dict], tmp_path: Path, name: str
) -> None:
    with pytest.raises(DataError, match=r"name a \.csv or \.parquet file"):
        score_file(sample_model[0], SAMPLE, tmp_path / name, SPEC)
    assert not (tmp_path / name).exists()
