"""The /v1/assign request shape as plain pydantic models: what the validate-only floors check.

Same fields, nesting and constraints as ``app.schemas.AssignRequest``, written with
pydantic's own types (native datetime parsing, no validators of ours): the default FastAPI
way to take this body, and never slower than our schema would be.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class Transaction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: str | None = Field(None, min_length=1, max_length=128)
    timestamp: dt.datetime
    amount: float | None = None
    quantity: float | None = None
    unit_price: float | None = None
    category: str | None = Field(None, max_length=200)
    product_id: str | None = Field(None, max_length=128)


class Customer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(min_length=1, max_length=128)
    transactions: list[Transaction] | None = Field(None, min_length=1)
    features: dict[str, float] | None = Field(None, max_length=64)


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: dt.datetime | None = None
    customers: list[Customer] = Field(min_length=1)
    explain: bool = False
    strict: bool = False


class Answer(BaseModel):
    ok: bool
    customers: int
