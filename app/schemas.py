"""Request models and their field types: the API's one input schema, also in the OpenAPI document."""

from __future__ import annotations

import datetime as dt
from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from typing_extensions import TypedDict

from shopper_segments.core.rules import check_id, parse_timestamp

ID_MAX = 128
Id = Field(min_length=1, max_length=ID_MAX)
MAX_FEATURE_KEYS = 64
#: Printable text with at least one non-space character (any script; no control characters).
ID_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"


def _rulebook_time(value: Any) -> dt.datetime:
    """Any timestamp text, by the rulebook (:func:`segments_core.rules.parse_timestamp`)."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return parse_timestamp(value)


def _printable_id(value: str) -> str:
    return check_id(value)  # the rulebook's id rules (blank, unprintable), as training reads ids


#: ISO 8601 text by the rulebook (extended, basic, date-only; never a number), in UTC.
Timestamp = Annotated[dt.datetime, PlainValidator(_rulebook_time, json_schema_input_type=str)]
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

    The rulebook (:mod:`segments_core.rules`) decides what each line means: a negative
    amount or quantity is a return; zero amounts, quantities or prices are dropped and
    counted; a negative unit price makes the customer invalid.
    """

    model_config = ConfigDict(extra="forbid")

    order_id: str | None = Field(
        None,
        min_length=1,
        max_length=ID_MAX,
        description="order (invoice, basket) id; default: one visit per timestamp",
    )
    timestamp: Timestamp = Field(
        description="ISO 8601 (extended, basic or date-only); without an offset it is in the model's "
        "timezone (GET /v1/model: features.timezone, UTC unless trained otherwise)"
    )
    amount: Number | None = Field(None, description="line total; negative: a return")
    quantity: Number | None = Field(None, description="units; negative: a return")
    unit_price: Number | None = Field(None, description="price per unit (0: dropped; negative: invalid)")
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


#: Documented examples of :class:`AssignRequest` (OpenAPI): timestamps in each accepted form
#: (extended with Z, with an offset, basic, date-only, naive), and precomputed features.
ASSIGN_EXAMPLES: list[dict[str, Any]] = [
    {
        "as_of": "2011-12-10T00:00:00Z",
        "customers": [
            {
                "customer_id": "12347",
                "transactions": [
                    {"order_id": "536626", "timestamp": "2011-12-01T14:22:00Z", "amount": 25.5},
                    {"order_id": "537001", "timestamp": "2011-11-20T09:15:00+01:00", "amount": 40.0},
                    {
                        "order_id": "538002",
                        "timestamp": "20111105T101500Z",
                        "quantity": 6,
                        "unit_price": 2.1,
                        "category": "kitchen",
                    },
                    {"timestamp": "2011-10-02", "amount": 12.0},
                    {"order_id": "539900", "timestamp": "2011-12-05T16:00:00", "amount": -5.0},
                ],
            }
        ],
    },
    {
        "customers": [
            {
                "customer_id": "C-1001",
                "features": {
                    "recency_days": 12,
                    "frequency": 5,
                    "monetary": 420.5,
                    "avg_order_value": 84.1,
                    "tenure_days": 300,
                },
            }
        ],
        "explain": True,
    },
]


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [*ASSIGN_EXAMPLES]})

    as_of: Timestamp | None = Field(None, description="reference time; default now (UTC); naive is UTC")
    customers: list[Customer] = Field(min_length=1)
    explain: bool = Field(False, description="add per-feature explanations (also ?explain=true)")
    strict: bool = Field(
        False,
        description="refuse the whole request (422) when any customer is invalid or has no purchase; "
        "default: each customer is answered in its own slot (also ?strict=true)",
    )


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


class _IdOnly(TypedDict):
    customer_id: CustomerId


_ID = TypeAdapter(_IdOnly)


def usable_id(value: Any) -> str | None:
    """``value`` as a valid customer id (normalized by the rulebook), or None when it is not one."""
    try:
        return _ID.validate_python({"customer_id": value})["customer_id"]
    except ValidationError:
        return None
