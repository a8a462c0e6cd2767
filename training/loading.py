"""Load transaction files and customer tables into canonical lines, reporting bad rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from shopper_segments.core.errors import DataError
from shopper_segments.core.rules import (
    MONEY_OUTCOMES,
    UNPRINTABLE_ID,
    line_money,
    normalize_ids,
    parse_timestamps,
    unprintable_ids,
)
from shopper_segments.training.dataset import ColumnMap, DatasetSpec
from shopper_segments.training.inputs import input_files, is_parquet
from shopper_segments.training.io import read_table

MAX_REPORTED_BAD_ROWS = 20


@dataclass
class LoadReport:
    """What loading read and what it rejected."""

    rows_read: int = 0
    bad_rows: dict[str, int] = field(default_factory=dict)
    bad_examples: list[str] = field(default_factory=list)
    category_missing: int = 0


def _numeric(values: pd.Series) -> pd.Series:
    num = pd.to_numeric(values, errors="coerce").astype(np.float64)
    return num.where(np.isfinite(num))


def _note_bad(report: LoadReport, reason: str, mask: pd.Series, line_no: pd.Series) -> None:
    count = int(mask.sum())
    if not count:
        return
    report.bad_rows[reason] = report.bad_rows.get(reason, 0) + count
    room = MAX_REPORTED_BAD_ROWS - len(report.bad_examples)
    for line in line_no[mask].head(max(room, 0)):
        report.bad_examples.append(f"line {line}: {reason}")


def load_transactions(path: Path, spec: DatasetSpec) -> tuple[pd.DataFrame, LoadReport]:
    """Read a transaction file into canonical lines.

    Rows whose fields can't be parsed are rejected and reported with their line
    numbers (capped); loading fails when more than ``spec.max_bad_fraction`` of the
    rows with a customer id are bad. Rows without a customer id are kept here
    (``customer_id`` NA) so that cleaning counts them.
    """
    check_money_columns(spec.columns)
    files = input_files(path)
    raw, line_no = _read_inputs(files, spec.columns.source_columns(), path)
    report = LoadReport(rows_read=len(raw))
    categories = category_lookup(spec, files[0].parent)
    out, bad = canonical_lines(raw, spec, line_no, report, categories)
    check_bad_fraction(path, spec, report, int(out["customer_id"].notna().sum()), int(bad.sum()))
    return out[~bad].reset_index(drop=True), report


def _read_inputs(files: list[Path], columns: list[str], path: Path) -> tuple[pd.DataFrame, pd.Series]:
    """The raw rows of the input files and each row's line number (``file:line`` for several files).

    Several Parquet files are read as one pyarrow dataset; CSV files one by one as
    :func:`training.io.read_table` reads one (text columns, the same parsing).
    """
    if len(files) == 1:
        raw = read_table(files[0], columns)
        first = 0 if is_parquet(files[0]) else 2
        return raw, pd.Series(np.arange(len(raw)) + first, index=raw.index)
    if is_parquet(files[0]):
        try:
            dataset = ds.dataset([str(f) for f in files], format="parquet")
            missing = [c for c in columns if c not in dataset.schema.names]
            if missing:
                raise DataError(
                    f"{path}: column(s) {missing} not found; the files have {dataset.schema.names}"
                )
            tables = [frag.to_table(columns=columns) for frag in dataset.get_fragments()]
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot be read: {exc}") from exc
        frames = [t.to_pandas() for t in tables]
        first = 0
    else:
        frames = [read_table(f, columns) for f in files]
        first = 2
    numbers = [
        pd.Series([f"{f.name}:{i + first}" for i in range(len(fr))])
        for f, fr in zip(files, frames, strict=True)
    ]
    raw = pd.concat(frames, ignore_index=True)
    if raw.empty:
        raise DataError(f"{path}: no data rows")
    return raw, pd.Series(pd.concat(numbers, ignore_index=True).to_numpy(), index=raw.index)


def check_money_columns(cm: ColumnMap) -> None:
    if cm.amount is None and (cm.quantity is None) != (cm.unit_price is None):
        raise DataError("money needs either an amount column or both quantity and unit_price")


def check_bad_fraction(path: Path, spec: DatasetSpec, report: LoadReport, n_with_id: int, n_bad: int) -> None:
    """Fail when more than ``spec.max_bad_fraction`` of the rows with a customer id are bad."""
    if n_with_id and n_bad / n_with_id > spec.max_bad_fraction:
        shown = "; ".join(report.bad_examples[:5])
        raise DataError(
            f"{path}: {n_bad} of {n_with_id} rows with a customer id are bad "
            f"({n_bad / n_with_id:.1%} > {spec.max_bad_fraction:.1%} allowed): {shown}"
        )


def canonical_lines(
    raw: pd.DataFrame,
    spec: DatasetSpec,
    line_no: pd.Series,
    report: LoadReport,
    categories: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """Map raw text columns (a whole file or one chunk of it) to canonical lines.

    Parameters
    ----------
    raw : DataFrame
        The file's own columns, as text.
    line_no : Series
        The file line number of each row (for error reports).
    report : LoadReport
        Receives bad-row counts and examples.
    categories : Series, optional
        product_id -> category lookup (from :func:`category_lookup`).

    Returns
    -------
    lines : DataFrame
        Canonical columns for every row (bad rows included).
    bad : Series of bool
        Rows that have a customer id but a field that does not parse.
    """
    cm = spec.columns
    out = pd.DataFrame(index=raw.index)
    out["customer_id"] = normalize_ids(raw[cm.customer_id])
    has_id = out["customer_id"].notna()
    out["timestamp"] = parse_timestamps(raw[cm.timestamp], spec.timezone)
    bad = pd.Series(False, index=raw.index)
    _mark(report, bad, unprintable_ids(out["customer_id"]), f"customer_id {UNPRINTABLE_ID}", line_no)
    _mark(report, bad, has_id & out["timestamp"].isna(), "timestamp does not parse", line_no)
    if cm.order_id:
        out["order_id"] = normalize_ids(raw[cm.order_id])
    if cm.amount is not None or cm.quantity is not None:
        given = {c: getattr(cm, c) for c in ("amount", "quantity", "unit_price")}
        numbers = {c: _numeric(raw[col]) if col else None for c, col in given.items()}
        for c, col in given.items():
            unread = numbers[c]
            if col is not None and unread is not None and unread.isna().any():  # a cell, but no number
                text = raw[col][unread.isna()].astype("string").str.strip()
                written = (text.notna() & (text != "")).reindex(raw.index, fill_value=False)
                _mark(report, bad, has_id & ~bad & written, f"{c} is not a number", line_no)
        a, q, u = (None if v is None else v.to_numpy(np.float64) for v in numbers.values())
        amount, outcome = line_money(a, q, u, has_money=True)
        for code, (rule, column, message) in MONEY_OUTCOMES.items():
            if code >= 10:  # invalid lines: bad rows
                hit = has_id & ~bad & pd.Series(outcome == code, index=raw.index)
                _mark(report, bad, hit, f"{rule}: {column + ' ' if column else ''}{message}", line_no)
        out["amount"] = amount
        out["drop"] = outcome  # drops (zero quantity, price or amount) are counted by clean_lines
    if cm.product_id:
        out["product_id"] = normalize_ids(raw[cm.product_id])
    if cm.category:
        out["category"] = raw[cm.category].astype("string")
    elif categories is not None:
        if "product_id" not in out:
            raise DataError("a categories file needs the product_id column mapped")
        out["category"] = out["product_id"].map(categories).astype("string")
        report.category_missing += int(out["category"].isna().sum())
    return out, bad


def _mark(report: LoadReport, bad: pd.Series, mask: pd.Series, reason: str, line_no: pd.Series) -> None:
    _note_bad(report, reason, mask, line_no)
    bad |= mask


def category_lookup(spec: DatasetSpec, base: Path) -> pd.Series | None:
    """The product_id -> category table of ``spec`` (None without a categories file)."""
    if not (spec.categories_file and spec.categories_column) or spec.columns.category:
        return None
    if spec.columns.product_id is None:
        raise DataError("a categories file needs the product_id column mapped")
    cat_path = Path(spec.categories_file or "")
    if not cat_path.is_absolute() and not cat_path.exists():
        cat_path = base / cat_path
    column = spec.categories_column or "category"
    table = read_table(cat_path, [spec.categories_key, column])
    keys = normalize_ids(table[spec.categories_key])
    mapping = pd.Series(table[column].astype("string").to_numpy(), index=keys.to_numpy())
    return mapping[~mapping.index.duplicated()]


def load_customer_table(
    path: Path, columns: list[str], id_column: str | None, max_bad_fraction: float = 0.01
) -> tuple[pd.DataFrame, LoadReport]:
    """Read chosen numeric columns of a customer-level table (index: customer id)."""
    raw = read_table(path, [*columns, *([id_column] if id_column else [])])
    report = LoadReport(rows_read=len(raw))
    line_no = pd.Series(np.arange(len(raw)) + 2, index=raw.index)
    values = pd.DataFrame({c: _numeric(raw[c]) for c in columns}, index=raw.index)
    bad = pd.Series(False, index=raw.index)
    for c in columns:
        _mark(report, bad, values[c].isna() & ~bad, f"{c} is not a number", line_no)
    if bad.sum() / len(raw) > max_bad_fraction:
        raise DataError(
            f"{path}: {int(bad.sum())} of {len(raw)} rows are bad: " + "; ".join(report.bad_examples[:5])
        )
    ids = normalize_ids(raw[id_column]) if id_column else line_no.astype("string")
    values.index = pd.Index(ids.to_numpy(), name="customer_id")
    values = values[~bad.to_numpy()]
    if values.index.duplicated().any():
        dupes = list(values.index[values.index.duplicated()][:5])
        raise DataError(f"{path}: duplicate customer ids in {id_column}: {dupes}")
    return values, report
