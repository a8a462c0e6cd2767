"""Response models: the bodies the API answers, RFC 9457 problem details included."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from segments_core import results as core_results


class CustomerResult(core_results.CustomerResult):
    """One customer's answer (:class:`segments_core.results.CustomerResult`), explained on request."""

    explanation: Explanation | None = Field(
        None, exclude_if=lambda v: v is None, description="with explain=true: why this segment"
    )


class AssignSummary(BaseModel):
    assigned: int = Field(ge=0)
    no_purchases: int = Field(ge=0)
    invalid: int = Field(ge=0)
    lines_dropped: dict[str, int] = Field(description="lines the rulebook left out, per rule code")


class AssignResponse(BaseModel):
    model_version: str
    as_of: dt.datetime
    summary: AssignSummary
    results: list[CustomerResult] = Field(description="one per posted customer, in request order")


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


class CentroidGap(BaseModel):
    """A feature's gap to one centroid and its term of the squared distance."""

    centroid: float = Field(description="centroid value in original units")
    centroid_scaled: float
    gap: float = Field(description="value minus centroid, original units")
    gap_scaled: float = Field(description="value minus centroid, scaled units")
    contribution: float = Field(description="gap_scaled squared: this feature's term of the squared distance")


class FeatureContribution(BaseModel):
    feature: str
    value: float = Field(description="original units")
    value_scaled: float
    outside_training_range: bool = Field(description="below the training minimum or above the maximum")
    assigned: CentroidGap
    next: CentroidGap | None


class Explanation(BaseModel):
    """Why this segment: per-feature terms of the squared distances (sum = squared distance)."""

    squared_distance: float
    next_squared_distance: float | None
    features: list[FeatureContribution]
    outside_training_range: list[str]


class FeatureDrift(BaseModel):
    feature: str
    psi: float = Field(description="population stability index, window vs training bins")
    drift: bool


class SegmentShare(BaseModel):
    segment_id: int
    segment_name: str
    window_share: float
    training_share: float


class SegmentDrift(BaseModel):
    psi: float
    drift: bool
    shares: list[SegmentShare]


class DriftResponse(BaseModel):
    model_version: str
    window_customers: int = Field(description="assigned customers in the rolling window")
    window_size: int
    min_customers: int = Field(description="customers needed before the flag can fire")
    enough_data: bool
    threshold: float = Field(description="PSI above which a feature or the segment shares drifted")
    drift: bool = Field(description="true when any PSI crossed the threshold with enough data")
    drifted: list[str]
    features: list[FeatureDrift]
    segments: SegmentDrift


class ReloadResponse(BaseModel):
    model_version: str = Field(description="the version now serving")
    previous_version: str | None = Field(description="the version that served before")
    model_dir: str = Field(description="the loaded version directory, relative to the model root")
