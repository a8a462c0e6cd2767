"""One description of a customer's result: the JSON answer, the CSV answer and bulk output.

:class:`CustomerResult` is the model of one customer's answer (it also feeds the OpenAPI
document); :func:`result_columns` flattens it into the columns of the CSV answer and of
``python -m training assign``, and :func:`result_frame` fills them.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from shopper_segments.core.rfm import RFM_COLUMNS

Status = Literal["assigned", "no_purchases", "invalid"]
STATUSES: tuple[Status, ...] = ("assigned", "no_purchases", "invalid")


class NextSegment(BaseModel):
    segment_id: int
    segment_name: str
    distance: float


class SegmentProbability(BaseModel):
    segment_id: int
    segment_name: str
    probability: float = Field(ge=0, le=1)


class FieldError(BaseModel):
    field: str = Field(description="where: customers[3].transactions[2].timestamp, or a file line")
    message: str


class CustomerResult(BaseModel):
    """One customer's answer; segment fields are null unless ``status`` is ``assigned``."""

    customer_id: str | None = Field(description="as normalized by the rulebook; null if the id is unusable")
    status: Status = Field(
        description="assigned; no_purchases (no purchase line left: features undefined); invalid (see errors)"
    )
    segment_id: int | None
    segment_name: str | None
    distance: float | None = Field(description="distance to the segment's centroid (scaled space)")
    next_segment: NextSegment | None
    features: dict[str, float] | None = Field(description="features in original units")
    rfm_r: int | None = Field(ge=1, le=5, description="RFM recency score 1-5 (5: most recent)")
    rfm_f: int | None = Field(ge=1, le=5, description="RFM frequency score 1-5 (5: most orders)")
    rfm_m: int | None = Field(ge=1, le=5, description="RFM monetary score 1-5 (5: most spent)")
    rfm_segment: str | None = Field(
        description="the RFM grid's name (Champions ... Lost); the rfm_* fields are null unless "
        "assigned by a model with recency, frequency and monetary features"
    )
    lines_dropped: dict[str, int] = Field(
        description="lines left out by the rulebook, per rule code (e.g. zero_price, duplicate_lines)"
    )
    errors: list[FieldError] = Field(description="why the customer is invalid (empty otherwise)")
    probabilities: list[SegmentProbability] | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="Gaussian-mixture models only: every segment's membership probability (sums to 1)",
    )


_HEAD = ["customer_id", "status", "segment_id", "segment_name", "distance"]
_NEXT = ["next_segment_id", "next_segment_name", "next_distance"]
_TAIL = ["lines_dropped", "errors"]


def result_columns(feature_names: list[str]) -> list[str]:
    """The flat columns of :class:`CustomerResult` (CSV answer and bulk output), in order."""
    return [*_HEAD, *_NEXT, *feature_names, *RFM_COLUMNS, *_TAIL]


def format_dropped(counts: dict[str, int]) -> str:
    """``lines_dropped`` in one cell: ``duplicate_lines=1;zero_price=2`` (empty when none)."""
    return ";".join(f"{k}={v}" for k, v in sorted(counts.items()) if v)


def parse_dropped(cell: object) -> dict[str, int]:
    """The inverse of :func:`format_dropped` (NA and empty cells: nothing dropped)."""
    if not isinstance(cell, str) or not cell:
        return {}
    return {k: int(v) for k, v in (part.split("=") for part in cell.split(";"))}


def result_frame(results: list[CustomerResult], feature_names: list[str]) -> pd.DataFrame:
    """Results as the flat table of :func:`result_columns`."""
    rows = []
    for r in results:
        nxt = r.next_segment
        feats = r.features or {}
        rows.append(
            [r.customer_id, r.status, r.segment_id, r.segment_name, r.distance]
            + ([nxt.segment_id, nxt.segment_name, nxt.distance] if nxt else [None, None, np.nan])
            + [feats.get(n, np.nan) for n in feature_names]
            + [r.rfm_r, r.rfm_f, r.rfm_m, r.rfm_segment]
            + [format_dropped(r.lines_dropped), "; ".join(f"{e.field}: {e.message}" for e in r.errors)]
        )
    return typed(pd.DataFrame(rows, columns=result_columns(feature_names)), feature_names)


def typed(frame: pd.DataFrame, feature_names: list[str]) -> pd.DataFrame:
    """The column types of a result table (ids nullable integers, numbers floats)."""
    frame = frame.astype({c: "Int64" for c in ("segment_id", "next_segment_id", *RFM_COLUMNS[:3])})
    for c in ["distance", "next_distance", *feature_names]:
        frame[c] = frame[c].astype(np.float64)
    return frame


#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula, prefixed with ``'`` (numbers untouched)."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            text = out[col]
            risky = text.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_START))
            if risky.any():
                out[col] = text.where(~risky, "'" + text.astype(str))
    return out
