"""Request and response models: the API's one schema, also the OpenAPI document."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

ID_MAX = 128
Id = Field(min_length=1, max_length=ID_MAX)


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
    timestamp: dt.datetime = Field(description="ISO 8601; without an offset it is read as UTC")
    amount: float | None = Field(None, allow_inf_nan=False, description="line total; negative: a return")
    quantity: float | None = Field(None, allow_inf_nan=False, description="units; negative: a return")
    unit_price: float | None = Field(None, allow_inf_nan=False, ge=0, description="price per unit")
    category: str | None = Field(None, max_length=200)
    product_id: str | None = Field(None, max_length=ID_MAX)


class Customer(BaseModel):
    """A customer: either a transaction history or precomputed features (one of the two)."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str = Id
    transactions: list[Transaction] | None = Field(None, min_length=1)
    features: dict[str, float] | None = Field(
        None, description="precomputed features in original units, every model feature by name"
    )

    @model_validator(mode="after")
    def _one_input(self) -> Customer:
        if (self.transactions is None) == (self.features is None):
            raise ValueError("give exactly one of transactions or features")
        return self


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: dt.datetime | None = Field(None, description="reference time; default now (UTC); naive is UTC")
    customers: list[Customer] = Field(min_length=1)


class NextSegment(BaseModel):
    segment_id: int
    segment_name: str
    distance: float


class CustomerResult(BaseModel):
    customer_id: str
    segment_id: int
    segment_name: str
    distance: float = Field(description="distance to the segment's centroid (scaled space)")
    next_segment: NextSegment | None
    features: dict[str, float] = Field(description="features in original units")


class AssignResponse(BaseModel):
    model_version: str
    as_of: dt.datetime
    results: list[CustomerResult]


class Segment(BaseModel):
    id: int
    name: str
    description: str
    size: int
    share: float
    revenue_share: float | None = None
    centroid: dict[str, float]
    median: dict[str, float]


class SegmentsResponse(BaseModel):
    model_version: str
    feature_names: list[str]
    segments: list[Segment]


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str
    name: str
    created_at: str
    algorithm: str
    data: dict[str, Any]
    features: dict[str, Any]
    selection: dict[str, Any]
    segments: list[dict[str, Any]]
    libraries: dict[str, str]
    artifacts: dict[str, str]


class Health(BaseModel):
    status: str
    model_version: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str
    errors: list[dict[str, str]] | None = None
