"""The description of a transaction file: its column map and TOML dataset spec.

A :class:`ColumnMap` maps a file's own headers to the canonical line fields
(customer_id, order_id, timestamp, amount or quantity x unit_price, category,
product_id). It comes from CLI options and/or a small TOML dataset spec.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from shopper_segments.core.errors import DataError

# Product categories kept as features when neither the spec nor --top-categories says.
DEFAULT_TOP_CATEGORIES = 8


@dataclass(frozen=True)
class ColumnMap:
    """Which of a file's columns holds each canonical field (None: absent)."""

    customer_id: str = "customer_id"
    timestamp: str = "timestamp"
    order_id: str | None = None
    amount: str | None = None
    quantity: str | None = None
    unit_price: str | None = None
    category: str | None = None
    product_id: str | None = None

    def source_columns(self) -> list[str]:
        return [v for f in fields(self) if (v := getattr(self, f.name)) is not None]


@dataclass(frozen=True)
class DatasetSpec:
    """A TOML dataset spec: column map plus optional category lookup and parsing rules."""

    columns: ColumnMap = field(default_factory=ColumnMap)
    categories_file: str | None = None
    categories_key: str = "product_id"
    categories_column: str | None = None
    top_categories: int | None = None
    timezone: str = "UTC"
    max_bad_fraction: float = 0.01

    @classmethod
    def from_toml(cls, path: Path) -> DatasetSpec:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise DataError(f"dataset spec {path} cannot be read: {exc.strerror or exc}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"dataset spec {path} is not valid TOML: {exc}") from exc
        known = {f.name for f in fields(ColumnMap)}
        cols = data.get("columns", {})
        unknown = set(cols) - known
        if unknown:
            raise DataError(f"{path}: unknown canonical fields {sorted(unknown)}")
        cats = data.get("categories", {})
        parse = data.get("parsing", {})
        return cls(
            columns=ColumnMap(**cols),
            categories_file=cats.get("file"),
            categories_key=cats.get("key", "product_id"),
            categories_column=cats.get("column"),
            top_categories=_top(cats.get("top"), path),
            timezone=parse.get("timezone", "UTC"),
            max_bad_fraction=float(parse.get("max_bad_fraction", 0.01)),
        )

    def with_overrides(self, **overrides: Any) -> DatasetSpec:
        col_over = {k: v for k, v in overrides.items() if k in ColumnMap.__dataclass_fields__}
        top_over = {k: v for k, v in overrides.items() if k not in col_over}
        return replace(self, columns=replace(self.columns, **col_over), **top_over)


def _top(value: object, path: Path) -> int | None:
    """``[categories] top``: how many categories become features (the CLI's --top-categories wins)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataError(f"{path}: [categories] top must be a whole number >= 1, got {value!r}")
    return value
