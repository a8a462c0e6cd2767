"""Training on bad inputs: `python -m training fit` exits 2 naming the problem, leaving no model behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shopper_segments.core import artifact
from shopper_segments.training.cli import main
from tests.conftest import ROOT

HEADER = "customer_id,timestamp,amount\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def varied(path: Path, customers: int = 40, seed: int = 0) -> Path:
    """A small seeded transaction file with distinct customers."""
    rng = np.random.default_rng(seed)
    rows = [HEADER]
    for c in range(customers):
        for _ in range(int(rng.integers(1, 6))):
            day = pd.Timestamp("2011-01-01") + pd.Timedelta(days=int(rng.integers(0, 300)))
            rows.append(f"c{c},{day:%Y-%m-%dT%H:%M:%S},{rng.uniform(1, 200):.2f}\n")
    return write(path, "".join(rows))


def fit(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Exit code and the error line (on stderr, after any progress lines)."""
    code = main(["fit", "--out", str(tmp_path / "out"), "--name", "m", "--amount-col", "amount", *args])
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if not line.startswith("[")]
    return code, captured.out + "\n".join(errors)


def assert_no_model(tmp_path: Path) -> None:
    out = tmp_path / "out"
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*")) if out.exists() else []
    assert [p for p in left if p != "m"] == [], left


CASES = [
    ("empty file", "", [], "the file is empty"),
    ("header only", HEADER, [], "no data rows"),
    (
        "only bad rows",
        HEADER + "a,not a date,1\nb,2011-13-45,2\nc,2011-01-01,lots\n",
        [],
        "3 of 3 rows with a customer id are bad",
    ),
    (
        "only returns",
        HEADER + "a,2011-01-01,-5\nb,2011-01-02,-3\nc,2011-01-03,-1\n",
        [],
        "none of the 3 customers has a purchase line",
    ),
    (
        "fewer customers than k",
        HEADER + "a,2011-01-01,5\nb,2011-01-02,30\nc,2011-01-03,7\n",
        ["--k", "5"],
        "3 customers are fewer than the 5 segments asked for",
    ),
    ("two customers", HEADER + "a,2011-01-01,5\nb,2011-01-02,30\n", [], "2 customers are too few"),
    (
        "all customers identical",
        HEADER + "".join(f"c{i},2011-01-01T10:00:00,10\nc{i},2011-02-01T10:00:00,10\n" for i in range(30)),
        [],
        "only 1 distinct customer profile(s) among 30 customers",
    ),
]


@pytest.mark.parametrize(("text", "extra", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_training_data_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, extra: list[str], message: str
) -> None:
    data = write(tmp_path / "lines.csv", text)
    code, output = fit(tmp_path, capsys, "--input", str(data), *extra)
    assert code == 2
    assert output.lstrip("\n").startswith("error: ")
    assert message in output
    assert_no_model(tmp_path)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            ["--amount-col", "Amount"],
            "column(s) ['Amount'] not found; the file has ['customer_id', 'timestamp', 'amount']",
        ),
        (["--customer-id-col", "client"], "column(s) ['client'] not found"),
        (["--timestamp-col", "amount"], "timestamp does not parse"),
        (["--amount-col", "timestamp"], "amount is not a number"),
    ],
    ids=[
        "unknown amount column",
        "unknown id column",
        "numbers as timestamps",
        "dates as amounts",
    ],
)
def test_wrong_column_mapping_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mapping: list[str], message: str
) -> None:
    data = varied(tmp_path / "lines.csv")
    code, output = fit(tmp_path, capsys, "--input", str(data), *mapping)
    assert code == 2, output
    assert message in output
    assert_no_model(tmp_path)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--k", "0"], "--k 0: a segmentation needs at least 2 segments"),
        (["--k", "1"], "--k 1: a segmentation needs at least 2 segments"),
        (["--k-min", "5", "--k-max", "3"], "need 2 <= k-min <= k-max"),
        (["--as-of", "next tuesday"], "--as-of 'next tuesday' is not an ISO 8601 time"),
        (["--as-of", "2000-01-01"], "is before the last transaction"),
        (["--dataset", "missing.toml"], "dataset spec missing.toml cannot be read"),
    ],
)
def test_impossible_options_are_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    data = varied(tmp_path / "lines.csv")
    code, output = fit(tmp_path, capsys, "--input", str(data), *options)
    assert code == 2, output
    assert message in output
    assert_no_model(tmp_path)


def test_invalid_dataset_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = varied(tmp_path / "lines.csv")
    spec = write(tmp_path / "spec.toml", "[columns\ncustomer_id = 'x'\n")
    code, output = fit(tmp_path, capsys, "--input", str(data), "--dataset", str(spec))
    assert code == 2
    assert "is not valid TOML" in output


def test_the_command_line_exits_2_without_a_traceback(tmp_path: Path) -> None:
    data = write(tmp_path / "empty.csv", "")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "training", "fit", "--input", str(data), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert f"error: {data}: the file is empty" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_a_failure_while_saving_leaves_no_partial_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = varied(tmp_path / "lines.csv")

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(artifact.pd.DataFrame, "to_parquet", disk_full)
    with pytest.raises(OSError, match="No space left"):
        fit(tmp_path, capsys, "--input", str(data), "--k", "3", "--no-report")
    assert_no_model(tmp_path)
    name_dir = tmp_path / "out" / "m"
    assert not name_dir.exists() or list(name_dir.iterdir()) == []  # no version, no .tmp-*, no LATEST


def test_a_good_file_still_trains(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = varied(tmp_path / "lines.csv")
    code, output = fit(tmp_path, capsys, "--input", str(data), "--k", "3", "--no-report")
    assert code == 0, output
    versions = [p for p in (tmp_path / "out" / "m").iterdir() if p.is_dir()]
    assert len(versions) == 1
    assert (versions[0] / artifact.METADATA).is_file()
