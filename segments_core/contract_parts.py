"""The sections of the model contract (:class:`segments_core.contract.ModelMetadata`).

Every field is required; ``X | None`` fields must be present (null allowed).
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shopper_segments.core.features import FeatureSpec

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Count = Annotated[int, Field(ge=0)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
Transform = Literal["none", "log1p", "signed_log1p"]


class Closed(BaseModel):
    """A section with exactly its declared keys, parsed strictly."""

    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, ser_json_inf_nan="constants", serialize_by_alias=True
    )


class Open(Closed):
    """A section whose content varies by run: its declared keys plus any others."""

    model_config = ConfigDict(extra="allow")


class DataSummary(Open):
    """What training read (``file``, its ``sha256``) and dropped.

    Transaction data adds ``rows_used``, ``date_range``, ``as_of``, ``return_lines_kept``
    and ``monthly`` (extra keys).
    """

    file: str
    sha256: Sha256
    kind: Literal["transactions", "table"]
    rows_read: Count
    rows_dropped: dict[str, Count]
    bad_row_examples: list[str]
    customers: Annotated[int, Field(ge=1)]
    customers_dropped: dict[str, Count]


class FeaturesSpec(Closed):
    """The feature definition; see :class:`segments_core.features.FeatureSpec`."""

    definition: str
    names: Annotated[list[str], Field(min_length=1)]
    transforms: dict[str, Transform]
    has_money: bool
    categories: list[str]
    as_of_rule: str
    timezone: str = Field(description="zone of line timestamps without an offset (IANA name)")

    @model_validator(mode="after")
    def _known(self) -> FeaturesSpec:
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"feature names {self.names} are not unique")
        if sorted(self.transforms) != sorted(self.names):
            raise ValueError(f"transforms {sorted(self.transforms)} are not one per feature {self.names}")
        self.spec()  # an unknown definition is refused here
        return self

    def spec(self) -> FeatureSpec:
        return FeatureSpec.from_dict(self.model_dump())


class FeatureRange(Closed):
    """Training quantiles of one feature (original units)."""

    min: float
    p01: float
    median: float
    p99: float
    max: float


class FeatureBin(Closed):
    """Drift bins of one feature: inner ``edges`` and the training share in each bin."""

    edges: list[float]
    proportions: list[float]

    @model_validator(mode="after")
    def _consistent(self) -> FeatureBin:
        if len(self.proportions) != len(self.edges) + 1:
            raise ValueError(
                f"{len(self.proportions)} proportions for {len(self.edges)} edges (expected one more)"
            )
        if not all(math.isfinite(e) for e in self.edges) or any(
            b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)
        ):
            raise ValueError("edges are not finite and strictly increasing")
        if any(not 0.0 <= p <= 1.0 for p in self.proportions) or abs(math.fsum(self.proportions) - 1) > 1e-6:
            raise ValueError("proportions are not shares in [0, 1] summing to 1")
        return self


class Parameters(Closed):
    """The training parameters."""

    seed: int
    n_init: Annotated[int, Field(ge=1)]
    k: Annotated[int, Field(ge=1)] | None
    k_range: tuple[int, int]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = Field(
        description="ISO 4217 code of the money columns (fit --currency); null: not given"
    )
    top_categories: Count
    silhouette_sample: Count
    algorithm: str
    compare: bool
    until: AwareDatetime | None


class Elbow(Closed):
    k: int | None
    method: str


class StabilityMethod(Closed):
    resamples: Count
    n_init: Count
    max_sample: Count
    measure: str


class Score(Closed):
    """Scores of one k (NaN where a score is undefined)."""

    k: Annotated[int, Field(ge=1)]
    inertia: float
    silhouette: float
    calinski_harabasz: float
    davies_bouldin: float
    stability: float
    stability_std: float
    in_range: bool = Field(description="k lies in the range k is chosen from (or is the given k)")
    segment_stability: list[float] = Field(
        description="per segment (label order): mean best Jaccard overlap with a bootstrap fit's segment"
    )


class ComparedAlgorithm(Closed):
    """One algorithm's row of the comparison: its scores at its own chosen k."""

    algorithm: str
    chosen_k: Annotated[int, Field(ge=1)]
    silhouette: float
    calinski_harabasz: float
    davies_bouldin: float
    stability: float
    inertia: float
    elbow_k: int | None
    warning: str | None
    scores: list[Score]


class Comparison(Closed):
    algorithms: list[ComparedAlgorithm]


class Selection(Open):
    """How k was chosen; ``comparison`` is null unless training compared algorithms."""

    rule: str
    chosen_k: Annotated[int, Field(ge=1)]
    warning: str | None
    better_outside_k: Annotated[int, Field(ge=1)] | None = Field(
        description="a stable k outside the range that separates clearly better (null: none)"
    )
    better_outside_note: str | None
    elbow: Elbow
    stability_threshold: float
    stability: StabilityMethod
    scores: list[Score]
    comparison: Comparison | None


class Segment(Closed):
    """One segment, in label order (``label`` = row of the centroids); ``id`` is stable."""

    id: Annotated[int, Field(ge=0)]
    label: Annotated[int, Field(ge=0)]
    name: Annotated[str, Field(min_length=1)]
    description: str
    size: Count
    share: Share
    centroid: dict[str, float]
    centroid_scaled: list[float]
    median: dict[str, float | None]
    revenue_share: Share | None


class Libraries(Closed):
    """Library versions at training; the service refuses another scikit-learn."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    python: str
    scikit_learn: str = Field(alias="scikit-learn")
    numpy: str
    pandas: str
    joblib: str


class Artifacts(Closed):
    """sha256 of each artifact file, by file name."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    pipeline: Sha256 = Field(alias="pipeline.joblib")
    assignments: Sha256 = Field(alias="assignments.parquet")

    def by_file(self) -> dict[str, str]:
        return {"pipeline.joblib": self.pipeline, "assignments.parquet": self.assignments}


RfmEdges4 = Annotated[list[float | None], Field(min_length=4, max_length=4)]


class RfmEdges(Closed):
    """Per scored feature, where scores 2..5 start (null: no training customer has that score)."""

    recency_days: RfmEdges4
    frequency: RfmEdges4
    monetary: RfmEdges4

    @model_validator(mode="after")
    def _ordered(self) -> RfmEdges:
        for name, sign in (("recency_days", -1.0), ("frequency", 1.0), ("monetary", 1.0)):
            edges = getattr(self, name)
            given = [sign * e for e in edges if e is not None]
            if edges[: len(given)] != [e for e in edges if e is not None]:
                raise ValueError(f"{name}: a null edge comes before a number")
            if not all(math.isfinite(e) for e in given) or any(b < a for a, b in pairwise(given)):
                raise ValueError(f"{name}: edges are not finite and ordered (recency decreasing)")
        return self


class Rfm(Closed):
    """RFM quintile edges fitted on the training customers (see ``segments_core.rfm``)."""

    edges: RfmEdges
    tie_rule: str
    grid: str
