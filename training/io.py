"""Read CSV (plain or gzip'd) and Parquet files, and normalize ids."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shopper_segments.core.errors import DataError


def read_header(path: Path) -> list[str]:
    """Column names of a CSV (plain or gzip'd) or Parquet file.

    Raises
    ------
    DataError
        When the file is missing, empty or unreadable.
    """
    if not path.is_file():
        raise DataError(f"input file {path} does not exist")
    try:
        if path.name.lower().endswith((".parquet", ".pq")):
            return list(pq.read_schema(path).names)
        return list(pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns)
    except (pd.errors.EmptyDataError, EOFError) as exc:
        raise DataError(f"{path}: the file is empty") from exc
    except (OSError, UnicodeDecodeError, pa.ArrowException) as exc:
        raise DataError(f"{path}: cannot be read: {exc}") from exc


def read_table(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read CSV (plain or gzip'd) or Parquet; CSV columns are read as text.

    Raises
    ------
    DataError
        When the file is missing or empty, or lacks one of ``columns``.
    """
    header = read_header(path)
    is_parquet = path.name.lower().endswith((".parquet", ".pq"))
    missing = [c for c in (columns or []) if c not in header]
    if missing:
        raise DataError(f"{path}: column(s) {missing} not found; the file has {header}")
    try:
        if is_parquet:
            frame = pd.read_parquet(path, columns=columns)
        else:
            frame = pd.read_csv(
                path, usecols=columns, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig"
            )
    except (ValueError, OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: cannot be read: {exc}") from exc
    if frame.empty:
        raise DataError(f"{path}: no data rows")
    return frame


#: Canonical text columns the Parquet reader dictionary-encodes while decoding. Not
#: ``order_id``: with millions of distinct ids per file, unifying the row groups'
#: dictionaries costs more than hashing the plain column once (measured at 10M lines).
DICTIONARY_COLUMNS = ("customer_id", "category", "product_id")


def parquet_columns(path: Path, columns: list[str]) -> dict[str, Callable[[], pa.ChunkedArray]]:
    """Loaders of the canonical ``columns`` present in a Parquet file, one column at a time.

    Each loader reads its column when called (the reader decodes and decompresses in
    C++ without the GIL); the columns in :data:`DICTIONARY_COLUMNS` come dictionary-encoded,
    built by the reader while decoding, so that their text is never materialized.

    Raises
    ------
    DataError
        When the file is missing or unreadable, or lacks the ``customer_id`` column.
    """
    header = read_header(path)
    if "customer_id" not in header:
        raise DataError(f"{path}: column 'customer_id' not found; the file has {header}")

    def load(name: str) -> pa.ChunkedArray:
        dictionary = [name] if name in DICTIONARY_COLUMNS else None
        try:
            table = pq.read_table(path, columns=[name], read_dictionary=dictionary, use_threads=False)
            return table.column(0)
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"{path}: column {name!r} cannot be read: {exc}") from exc

    return {c: partial(load, c) for c in columns if c in header}


def normalize_ids(values: pd.Series) -> pd.Series:
    """Ids as text; ids written as floats ("17850.0") lose the ".0"."""
    text = values.astype("string").str.strip()
    floaty = text.str.endswith(".0").fillna(False)
    if floaty.any():  # the regex only where an id may be a float (5x faster on millions of ids)
        text = text.mask(floaty, text[floaty].str.replace(r"^(\d+)\.0$", r"\1", regex=True))
    return text.replace("", pd.NA)
