"""Request models and their field types: the API's one input schema, also in the OpenAPI document."""

from __future__ import annotations

import datetime as dt
from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    field_validator,
    model_validator,
)

ID_MAX = 128
Id = Field(min_length=1, max_length=ID_MAX)
MAX_FEATURE_KEYS = 64
#: Printable text with at least one non-space character (any script; no control characters).
ID_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"


def _iso_text(value: Any) -> Any:
    if isinstance(value, int | float):
        raise ValueError("must be an ISO 8601 string such as 2011-12-09T12:50:00Z, not a number")
    return value


OUT_OF_UTC_RANGE = "is out of range once converted to UTC"


def _to_utc(value: dt.datetime) -> dt.datetime:
    """Naive is UTC; an offset is converted to UTC (refused if that leaves years 1-9999)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(OUT_OF_UTC_RANGE) from None


def _printable_id(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError("must not contain control characters")
    return value


#: ISO 8601 text, in UTC after validation.
Timestamp = Annotated[dt.datetime, BeforeValidator(_iso_text), AfterValidator(_to_utc)]
#: A JSON number (not a string or boolean) that is finite and fits a float.
Number = Annotated[float, Strict(), AllowInfNan(False)]
CustomerId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=ID_MAX),
    AfterValidator(_printable_id),
    Field(json_schema_extra={"pattern": ID_PATTERN}),
]
FeatureName = Annotated[str, StringConstraints(min_length=1, max_length=ID_MAX)]


class Transaction(BaseModel):
    """One transaction line. Money is ``amount`` (line total) or ``quantity`` x ``unit_price``.

    A negative amount or quantity is a return: it reduces net spend. Zero amounts or
    quantities and negative unit prices are errors.
    """

    model_config = ConfigDict(extra="forbid")

    order_id: str | None = Field(
        None,
        min_length=1,
        max_length=ID_MAX,
        description="order (invoice, basket) id; default: one visit per timestamp",
    )
    timestamp: Timestamp = Field(description="ISO 8601; without an offset it is read as UTC")
    amount: Number | None = Field(None, description="line total; negative: a return")
    quantity: Number | None = Field(None, description="units; negative: a return")
    unit_price: Number | None = Field(None, ge=0, description="price per unit (0 is refused)")
    category: str | None = Field(None, max_length=200)
    product_id: str | None = Field(None, max_length=ID_MAX)


class Customer(BaseModel):
    """A customer: either a transaction history or precomputed features (one of the two)."""

    model_config = ConfigDict(extra="forbid")

    customer_id: CustomerId = Field(description="any script; not blank, no control characters")
    transactions: list[Transaction] | None = Field(None, min_length=1)
    features: dict[FeatureName, Number] | None = Field(
        None,
        max_length=MAX_FEATURE_KEYS,
        description="precomputed features in original units, every model feature by name",
    )

    @model_validator(mode="after")
    def _one_input(self) -> Customer:
        if (self.transactions is None) == (self.features is None):
            raise ValueError("give exactly one of transactions or features")
        return self


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: Timestamp | None = Field(None, description="reference time; default now (UTC); naive is UTC")
    customers: list[Customer] = Field(min_length=1)
    explain: bool = Field(False, description="add per-feature explanations (also ?explain=true)")


class ReloadRequest(BaseModel):
    """Which model to activate: a directory under the model root, never a model itself."""

    model_config = ConfigDict(extra="forbid")

    model_dir: str | None = Field(
        None,
        min_length=1,
        max_length=1024,
        description="version directory, or name directory with LATEST, relative to the model root; "
        "omitted: re-resolve the configured model directory's LATEST",
    )

    @field_validator("model_dir")
    @classmethod
    def _under_the_root(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        path = PurePosixPath(value)
        if path.is_absolute():
            raise ValueError("must be relative to the model root, not an absolute path")
        if ".." in path.parts:
            raise ValueError("must not contain '..': only directories under the model root load")
        return value
