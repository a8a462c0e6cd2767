"""Response models: the bodies the API answers, RFC 9457 problem details included."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from shopper_segments.core import contract_parts
from shopper_segments.core import results as core_results
from shopper_segments.core.contract import ModelMetadata


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


#: A documented example of :class:`AssignResponse` (OpenAPI), without nulls: the document drops them.
ASSIGN_RESPONSE_EXAMPLE: dict[str, Any] = {
    "model_version": "sample-20261130T120000Z-538a05bd",
    "as_of": "2011-12-10T00:00:00Z",
    "summary": {"assigned": 1, "no_purchases": 0, "invalid": 0, "lines_dropped": {"zero_price": 1}},
    "results": [
        {
            "customer_id": "12347",
            "status": "assigned",
            "segment_id": 2,
            "segment_name": "Loyal regulars",
            "distance": 0.84,
            "next_segment": {"segment_id": 0, "segment_name": "Occasional buyers", "distance": 1.37},
            "features": {
                "recency_days": 4.0,
                "frequency": 4.0,
                "monetary": 83.1,
                "avg_order_value": 20.8,
                "tenure_days": 69.0,
            },
            "rfm_r": 5,
            "rfm_f": 4,
            "rfm_m": 2,
            "rfm_segment": "Champions",
            "lines_dropped": {"zero_price": 1},
            "errors": [],
        }
    ],
}


class AssignResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ASSIGN_RESPONSE_EXAMPLE]})

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


class ScoreInfo(contract_parts.Closed):
    """Scores of one k (:class:`segments_core.contract_parts.Score`); null where undefined (NaN)."""

    k: Annotated[int, Field(ge=1)]
    inertia: float
    silhouette: float | None
    calinski_harabasz: float | None
    davies_bouldin: float | None
    stability: float | None
    stability_std: float | None
    in_range: bool
    segment_stability: list[float]


class ComparedAlgorithmInfo(contract_parts.Closed):
    """One algorithm's row of the comparison (:class:`segments_core.contract_parts.ComparedAlgorithm`);
    undefined scores are null."""

    algorithm: str
    chosen_k: Annotated[int, Field(ge=1)]
    silhouette: float | None
    calinski_harabasz: float | None
    davies_bouldin: float | None
    stability: float | None
    inertia: float | None
    elbow_k: int | None
    warning: str | None
    scores: list[ScoreInfo]


class ComparisonInfo(contract_parts.Closed):
    algorithms: list[ComparedAlgorithmInfo]


class SelectionInfo(contract_parts.Selection):
    """How k was chosen (:class:`segments_core.contract_parts.Selection`); undefined scores are null."""

    # The answer's JSON form of the contract's sections: NaN scores are null there.
    scores: list[ScoreInfo]  # type: ignore[assignment]
    comparison: ComparisonInfo | None  # type: ignore[assignment]


class SegmentInfo(contract_parts.Segment):
    """One segment of the model contract (its own name: :class:`Segment` is /v1/segments')."""


class ModelInfo(ModelMetadata):
    """``GET /v1/model``: the served version's ``metadata.json`` (:class:`ModelMetadata`) as strict
    JSON, NaN scores as null. Validate the JSON text (``model_validate_json``): the contract is strict.
    """

    model_config = ConfigDict(title="ModelInfo")

    selection: SelectionInfo  # type: ignore[assignment]
    segments: Annotated[list[SegmentInfo], Field(min_length=1)]  # type: ignore[assignment]


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
